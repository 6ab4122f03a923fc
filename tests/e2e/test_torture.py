"""The overnight batch-farm night in one test: two sweepers on one study in a shared PostgreSQL
database, one killed with SIGKILL mid-study, the shared MLflow server stopped for a while and
started again, then ``hepsweep resume``. Nothing may be lost, repeated, left RUNNING or leaked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from hepsweep.sweep.outcome import budget_used
from tests.e2e.servers import free_port, mlflow_server, postgres_bin, postgres_server, require_or_skip
from tests.e2e.test_security import PASSWORD, _database_dump, _files_holding

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

BUDGET = 6


def _wait_for(what: str, condition: Callable[[], bool], processes: list[subprocess.Popen], timeout: float = 600) -> None:
    """Poll ``condition`` until it holds; fail at once if a sweeper died unexpectedly."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.poll() not in (None, 0):
                pytest.fail(f"a sweeper exited with {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.5)


def test_two_sweepers_a_kill_and_an_mlflow_outage_lose_nothing(tmp_path: Path) -> None:
    if postgres_bin() is None and not os.environ.get("HEPSWEEP_TEST_POSTGRES_URL"):
        require_or_skip("PostgreSQL (apt-get install postgresql)")
    port, server_dir = free_port(), tmp_path / "mlflow"
    server_dir.mkdir()
    with postgres_server() as plain_url, ExitStack() as servers:
        tracking = servers.enter_context(mlflow_server(server_dir, port=port))
        storage = plain_url.replace("://postgres@", f"://postgres:{PASSWORD}@", 1)
        command = [
            sys.executable, "-m", "hepsweep", "-m", "sweep=quickstart",
            "dataset.n_events=600", "train.epochs=2", "train.tensorboard=false",
            f"hydra.sweeper.storage='{storage}'", f"tracking.uri={tracking}",
            f"hydra.sweeper.n_trials={BUDGET}", "hydra.sweeper.study_name=torture",
            "hydra.sweeper.heartbeat_interval=2", "hydra.sweeper.grace_period=6",
            "hydra.sweeper.tracking.retry_after_s=1",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
        logs = [open(tmp_path / f"sweeper-{name}.log", "w+") for name in ("a", "b")]
        sweepers = [
            subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for log in logs
        ]
        trials = lambda: optuna.load_study(study_name="torture", storage=plain_url).get_trials(deepcopy=False)  # noqa: E731

        def study_exists() -> bool:
            try:
                return len(trials()) >= 2
            except KeyError:
                return False

        try:
            _wait_for("two trials asked", study_exists, sweepers)
            os.killpg(sweepers[1].pid, signal.SIGKILL)  # sweeper b and its workers, mid-trial
            sweepers[1].wait()
            servers.close()  # the MLflow server goes away ...
            finished = lambda: sum(t.state.is_finished() for t in trials())  # noqa: E731
            before = finished()
            _wait_for("a trial finished while MLflow is away", lambda: finished() > before, sweepers[:1])
            tracking = servers.enter_context(mlflow_server(server_dir, port=port))  # ... and comes back
            assert sweepers[0].wait(timeout=900) == 0
        finally:
            for process in sweepers:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
        resumed = subprocess.run(
            # the MLflow server is the user's to name again: resume never takes a URL from the store
            [sys.executable, "-m", "hepsweep", "resume", "torture", "--storage", storage, f"tracking.uri={tracking}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        output = resumed.stdout + resumed.stderr
        for log in logs:
            log.seek(0)
            output += log.read()

        study = optuna.load_study(study_name="torture", storage=plain_url)
        states = [t.state for t in study.trials]
        assert budget_used(study.trials) == BUDGET, states
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states
        done = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        configurations = [tuple(sorted(t.params.items())) for t in done]
        assert len(configurations) == len(set(configurations)), "a configuration was trained twice"

        client = MlflowClient(tracking)
        runs = client.search_runs([client.get_experiment_by_name("torture").experiment_id])
        assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
        assert sum(r.data.tags.get("hepsweep.role") == "study" for r in runs) == 1
        children = {r.data.tags["hepsweep.trial"]: r for r in runs if r.data.tags.get("hepsweep.role") == "trial"}
        for trial in study.trials:
            run = children.get(str(trial.number))
            assert run is not None, f"trial {trial.number} ({trial.state.name}) has no MLflow run"
            assert run.data.tags["hepsweep.state"] == trial.state.name
            if trial.state == TrialState.COMPLETE:
                assert run.data.metrics["objective"] == pytest.approx(trial.value)
        dump = _database_dump(plain_url)
        servers.close()
    assert PASSWORD not in output and PASSWORD not in dump
    assert _files_holding(tmp_path, PASSWORD) == []
