"""Scaling out: a PostgreSQL study storage shared by parallel workers, and an MLflow tracking
server, both started for real on loopback."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import run_hepsweep
from tests.e2e.servers import mlflow_server, postgres_bin, postgres_server, require_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMALL = ["dataset.n_events=800", "train.epochs=2", "train.tensorboard=false", "hydra.sweeper.pruner=none"]


@pytest.mark.postgres
def test_parallel_workers_share_a_postgresql_study(tmp_path: Path) -> None:
    import os

    if postgres_bin() is None and not os.environ.get("HEPSWEEP_TEST_POSTGRES_URL"):
        require_or_skip("PostgreSQL (apt-get install postgresql)")
    with postgres_server() as url:
        result = run_hepsweep(
            "-m", "sweep=quickstart", *SMALL, f"hydra.sweeper.storage='{url}'",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=4", "hydra.sweeper.study_name=on_postgres",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        study = optuna.load_study(study_name="on_postgres", storage=url)
        assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
        assert all(t.state == TrialState.COMPLETE and "test_auc" in t.user_attrs for t in study.trials)
        report = run_hepsweep("report", "on_postgres", "--storage", url, cwd=tmp_path)
        assert report.returncode == 0 and report.stdout.count("COMPLETE") == 4


def test_trials_are_tracked_on_an_mlflow_server(tmp_path: Path) -> None:
    with mlflow_server(tmp_path) as url:
        result = run_hepsweep(
            "-m", "sweep=quickstart", *SMALL, f"hydra.sweeper.tracking.uri='{url}'",
            "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=on_server",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        client = MlflowClient(url)
        runs = client.search_runs([client.get_experiment_by_name("on_server").experiment_id])
        trials = [r for r in runs if r.data.tags.get("hepsweep.role") == "trial"]
        assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
        artifacts = {a.path for a in client.list_artifacts(trials[0].info.run_id, "benchmark")}
        assert "benchmark/summary.json" in artifacts
        assert client.get_metric_history(trials[0].info.run_id, "val_auc")
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # nothing went to the local store
