"""MLflow stores that several sweepers open at the same instant."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from hepsweep.tracking import store
from tests.conftest import stamp_the_schema_version_again


def _open_and_log(uri: str, barrier: "multiprocessing.synchronize.Barrier", name: str) -> None:
    from hepsweep.tracking import store

    barrier.wait(timeout=120)
    run_id = store.create_run(uri, "together", name)
    store.end_run(uri, run_id)


@pytest.mark.slow
def test_sweepers_starting_together_on_a_fresh_mlflow_store_all_track(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_open_and_log, args=(uri, barrier, f"sweeper-{i}")) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("together").experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"sweeper-{i}" for i in range(4)]


def test_records_mlflow_cannot_take_are_spooled_and_replayed(tmp_path: Path) -> None:
    """MLflow away (a closed port), then back: the run ends up with everything the job logged."""
    from mlflow.tracking import MlflowClient

    from hepsweep.tracking import MlflowTracker, store
    from hepsweep.tracking.spool import replay

    spool = tmp_path / "trial_0" / "mlflow_spool.jsonl"
    (tmp_path / "trial_0" / "benchmark").mkdir(parents=True)
    (tmp_path / "trial_0" / "benchmark" / "summary.json").write_text("{}")
    for run_id in ("0123456789abcdef", None):  # a run MLflow cannot reach, and no run at all yet
        spool.unlink(missing_ok=True)
        tracker = MlflowTracker("http://127.0.0.1:9", run_id, spool=spool)
        tracker.log_params({"model.units": 32, "tracking.uri": "http://bob:pw@host"})
        for epoch, auc in enumerate((0.61, 0.72)):
            tracker.log_metrics({"val_auc": auc}, step=epoch)
        tracker.set_tags({"run_status": "complete"})
        tracker.log_artifacts(tmp_path / "trial_0" / "benchmark", "benchmark")
        tracker.log_text("a: 1\n", "config.yaml")
        assert len(spool.read_text().splitlines()) == 6 and ":pw@" not in spool.read_text()

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = store.create_run(uri, "back", "trial-0")
    assert replay(store.client(uri), run_id, spool) == 6
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params["model.units"] == "32" and run.data.params["tracking.uri"] == "http://bob:***@host"
    history = MlflowClient(uri).get_metric_history(run_id, "val_auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.61), (1, 0.72)]
    assert run.data.tags["run_status"] == "complete"
    assert {a.path for a in MlflowClient(uri).list_artifacts(run_id)} >= {"benchmark", "config.yaml"}
    assert not spool.exists() and spool.with_name("mlflow_spool.jsonl.sent").is_file()


def test_values_longer_than_mlflow_takes_are_cut_to_its_limits(tmp_path: Path) -> None:
    """A long param or tag (a list of files, a long description) is cut, not refused: sent at
    once or replayed from the spool, the run keeps MLflow's longest value."""
    from mlflow.tracking import MlflowClient
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

    from hepsweep.tracking import MlflowTracker, store
    from hepsweep.tracking.spool import replay

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spool = tmp_path / "mlflow_spool.jsonl"
    long_text = "x" * (max(MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH) + 10)
    sent, spooled = store.create_run(uri, "long", "sent"), store.create_run(uri, "long", "spooled")
    for tracker in (MlflowTracker(uri, sent), MlflowTracker(uri, None, spool=spool)):
        tracker.log_params({"dataset.files": long_text})
        tracker.set_tags({"note": long_text})
    assert long_text in spool.read_text()  # the spool keeps the whole value
    replay(store.client(uri), spooled, spool)
    for run_id in (sent, spooled):
        run = MlflowClient(uri).get_run(run_id)
        assert run.data.params["dataset.files"] == long_text[:MAX_PARAM_VAL_LENGTH]
        assert run.data.tags["note"] == long_text[:MAX_TAG_VAL_LENGTH]


def test_a_tracking_store_created_by_an_outside_process_in_between_is_opened(tmp_path: Path, monkeypatch) -> None:
    """``mlflow ui`` (which takes no lock) creates the fresh store as a sweeper opens it."""
    import mlflow.tracking

    plain_client = mlflow.tracking.MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    attempts: list[str] = []

    def first_attempt_loses(tracking_uri: str):
        attempts.append(tracking_uri)
        if len(attempts) == 1:
            plain_client(tracking_uri=tracking_uri)
            stamp_the_schema_version_again(tracking_uri)
        return plain_client(tracking_uri=tracking_uri)

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", first_attempt_loses)
    experiment = store.experiment_id(uri, "after-the-race")
    assert len(attempts) == 2
    assert plain_client(tracking_uri=uri).get_experiment(experiment).name == "after-the-race"
