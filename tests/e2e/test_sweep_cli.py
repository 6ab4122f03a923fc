"""Real studies through ``hepsweep -m``: pruning, MLflow contents, parallel workers, kill -9 and
resume, the submitit launcher. Each trial trains a small Keras model for real."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import GPU_PRESENT, run_hepsweep
from tests.sweep.helpers import age_heartbeats

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMALL = ["dataset.n_events=1000", "train.tensorboard=false", "train.early_stopping_patience=0"]


def load(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")


def test_study_prunes_and_every_trial_is_a_nested_mlflow_run(tmp_path: Path) -> None:
    """The good learning rate comes first (grid order is seeded); the hopeless ones are pruned."""
    result = run_hepsweep(
        "-m", *SMALL, "train.epochs=4",
        "hydra.sweeper.study_name=pruning", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler={name: grid, seed: 4}",
        "optimizer.lr=choice(0.02,0.000001,0.000002,0.000003)",
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1, n_warmup_steps: 0}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(tmp_path, "pruning")
    states = [t.state for t in study.trials]
    assert len(states) == 4 and TrialState.PRUNED in states, [(t.params, t.state) for t in study.trials]
    assert "4/4 done" in result.stderr and "PRUNED after epoch" in result.stderr
    assert "trial" in result.stdout and "pruned_after_epoch" in result.stdout  # the final table

    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pruning").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("hepsweep.role") == "study"]
    children = {int(r.data.tags["hepsweep.trial"]): r for r in runs if r.data.tags.get("hepsweep.role") == "trial"}
    assert sorted(children) == [0, 1, 2, 3]
    for trial in study.trials:
        run = children[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["hepsweep.state"] == trial.state.name
        assert run.data.params["dataset.name"] == "hepmass"  # the resolved config, flattened
        assert run.data.tags["gpu_present"] == str(GPU_PRESENT)  # NVML on this machine, not the device used
        assert run.data.tags["pruned"] == str(trial.state == TrialState.PRUNED)
        steps = sorted({m.step for m in client.get_metric_history(run.info.run_id, "val_auc")})
        assert steps == list(range(1, len(steps) + 1)) and len(steps) <= 4  # epochs count from 1
        assert steps == sorted(trial.intermediate_values)  # MLflow's steps are Optuna's
        if trial.state == TrialState.PRUNED:
            assert f"trial {trial.number} PRUNED after epoch {steps[-1]}" in result.stderr
        # the record the job handed back (on its PrunedRun when pruned), written by the sweeper
        assert {"train_time_s", "epochs_run", "cpu_percent_mean"} <= set(trial.user_attrs), trial.user_attrs
        assert trial.user_attrs["model"] == "mlp" and trial.user_attrs["dataset"] == "hepmass"
        assert {"train_loss", "val_loss", "train_accuracy", "val_auc", "train_time_s", "cpu_percent_mean", "memory_rss_mb_max"} <= set(run.data.metrics)
        assert client.get_metric_history(run.info.run_id, "system/cpu_percent")
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "benchmark")}
        assert "benchmark/summary.json" in artifacts
        if trial.state == TrialState.COMPLETE:
            assert {"test_accuracy", "test_auc"} <= set(run.data.metrics)
            assert run.data.metrics["val_auc"] == pytest.approx(trial.value)  # one meaning per name
            assert "benchmark/checkpoint" in artifacts and "benchmark/roc.png" in artifacts
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"optimization_history.png", "intermediate_values.png"}
    assert (tmp_path / "outputs" / "studies" / "pruning" / "optimization_results.yaml").is_file()

    report = run_hepsweep("report", "pruning", "--output", "table.md", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n") == 6 and "PRUNED" in table
    assert ("absent" in table) is not GPU_PRESENT  # GPU utilisation reads "absent" only without a GPU
    assert f"MLflow runs: hepsweep ui --study pruning --tracking-uri 'sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}'" in result.stderr
    assert "ExperimentalWarning" not in result.stderr  # the study's deliberate use of Optuna's heartbeats
    assert "ms/step" not in result.stdout + result.stderr  # logging the best model predicts without a progress bar

    elsewhere = tmp_path / "elsewhere"  # the study index finds the study from any folder
    elsewhere.mkdir()
    top = run_hepsweep("report", "pruning", "--top", "1", cwd=elsewhere)
    assert top.returncode == 0, top.stderr
    assert top.stdout.splitlines()[2].split()[0] == str(study.best_trial.number)


def test_hydra_s_basic_launcher_brings_each_trial_s_record_back_in_process(tmp_path: Path) -> None:
    """The task's record, a pruned run's on its exception too, comes back through Hydra's basic
    launcher (the jobs run in the sweeper's own process)."""
    result = run_hepsweep(
        "-m", *SMALL, "train.epochs=3", "hydra/launcher=basic",
        "hydra.sweeper.study_name=basic", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.sampler={name: grid, seed: 4}", "optimizer.lr=choice(0.02,0.000001,0.000002)",
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1, n_warmup_steps: 0}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(tmp_path, "basic")
    assert {TrialState.COMPLETE, TrialState.PRUNED} <= {t.state for t in study.trials}, [(t.params, t.state) for t in study.trials]
    for trial in study.trials:
        assert {"train_time_s", "epochs_run"} <= set(trial.user_attrs) and trial.user_attrs["model"] == "mlp", trial.user_attrs
        assert ("test_auc" in trial.user_attrs) is (trial.state == TrialState.COMPLETE)


def test_a_diverged_trial_keeps_the_figures_its_error_brought_back(tmp_path: Path) -> None:
    result = run_hepsweep(
        "-m", *SMALL, "train.epochs=2", "optimizer=sgd", "optimizer.lr=1e12",
        "hydra.sweeper.study_name=diverged", "hydra.sweeper.n_trials=1", "hydra.sweeper.pruner=none",
        cwd=tmp_path,
    )
    assert "loss became NaN in epoch 1" in result.stderr, result.stderr[-3000:]
    (trial,) = load(tmp_path, "diverged").trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_kind"] == "error"
    assert trial.user_attrs["epochs_run"] == 1.0 and "train_time_s" in trial.user_attrs and trial.user_attrs["model"] == "mlp"


def test_parallel_workers_finish_exactly_n_trials(tmp_path: Path) -> None:
    result = run_hepsweep(
        "-m", "sweep=quickstart", *SMALL, "train.epochs=2",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=5", "hydra.sweeper.study_name=parallel",
        "hydra.sweeper.pruner=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert re.search(r"#\d+ : .*train\.epochs=2 .*optimizer\.lr=", console)  # joblib's launch lines, the trial's values...
    assert "HEPSWEEP_TRIAL" not in console  # ... without the trial link
    study = load(tmp_path, "parallel")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert sorted(p.name for p in (tmp_path / "outputs" / "studies" / "parallel").glob("trial_*")) == [f"trial_{i}" for i in range(5)]
    spans = sorted((t.datetime_start, t.datetime_complete) for t in study.trials)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))  # trials overlapped


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_study_resumes_and_its_dead_trial_is_retried(tmp_path: Path) -> None:
    arguments = [
        "-m", "sweep=quickstart", "dataset.n_events=4000", "train.tensorboard=false", "train.epochs=30",
        "train.early_stopping_patience=0", "train.batch_size=32", "hydra.sweeper.pruner=none",
        "hydra.sweeper.study_name=crash", "hydra.sweeper.n_trials=3",
        # a grace period no loaded machine outlasts: the dead trial is aged below, not waited for
        "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=60",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = tmp_path / "sweeper.log"  # what the sweeper said, shown if it never starts training
    with open(log, "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "hepsweep", *arguments], cwd=tmp_path, env=env,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
    db = tmp_path / "outputs" / "optuna.db"

    def a_trial_is_training() -> bool:
        if not db.exists():
            return False
        try:
            trials = load(tmp_path, "crash").trials
        except Exception:
            return False
        return any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials)

    try:
        wait_for(a_trial_is_training, 240, "a trial to start training")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the sweeper's last lines:\n{log.read_text()[-3000:]}") from None
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (dead,) = [t for t in load(tmp_path, "crash").trials if t.state == TrialState.RUNNING]
    age_heartbeats(db, seconds=120)  # its last heartbeat is now older than the grace period

    import hepsweep

    os.environ["HEPSWEEP_OUTPUT"] = str(tmp_path / "outputs")
    try:
        study = hepsweep.resume("crash", n_trials=2)
    finally:
        del os.environ["HEPSWEEP_OUTPUT"]
    by_number = {t.number: t for t in study.trials}
    assert by_number[dead.number].state == TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == dead.params
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 2
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"


def test_submitit_local_launcher_runs_trials_in_their_own_processes(tmp_path: Path) -> None:
    result = run_hepsweep(
        "-m", "sweep=quickstart", *SMALL, "train.epochs=2",
        "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=slurm_like", "hydra.sweeper.pruner=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(tmp_path, "slurm_like")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all("test_auc" in t.user_attrs for t in study.trials)  # the job reached its trial
    assert list((tmp_path / "outputs" / "studies" / "slurm_like").rglob("*submitit*")) or list(
        (tmp_path / "outputs" / "studies" / "slurm_like").rglob("*.pkl")
    )
