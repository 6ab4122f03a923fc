"""MLflow records of a study read back through MlflowClient; a tracking server that is down."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from hepsweep.sweep.search_space import parse_search_space
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.study import StudyOptions, StudyRunner

from .helpers import PythonLauncher
from .test_study import learning_curve


def make_runner(
    tmp_path: Path, tracking: dict, lines: list[str], n_trials: int = 6, objective=learning_curve, arguments: tuple[str, ...] = ()
) -> StudyRunner:
    settings = SweepSettings.from_config(
        dict(
            study_name="tracked",
            storage=f"sqlite:///{tmp_path / 'optuna.db'}",
            sampler={"name": "random", "seed": 1},
            pruner={"name": "median", "n_startup_trials": 2},
            direction="maximize",
            n_trials=n_trials,
            tracking=tracking,
        )
    )
    space = parse_search_space({"x": "interval(0.0, 1.0)"}, arguments)
    return StudyRunner(settings, space, PythonLauncher(objective, pruner=settings.pruner), tmp_path / "studies" / "tracked", state_root=tmp_path, options=StudyOptions(emit=lines.append))


def test_parent_run_per_study_and_a_nested_run_per_trial(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = make_runner(tmp_path, {"uri": uri}, []).run()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracked")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on runs
    view = json.loads(json.loads(experiment.tags["mlflow.sharedViewState.hepsweep"])["state"])
    assert view["orderByKey"] == "metrics.`value`" and view["orderByAsc"] is False  # best first
    assert {"metrics.`value`", "metrics.`test_auc`", "tags.`hepsweep.state`", "params.`x`"} <= set(view["selectedColumns"])
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("hepsweep.role") == "study"]
    children = [r for r in runs if r.data.tags.get("hepsweep.role") == "trial"]
    assert len(parents) == 1 and len(children) == len(study.trials) == 6
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    by_number = {int(c.data.tags["hepsweep.trial"]): c for c in children}
    for trial in study.trials:
        run = by_number[trial.number]
        assert run.data.tags["hepsweep.state"] == trial.state.name
        assert run.info.status == ("KILLED" if trial.state == TrialState.PRUNED else "FINISHED")
        assert run.data.tags["mlflow.note.content"].startswith(f"trial {trial.number}: x=")
        assert float(run.data.params["trial.x"]) == trial.params["x"]
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["objective"] == trial.value
        if trial.state == TrialState.PRUNED:
            assert run.data.tags["hepsweep.pruned_after_epoch"] == str(trial.last_step)
            assert run.info.run_name == f"trial-{trial.number} pruned"
            assert f"PRUNED after epoch {trial.last_step}" in run.data.tags["mlflow.note.content"]
    best = by_number[study.best_trial.number]
    assert best.data.tags["hepsweep.best"] == "true" and best.info.run_name == f"trial-{study.best_trial.number} best"
    assert sum(c.data.tags.get("hepsweep.best") == "true" for c in children) == 1
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_complete"] + parent.data.metrics["trials_pruned"] == 6
    assert parent.data.tags["best.trial"] == str(study.best_trial.number)
    assert parent.data.params["sampler"].startswith("random")
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"optimization_results.yaml", "study_summary.csv", "optimization_history.png", "study_plots.html"} <= artifacts
    page = Path(client.download_artifacts(parent.info.run_id, "study_plots.html", str(tmp_path))).read_text()
    assert page.count("plotly.js") >= 1 and "Intermediate values" in page and "Parallel coordinates" in page and "Slice" in page


def test_resumed_study_reuses_its_parent_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    make_runner(tmp_path, {"uri": uri}, [], n_trials=2).run()
    make_runner(tmp_path, {"uri": uri}, [], n_trials=4).run()
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert sum(r.data.tags.get("hepsweep.role") == "study" for r in runs) == 1
    assert sum(r.data.tags.get("hepsweep.role") == "trial" for r in runs) == 4


def test_a_tracking_server_that_is_down_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    lines: list[str] = []
    study = make_runner(tmp_path, {"uri": "http://127.0.0.1:9"}, lines, n_trials=3).run()
    assert len(study.trials) == 3
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    failures = [line for line in lines if line.startswith("MLflow at http://127.0.0.1:9 failed")]
    assert len(failures) == 1 and "back-filled once MLflow answers" in failures[0]
    assert any("MLflow is still away" in line and "hepsweep resume tracked" in line for line in lines)
    assert optuna.load_study(study_name="tracked", storage=f"sqlite:///{tmp_path / 'optuna.db'}").best_trial


@pytest.mark.slow
def test_an_mlflow_outage_mid_study_is_back_filled_when_mlflow_returns(tmp_path: Path, monkeypatch) -> None:
    """The server stops during trial 2 (whose run is left RUNNING) and is away for trials 3 and
    4; it comes back during trial 4. At the end MLflow holds every trial, none RUNNING."""
    import threading
    from contextlib import ExitStack

    from tests.e2e.servers import free_port, mlflow_server

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    port, folder = free_port(), tmp_path / "server"
    folder.mkdir()
    servers = ExitStack()
    url = servers.enter_context(mlflow_server(folder, port=port))
    lock = threading.Lock()

    def objective(params, trial):
        with lock:
            if trial.number == 2:
                servers.close()  # the server goes away mid-trial
            if trial.number == 4:
                servers.enter_context(mlflow_server(folder, port=port))  # and comes back
        return learning_curve(params, trial)

    lines: list[str] = []
    try:
        study = make_runner(tmp_path, {"uri": url, "retry_after_s": 0}, lines, n_trials=6, objective=objective).run()
        client = MlflowClient(url)
        runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    finally:
        servers.close()
    children = {int(r.data.tags["hepsweep.trial"]): r for r in runs if r.data.tags.get("hepsweep.role") == "trial"}
    parents = [r for r in runs if r.data.tags.get("hepsweep.role") == "study"]
    assert sorted(children) == [t.number for t in study.trials] == list(range(6))
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert all(r.info.status != "RUNNING" for r in runs)
    for trial in study.trials:
        run = children[trial.number]
        assert run.data.tags["hepsweep.state"] == trial.state.name
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["objective"] == trial.value
    backfilled = [n for n, r in children.items() if r.data.tags.get("hepsweep.backfilled") == "true"]
    assert 3 in backfilled and 0 not in backfilled
    history = MlflowClient(f"sqlite:///{folder / 'server.db'}").get_metric_history(children[3].info.run_id, "value")
    assert history and [m.step for m in history] == sorted(study.trials[3].intermediate_values)
    assert any("back-filled" in line for line in lines)


def test_fixed_overrides_with_a_prefix_are_logged_on_the_study_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    lines: list[str] = []
    make_runner(tmp_path, {"uri": uri}, lines, n_trials=2, arguments=("+extra=1", "~gone=3")).run()
    client = MlflowClient(uri)
    (parent,) = client.search_runs([client.get_experiment_by_name("tracked").experiment_id], "tags.`hepsweep.role` = 'study'")
    assert parent.data.params["space.extra"] == "fixed 1"  # MLflow refuses "+" in a param name
    assert parent.data.params["space.gone"] == "fixed 3"
    assert not any("MLflow" in line and "failed" in line for line in lines)


def test_attributes_rewritten_during_a_study_do_not_turn_its_tracking_off(tmp_path: Path) -> None:
    """Whoever can write the shared storage puts ``{"_target_": ...}`` into every study attribute
    while trials run: the study reads them as absent (one warning) and keeps every MLflow run."""
    from hepsweep.sweep.records import StudyRecord

    evil = {"_target_": "os.system", "command": f"touch {tmp_path / 'owned'}"}

    def poisoning(params, trial):
        for key in StudyRecord.keys().values():
            trial.study.set_user_attr(key, evil)
        return learning_curve(params, trial)

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    lines: list[str] = []
    study = make_runner(tmp_path, {"uri": uri}, lines, n_trials=3, objective=poisoning).run()
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    trials = [r for r in runs if r.data.tags.get("hepsweep.role") == "trial"]
    assert len(trials) == len(study.trials) == 3
    assert all(r.info.status in ("FINISHED", "KILLED") for r in runs)
    assert not (tmp_path / "owned").exists()
    assert not any("MLflow" in line and "failed" in line for line in lines), lines
