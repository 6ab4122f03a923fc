"""Studies on a real single-node SLURM cluster (with slurmdbd accounting) through
``hydra/launcher=submitit_slurm``, two trials at once, and the faults: a cancelled job, a job
over its time limit, a lost node, the sweeper killed and run again, SIGTERM to the sweeper; and no password
in any file the jobs leave. Each trial trains a small Keras model for real; every wait is
bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.e2e.servers import mlflow_server, postgres_bin, postgres_server, require_or_skip
from tests.e2e.slurm import SlurmCluster, missing_programs, wait_for
from tests.e2e.test_security import PASSWORD, _files_holding
from tests.sweep.helpers import age_heartbeats

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.slurm]

# 1 CPU per job, so two trials run at once on a 2-core node; small, quick epochs
ON_SLURM = [
    "hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10",
    "hydra.launcher.signal_delay_s=5",
]
SMALL = [
    "-m", "sweep=quickstart", "dataset.n_events=600", "train.tensorboard=false", "train.early_stopping_patience=0",
    "hydra.sweeper.pruner=none",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    missing = missing_programs()
    if missing:
        require_or_skip(f"SLURM ({', '.join(missing)}: apt-get install slurm-wlm slurmdbd munge mariadb-server)")
    root = Path(tempfile.mkdtemp(prefix="hepsweep-slurm-"))
    cluster = SlurmCluster(root)
    before = os.environ.get("SLURM_CONF")
    try:
        cluster.start()
        os.environ["SLURM_CONF"] = str(cluster.conf)  # the sweepers below submit to this cluster
        yield cluster
    finally:
        cluster.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


class Sweeper:
    """``hepsweep`` running in the background, its output in a file."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.log = cwd / "sweeper.log"
        with open(self.log, "w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hepsweep", *args], cwd=cwd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"the sweeper did not end within {timeout:.0f} s:\n{self.output[-3000:]}") from None

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


def load(cwd: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{cwd / 'outputs' / 'optuna.db'}")


def trials_now(cwd: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return load(cwd, name).trials
    except Exception:  # the sweeper has not created the study yet
        return []


def assert_nothing_left_running(cwd: Path, study: optuna.Study, cluster: SlurmCluster) -> None:
    assert not [t.number for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    client = MlflowClient(f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(study.study_name).experiment_id])
    assert runs and not [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    # a job that handed back its result may take a moment to leave the queue
    wait_for(lambda: cluster.jobs("PENDING,RUNNING") == [], 60, "every job of the study to leave the queue")


def test_a_study_runs_two_trials_at_once_and_a_cancelled_job_is_retried(cluster: SlurmCluster, tmp_path: Path) -> None:
    """``scancel`` of a training trial's job: that trial FAILs with CANCELLED and is queued again
    with the same parameters; the retry continues from the lost job's last finished epoch; the
    study reaches its exact budget and exits 0."""
    sweeper = Sweeper(
        tmp_path, *SMALL, *ON_SLURM, "train.epochs=150", "hydra.sweeper.study_name=cancel",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_retry=1",
    )

    def two_trials_training() -> bool:
        return sum(1 for t in trials_now(tmp_path, "cancel") if t.state == TrialState.RUNNING and t.intermediate_values) == 2

    try:
        wait_for(two_trials_training, 180, "two trials training at once")
        running = cluster.jobs("RUNNING")
        assert len(running) == 2, running  # one job per trial, both on the node at once
        subprocess.run(["scancel", running[0]], check=True, timeout=30)
        code = sweeper.wait(240)
    finally:
        if sweeper.process.poll() is None:
            os.killpg(sweeper.process.pid, signal.SIGKILL)
    out = sweeper.output
    assert code == 0, out[-3000:]
    study = load(tmp_path, "cancel")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, out[-3000:]
    (lost,) = failed
    reason = lost.user_attrs["fail_reason"]
    assert f"SLURM job {running[0]} did not finish: it ended CANCELLED" in reason, reason
    assert lost.user_attrs["fail_kind"] == "lost"
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == lost.number]
    assert retry.params == lost.params and retry.state == TrialState.COMPLETE
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE", "FAIL"]  # budget 2, exact
    assert f"trial {lost.number} queued again with the same parameters (retry 1 of max_retry=1)" in out
    assert "2/2 done" in out
    assert_nothing_left_running(tmp_path, study, cluster)
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    run = client.get_run(lost.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and "CANCELLED" in run.data.tags["hepsweep.fail_reason"]
    assert cluster.job_state(running[0]) == "CANCELLED"
    # the retry continued from the lost job's last finished epoch: one curve, no epoch twice
    assert retry.user_attrs["resumed_from_trial"] == lost.number
    assert 1 <= retry.user_attrs["resumed_from_epoch"] < 150
    assert sorted(retry.intermediate_values) == list(range(1, 151))
    steps = [m.step for m in client.get_metric_history(retry.user_attrs["mlflow_run_id"], "train_loss")]
    assert sorted(steps) == list(range(1, 151))


def test_a_job_over_its_time_limit_stops_the_study_once_retries_are_spent(cluster: SlurmCluster, tmp_path: Path) -> None:
    """A trial longer than its job's time limit ends TIMEOUT; with ``max_retry=0`` it is not run
    again, costs no budget, and the study stops with exit 2 and the reason."""
    sweeper = Sweeper(
        tmp_path, *SMALL, *ON_SLURM, "train.epochs=100000", "hydra.sweeper.study_name=limit",
        "hydra.sweeper.n_trials=1", "hydra.sweeper.max_retry=0",
        "hydra.launcher.timeout_min=1",  # SLURM's shortest limit; it checks limits every 30 s
    )
    try:
        code = sweeper.wait(240)
    finally:
        if sweeper.process.poll() is None:
            os.killpg(sweeper.process.pid, signal.SIGKILL)
    out = sweeper.output
    assert code == 2 and "1/1 done" not in out, out[-3000:]
    study = load(tmp_path, "limit")
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL and trial.intermediate_values  # it trained, then the limit came
    assert "ended TIMEOUT" in trial.user_attrs["fail_reason"], trial.user_attrs
    assert "trial 0 not retried (max_retry=0)" in out
    assert "hepsweep: error: study limit stopped: trial 0 was lost 1 time(s)" in out and "timeout_min" in out
    assert_nothing_left_running(tmp_path, study, cluster)


@pytest.mark.postgres
def test_no_password_in_any_file_a_slurm_study_writes(cluster: SlurmCluster, tmp_path: Path) -> None:
    """PostgreSQL storage that checks its password and an MLflow server reached with one: the
    jobs get the real URLs (their trials report and complete), and no file under the study's folder (submitit's
    pickles, the sbatch scripts, the job logs, Hydra's files) nor the console holds it."""
    if postgres_bin() is None:
        require_or_skip("PostgreSQL (apt-get install postgresql)")
    with postgres_server(password=PASSWORD) as storage, mlflow_server(tmp_path) as server:
        tracking = server.replace("http://", f"http://bob:{PASSWORD}@", 1)
        sweeper = Sweeper(
            tmp_path, *SMALL, *ON_SLURM, "train.epochs=2", "hydra.sweeper.study_name=guarded",
            "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.storage='{storage}'", f"tracking.uri='{tracking}'",
        )
        try:
            code = sweeper.wait(240)
        finally:
            if sweeper.process.poll() is None:
                os.killpg(sweeper.process.pid, signal.SIGKILL)
        out = sweeper.output
        assert code == 0, out[-3000:]
        study = optuna.load_study(study_name="guarded", storage=storage)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
        assert all(len(t.intermediate_values) == 2 for t in study.trials)  # the jobs reached the storage
        client = MlflowClient(server)
        runs = client.search_runs([client.get_experiment_by_name("guarded").experiment_id])
        trial_runs = [r for r in runs if r.data.tags.get("hepsweep.role") == "trial"]
        assert len(trial_runs) == 2 and all("val_auc" in r.data.metrics for r in trial_runs)  # ... and MLflow
    written = list((tmp_path / "outputs").rglob("*"))
    assert [p for p in written if p.suffix == ".pkl"] and [p for p in written if p.name.endswith("_submission.sh")]
    assert PASSWORD not in out
    assert _files_holding(tmp_path, PASSWORD) == []


def test_a_killed_sweeper_rerun_cancels_its_orphan_jobs_and_retries_their_trials(cluster: SlurmCluster, tmp_path: Path) -> None:
    """kill -9 of the sweeper leaves its SLURM jobs training; running the command again finds
    their trials dead, cancels those jobs, retries the trials and ends with the exact budget."""
    arguments = [
        # long enough that the orphans are still training when the rerun cancels them
        *SMALL, *ON_SLURM, "train.epochs=400", "hydra.sweeper.study_name=orphans",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_retry=1",
        # a grace period no loaded machine outlasts: the dead trials are aged below, not waited for
        "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=60",
    ]
    first = Sweeper(tmp_path, *arguments)

    def two_trials_training() -> bool:
        trials = trials_now(tmp_path, "orphans")
        return sum(1 for t in trials if t.state == TrialState.RUNNING and t.intermediate_values and "cluster_job" in t.user_attrs) == 2

    try:
        wait_for(two_trials_training, 180, "two trials training at once")
    finally:
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
    dead = {t.number: t.user_attrs["cluster_job"] for t in trials_now(tmp_path, "orphans")}
    assert sorted(cluster.jobs("RUNNING")) == sorted(dead.values())  # orphans: training for nobody
    age_heartbeats(tmp_path / "outputs" / "optuna.db", seconds=120)

    second = Sweeper(tmp_path, *arguments)
    try:
        wait_for(lambda: all(cluster.job_state(j) == "CANCELLED" for j in dead.values()), 120, "the orphan jobs to be cancelled")
        code = second.wait(240)
    finally:
        if second.process.poll() is None:
            os.killpg(second.process.pid, signal.SIGKILL)
    out = second.output
    assert code == 0, out[-3000:]
    study = load(tmp_path, "orphans")
    by_number = {t.number: t for t in study.trials}
    for number in dead:
        assert by_number[number].state == TrialState.FAIL
        (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == number]
        assert retry.state == TrialState.COMPLETE and retry.params == by_number[number].params
        assert retry.user_attrs.get("resumed_from_trial") == number, out[-3000:]  # from the orphan's last saved epoch
        assert sorted(retry.intermediate_values) == list(range(1, 401))
        assert f"trial {number} stopped sending heartbeats (its process died): failed, queued again" in out
    assert len(study.trials) == 4 and "2/2 done" in out
    assert_nothing_left_running(tmp_path, study, cluster)
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    assert all(client.get_run(by_number[n].user_attrs["mlflow_run_id"]).info.status == "KILLED" for n in dead)


def test_sigterm_cancels_the_jobs_ends_the_runs_and_says_so_in_one_line(cluster: SlurmCluster, tmp_path: Path) -> None:
    """SIGTERM to the sweeper while two trials train: their jobs are cancelled (none keeps
    training for nobody), one line says so, the trials FAIL as lost with retries queued for the
    next run, their MLflow runs are ended, and the command exits 2 with the reason."""
    sweeper = Sweeper(
        tmp_path, *SMALL, *ON_SLURM, "train.epochs=400", "hydra.sweeper.study_name=stopped",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_retry=1",
    )

    def two_trials_training() -> bool:
        return sum(1 for t in trials_now(tmp_path, "stopped") if t.state == TrialState.RUNNING and t.intermediate_values) == 2

    try:
        wait_for(two_trials_training, 180, "two trials training at once")
        jobs = cluster.jobs("RUNNING")
        sweeper.process.send_signal(signal.SIGTERM)
        code = sweeper.wait(120)
    finally:
        if sweeper.process.poll() is None:
            os.killpg(sweeper.process.pid, signal.SIGKILL)
    out = sweeper.output
    assert code == 2, out[-3000:]
    assert len([line for line in out.splitlines() if "SIGTERM: stopping" in line]) == 1
    assert "hepsweep: error: study stopped stopped: SIGTERM received; run the command again to continue" in out
    assert all(cluster.job_state(j) == "CANCELLED" for j in jobs)
    wait_for(lambda: cluster.jobs("PENDING,RUNNING") == [], 60, "the cancelled jobs to leave the queue")
    study = load(tmp_path, "stopped")
    lost = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(lost) == 2 and all(t.user_attrs["fail_kind"] == "lost" for t in lost)
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == sorted(t.number for t in lost)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    assert runs and not [r.info.run_id for r in runs if r.info.status == "RUNNING"]


def test_a_lost_node_fails_its_trial_with_node_fail_and_the_retry_runs_when_it_returns(cluster: SlurmCluster, tmp_path: Path) -> None:
    """slurmd and the trial's job processes killed at once (a node lost mid-trial): the trial
    FAILs with NODE_FAIL, is retried once the node is back, continues from its last saved
    epoch, and the study ends with its exact budget."""
    sweeper = Sweeper(
        tmp_path, *SMALL, *ON_SLURM, "train.epochs=150", "hydra.sweeper.study_name=node",
        "hydra.sweeper.n_trials=1", "hydra.sweeper.max_retry=1",
    )
    try:
        wait_for(lambda: any(t.intermediate_values for t in trials_now(tmp_path, "node")), 180, "the trial to train")
        (job,) = cluster.jobs("RUNNING")
        cluster.kill_node()
        wait_for(lambda: cluster.job_state(job) == "NODE_FAIL", 120, "SLURM to declare the job's node lost")
        cluster.start_slurmd()
        code = sweeper.wait(240)
    finally:
        if sweeper.process.poll() is None:
            os.killpg(sweeper.process.pid, signal.SIGKILL)
        if "slurmd" not in cluster.processes:
            cluster.start_slurmd()
    out = sweeper.output
    assert code == 0, out[-3000:]
    study = load(tmp_path, "node")
    (lost,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert f"SLURM job {job} did not finish: it ended NODE_FAIL" in lost.user_attrs["fail_reason"]
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == lost.number]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs.get("resumed_from_trial") == lost.number
    assert len(study.trials) == 2 and "1/1 done" in out
    assert_nothing_left_running(tmp_path, study, cluster)
