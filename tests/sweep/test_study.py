"""The study runner on real SQLite storage: pruning, budget, parallel slots, failures, resume."""

from __future__ import annotations

import math
import pickle
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hepsweep.errors import ConfigError, DataError, JobLostError, StudyError, TrainingError
from hepsweep.sweep.search_space import parse_search_space
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.observers import StudyEnd, StudyObserver
from hepsweep.sweep.outcome import JobOutcome, JobRequest, PrunedRun, TrialResult, budget_used, carry, classify
from hepsweep.sweep.records import StudyRecord, TrialRecord
from hepsweep.sweep.study import StudyOptions, StudyRunner

from .helpers import PythonLauncher, age_heartbeats


def settings(tmp_path: Path, **overrides) -> SweepSettings:
    base = dict(
        study_name="unit",
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        sampler={"name": "random", "seed": 3},
        direction="maximize",
        max_failure_rate=0.5,
        n_trials=6,
        tracking={"enabled": False},
        heartbeat_interval=1,
        grace_period=2,
    )
    base.update(overrides)
    return SweepSettings.from_config(base)


def runner(tmp_path: Path, launcher, params=None, lines=None, **overrides) -> StudyRunner:
    space = parse_search_space(params or {"x": "interval(0.0, 1.0)"})
    sink = lines if lines is not None else []
    launcher.pruner = launcher.pruner or overrides.get("pruner")  # what the job's config would say
    return StudyRunner(settings(tmp_path, **overrides), space, launcher, tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=sink.append))


def learning_curve(params, trial, epochs: int = 8) -> float:
    """A 'training' whose score rises towards x; reports every epoch and obeys the pruner."""
    x = float(params["x"])
    score = 0.0
    for epoch in range(epochs):
        score = x * (1 - math.exp(-(epoch + 1) / 2))
        trial.report(score, epoch + 1)  # epochs count from 1, as a hepsweep job reports them
        if trial.should_prune():
            raise optuna.TrialPruned()
    return score


def test_hopeless_trials_are_pruned_and_recorded_as_pruned(tmp_path: Path) -> None:
    launcher = PythonLauncher(learning_curve)
    study = runner(
        tmp_path, launcher, n_trials=12, pruner={"name": "median", "n_startup_trials": 3, "n_warmup_steps": 0}
    ).run()
    states = [t.state for t in study.trials]
    assert len(study.trials) == 12
    assert states.count(TrialState.PRUNED) >= 1
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in study.trials:
        if trial.state == TrialState.PRUNED:
            assert len(trial.intermediate_values) < 8  # training stopped early
        else:
            assert len(trial.intermediate_values) == 8
    assert study.best_value == pytest.approx(max(t.value for t in study.trials if t.value is not None and t.state == TrialState.COMPLETE))


def test_n_trials_is_the_total_budget_across_runs(tmp_path: Path) -> None:
    launcher = PythonLauncher(lambda p, t: float(p["x"]))
    assert len(runner(tmp_path, launcher, n_trials=3).run().trials) == 3
    assert len(runner(tmp_path, launcher, n_trials=5).run().trials) == 5
    assert len(runner(tmp_path, launcher, n_trials=5).run().trials) == 5
    assert len(launcher.calls) == 5
    assert [index for index, _ in launcher.calls] == [0, 1, 2, 3, 4]  # job index = trial number


def test_another_search_space_under_the_same_name_is_refused(tmp_path: Path) -> None:
    launcher = PythonLauncher(lambda p, t: float(p["x"]))
    runner(tmp_path, launcher, n_trials=1).run()
    with pytest.raises(StudyError, match=r"created with another search space \(differs in x\); pass hydra.sweeper.study_name"):
        runner(tmp_path, launcher, params={"x": "interval(0.0, 2.0)"}, n_trials=2).run()


def test_free_slots_start_the_next_trial_without_waiting_for_a_batch(tmp_path: Path) -> None:
    # Trial 0 holds its slot until four other trials have finished: only a runner that refills
    # free slots at once gets there (a batch of three would wait for trial 0 for ever).
    finished: list[int] = []
    released = threading.Event()
    lock = threading.Lock()

    def objective(params, trial):
        if trial.number == 0:
            return 1.0 if released.wait(timeout=60) else 0.0
        with lock:
            finished.append(trial.number)
            if len(finished) >= 4:
                released.set()
        return float(params["x"])

    launcher = PythonLauncher(objective)
    study = runner(tmp_path, launcher, n_trials=9, n_jobs=3).run()
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(9)) and len(set(numbers)) == 9
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert 2 <= launcher.max_running <= 3
    assert study.trials[0].value == 1.0, "trial 0 was never released: the free slots waited for it"


def test_a_failing_trial_does_not_stop_the_study(tmp_path: Path) -> None:
    def objective(params, trial):
        if float(params["x"]) < 0.3:
            raise RuntimeError("CUDA out of memory\nsecond line")
        return float(params["x"])

    lines: list[str] = []
    study = runner(tmp_path, PythonLauncher(objective), lines=lines, n_trials=10, max_failure_rate=1.0).run()
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and len(study.trials) == 10
    assert failed[0].user_attrs["fail_reason"] == "RuntimeError: CUDA out of memory"
    assert failed[0].user_attrs["fail_kind"] == "error"
    assert any("FAIL (RuntimeError: CUDA out of memory)" in line for line in lines)


def test_too_many_crashes_stop_the_study_but_keep_finished_trials(tmp_path: Path) -> None:
    def objective(params, trial):
        raise ValueError("broken job")

    with pytest.raises(StudyError, match=r"3 of 3 trials failed \(more than max_failure_rate=0.5\); last: ValueError: broken job"):
        runner(tmp_path, PythonLauncher(objective), n_trials=10).run()
    study = optuna.load_study(study_name="unit", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 3


def test_a_study_that_ends_short_of_its_budget_because_trials_failed_is_an_error(tmp_path: Path) -> None:
    """Two trials, both killed by the cluster's time limit: too few for the failure rate to stop
    the study early, but it must not end as if it had succeeded."""

    def objective(params, trial):
        raise RuntimeError("job exceeded its SLURM time limit")

    with pytest.raises(StudyError, match=r"2 of its 2 trials failed, so it ends short of its budget of 2 \(last: RuntimeError: job exceeded"):
        runner(tmp_path, PythonLauncher(objective), n_trials=2).run()
    # failures within max_failure_rate (here 1 in 4, below 0.5) end the study as usual
    calls = iter(range(100))
    tolerated = runner(
        tmp_path / "some", PythonLauncher(lambda p, t: 1 / 0 if next(calls) == 1 else float(p["x"])), n_trials=4
    ).run()
    assert [t.state for t in tolerated.trials].count(TrialState.FAIL) == 1


def test_max_failure_rate_zero_stops_at_the_first_crash(tmp_path: Path) -> None:
    def objective(params, trial):
        raise ValueError("broken job")

    with pytest.raises(StudyError, match=r"1 of 1 trials failed \(more than max_failure_rate=0.0\)"):
        runner(tmp_path, PythonLauncher(objective), n_trials=10, max_failure_rate=0.0).run()


def test_a_study_that_cannot_load_its_data_stops_with_the_data_error(tmp_path: Path) -> None:
    def objective(params, trial):
        raise DataError("dataset.path=/nowhere/train.csv does not exist; give a HEPMASS CSV file")

    with pytest.raises(StudyError, match=r"trial 0 could not load its data \(DataError: dataset.path=/nowhere"):
        runner(tmp_path, PythonLauncher(objective), n_trials=10).run()
    study = optuna.load_study(study_name="unit", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 1 and study.trials[0].user_attrs["fail_kind"] == "data"


def test_config_failures_are_recorded_but_do_not_count_as_crashes(tmp_path: Path) -> None:
    def objective(params, trial):
        if float(params["x"]) < 0.7:
            raise ConfigError("model.conv_blocks=6 shrinks the image below 1x1")
        return 1.0

    study = runner(tmp_path, PythonLauncher(objective), n_trials=8).run()
    kinds = [t.user_attrs.get("fail_kind") for t in study.trials if t.state == TrialState.FAIL]
    assert kinds and set(kinds) == {"config"}
    # refused configurations cost no training, so they do not use up the budget
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 8
    assert budget_used(study.trials) == 8 and len(study.trials) == 8 + len(kinds)


def test_a_dead_trial_is_failed_and_retried_after_its_grace_period(tmp_path: Path) -> None:
    from hepsweep.sweep.storage import open_storage

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=4)
    study = first.open_study()
    orphan = study.ask(first.space.distributions)  # a trial whose sweeper was killed mid-run
    open_storage(url, 1, 2).record_heartbeat(orphan._trial_id)
    age_heartbeats(tmp_path / "optuna.db")  # its last heartbeat is now older than the grace period
    lines: list[str] = []
    launcher = PythonLauncher(lambda p, t: float(p["x"]))
    study = runner(tmp_path, launcher, lines=lines, n_trials=4).run()
    states = {t.number: t.state for t in study.trials}
    assert states[orphan.number] == TrialState.FAIL
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == study.trials[orphan.number].params
    assert budget_used(study.trials) == 4 and len(study.trials) == 5
    assert any("stopped sending heartbeats" in line for line in lines)


def test_multi_objective_reports_a_pareto_front_and_turns_pruning_off(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    lines: list[str] = []
    launcher = PythonLauncher(lambda p, t: [float(p["x"]), float(p["x"]) ** 2])
    study = runner(
        tmp_path, launcher, lines=lines, n_trials=5, direction=["maximize", "minimize"], pruner="median"
    ).run()
    assert len(study.directions) == 2 and len(study.trials) == 5
    assert any("pruning is off: Optuna cannot prune multi-objective studies" in line for line in lines)
    results = OmegaConf.load(tmp_path / "studies" / "unit" / "optimization_results.yaml")
    assert len(results.solutions) >= 1


def test_optimization_results_yaml_and_study_files(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=4).run()
    folder = tmp_path / "studies" / "unit"
    results = OmegaConf.load(folder / "optimization_results.yaml")
    assert results.best_value == pytest.approx(study.best_value)
    assert results.best_params.x == pytest.approx(study.best_params["x"])
    assert (folder / "study_summary.csv").read_text().count("\n") == 5
    assert (folder / "optimization_history.png").stat().st_size > 1000


def test_grid_sampler_enumerates_the_grid(tmp_path: Path) -> None:
    launcher = PythonLauncher(lambda p, t: float(p["a"]) * float(p["b"]))
    study = runner(tmp_path, launcher, params={"a": "choice(1, 2)", "b": "range(1, 3)"}, sampler="grid", n_trials=6).run()
    assert sorted((t.params["a"], t.params["b"]) for t in study.trials) == [(a, b) for a in (1, 2) for b in (1, 2, 3)]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="n_trials=0 must be at least 1"):
        SweepSettings.from_config({"n_trials": 0})
    with pytest.raises(ConfigError, match="direction='up' is unknown"):
        SweepSettings.from_config({"direction": "up"})


def test_a_journal_file_works_as_storage(tmp_path: Path) -> None:
    launcher = PythonLauncher(learning_curve)
    journal = tmp_path / "study.log"
    study = runner(tmp_path, launcher, storage=str(journal), n_trials=4, pruner={"name": "median", "n_startup_trials": 1}).run()
    assert len(study.trials) == 4 and journal.stat().st_size > 0
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)


def test_another_direction_under_the_same_name_is_refused(tmp_path: Path) -> None:
    launcher = PythonLauncher(lambda p, t: float(p["x"]))
    runner(tmp_path, launcher, n_trials=1).run()
    with pytest.raises(StudyError, match="was created to maximize, not minimize"):
        runner(tmp_path, launcher, n_trials=2, direction="minimize").run()


def test_without_heartbeats_a_crashed_trial_does_not_block_the_study(tmp_path: Path) -> None:
    lines: list[str] = []
    first = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), storage=str(tmp_path / "j.log"), n_trials=3)
    first.open_study().ask(first.space.distributions)  # left RUNNING by a "crashed" sweeper
    study = runner(
        tmp_path, PythonLauncher(lambda p, t: float(p["x"])), lines=lines, storage=str(tmp_path / "j.log"), n_trials=3
    ).run()
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 2
    assert any("keeps no heartbeats" in line for line in lines)


def test_embedded_stores_live_under_the_state_root(tmp_path: Path) -> None:
    space = parse_search_space({"x": "interval(0.0, 1.0)"})
    study_runner = StudyRunner(
        settings(tmp_path, storage=None, n_trials=1), space, PythonLauncher(lambda p, t: 1.0),
        tmp_path / "elsewhere" / "deep" / "study", state_root=tmp_path / "root", options=StudyOptions(emit=lambda _: None),
    )
    assert study_runner.storage_url == f"sqlite:///{tmp_path / 'root' / 'optuna.db'}"
    study_runner.run()
    assert (tmp_path / "root" / "optuna.db").is_file()


def test_a_sweep_that_searches_nothing_runs_one_trial_and_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    study = StudyRunner(
        settings(tmp_path, n_trials=5), parse_search_space({}), PythonLauncher(lambda p, t: 1.0),
        tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=lines.append),
    ).run()
    assert len(study.trials) == 1
    assert any("hydra.sweeper.params is empty" in line for line in lines)
    assert any("searches nothing" in line for line in lines)


def test_a_trial_whose_sweeper_died_before_its_first_heartbeat_is_retried(tmp_path: Path) -> None:
    """SIGKILL between asking for a trial and its first heartbeat leaves a RUNNING trial with no
    heartbeat at all, which Optuna alone never finds stale."""
    runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1).run()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    orphan = optuna.load_study(study_name="unit", storage=storage).ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    lines: list[str] = []
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), lines=lines, n_trials=3).run()
    states = {t.number: t.state for t in study.trials}
    assert states[orphan.number] == TrialState.FAIL and TrialState.RUNNING not in states.values()
    retried = [t for t in study.trials if t.params == orphan.params and t.number != orphan.number]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert budget_used(study.trials) == 3
    assert any(f"trial {orphan.number} stopped sending heartbeats" in line for line in lines)


class EventLog(StudyObserver):
    """A caller's own observer: writes down what it hears."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def study_opened(self, study: optuna.Study) -> None:
        self.events.append(f"opened with {len(study.trials)} trials")

    def trial_started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self.events.append(f"started {trial.number}")

    def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.events.append(f"finished {trial.number} {trial.state.name}")

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        self.events.append(f"study finished, failed={end.failed}, retrained={end.retrained is not None}")


def test_observers_given_to_the_runner_hear_the_study_in_order(tmp_path: Path) -> None:
    log = EventLog()
    study = StudyRunner(
        settings(tmp_path, n_trials=2, max_failure_rate=1.0), parse_search_space({"x": "interval(0.0, 1.0)"}),
        PythonLauncher(lambda p, trial: 1.0 if trial.number == 0 else "not a number"),
        tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=lambda _: None, observers=[log]),
    ).run()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert log.events == [
        "opened with 0 trials",
        "started 0", "finished 0 COMPLETE",
        "started 1", "finished 1 FAIL",
        "study finished, failed=False, retrained=False",
    ]


def test_the_launcher_gets_typed_values_and_the_retrained_job_is_marked(tmp_path: Path) -> None:
    jobs: list[JobRequest] = []

    def launch(job: JobRequest) -> JobOutcome:
        jobs.append(job)
        return JobOutcome(value=float(job.params["units"]) / 100)

    space = parse_search_space({"units": "choice(16, 64)", "act": "choice(relu, tanh)"})
    study = StudyRunner(
        settings(tmp_path, n_trials=2, retrain_best=True), space, launch,
        tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=lambda _: None),
    ).run()
    assert [type(job.params["units"]) for job in jobs] == [int, int, int]
    assert {job.params["act"] for job in jobs} <= {"relu", "tanh"}
    assert [job.retrain for job in jobs] == [False, False, True]
    assert jobs[-1].params == study.best_params and jobs[-1].folder == "best_retrained"


def _disk_full() -> Exception:
    """What SQLite says through Optuna when its disk is full."""
    import sqlite3

    try:
        raise sqlite3.OperationalError("database or disk is full")
    except sqlite3.OperationalError as cause:
        try:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause
        except optuna.exceptions.StorageInternalError as exc:
            return exc


def test_a_full_disk_under_the_storage_stops_the_study_cleanly_and_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The storage's disk fills after the first trial: the next ``ask`` cannot write. The study
    stops with one line (no traceback in the logs), and continues once there is space again."""
    real = optuna.storages.RDBStorage._create_new_trial  # what Optuna's cached storage calls
    calls = []

    def fills_up(self, study_id, template_trial=None):
        calls.append(study_id)
        if len(calls) > 1:
            raise _disk_full()
        return real(self, study_id, template_trial)

    monkeypatch.setattr(optuna.storages.RDBStorage, "_create_new_trial", fills_up)
    lines: list[str] = []
    with pytest.raises(StudyError, match=r"no space left .* during asking for a trial; .*free some space, then run the command again"):
        runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), lines=lines, n_trials=3).run()
    assert not [r for r in caplog.records if r.exc_info and r.levelname in ("ERROR", "CRITICAL")]
    assert any("no new trial starts" in line for line in lines)
    monkeypatch.setattr(optuna.storages.RDBStorage, "_create_new_trial", real)  # space again
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=3).run()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_a_trial_that_fills_the_disk_fails_with_its_reason_and_no_new_trial_starts(tmp_path: Path) -> None:
    import errno

    def job(params, trial):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "trial_0" / "model.keras"))

    launcher = PythonLauncher(job)
    with pytest.raises(StudyError, match="no space left"):
        runner(tmp_path, launcher, n_trials=4, max_failure_rate=1.0).run()
    (trial,) = optuna.load_study(study_name="unit", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
    assert trial.state == TrialState.FAIL and "No space left on device" in trial.user_attrs["fail_reason"]
    assert len(launcher.calls) == 1


def test_a_trial_whose_job_the_cluster_ended_is_retried_and_costs_no_budget(tmp_path: Path) -> None:
    """A job ended from outside (JobLostError: CANCELLED, TIMEOUT, NODE_FAIL) fails its trial as
    lost; it is queued again with the same parameters, with two trials running at once the
    budget stays exact, and the retry starts a record of its own."""
    lost_once: set[float] = set()

    def objective(params, trial):
        x = float(params["x"])
        if not lost_once:
            lost_once.add(x)
            raise JobLostError("SLURM job 7 did not finish: it ended NODE_FAIL")
        return x

    lines: list[str] = []
    study = runner(tmp_path, PythonLauncher(objective, delay=lambda p: 0.2), lines=lines, n_trials=4, n_jobs=2, max_retry=1).run()
    (lost,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert lost.user_attrs == {**lost.user_attrs, "fail_kind": "lost", "fail_reason": "JobLostError: SLURM job 7 did not finish: it ended NODE_FAIL"}
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == lost.number]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params
    assert "fail_reason" not in retry.user_attrs and "fail_kind" not in retry.user_attrs
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4 and len(study.trials) == 5
    assert f"trial {lost.number} queued again with the same parameters (retry 1 of max_retry=1)" in lines


def test_a_trial_lost_more_often_than_max_retry_stops_the_study(tmp_path: Path) -> None:
    def objective(params, trial):
        raise JobLostError("SLURM job 8 did not finish: it ended TIMEOUT")

    lines: list[str] = []
    with pytest.raises(StudyError, match=r"trial 1 was lost 2 time\(s\), last: JobLostError: .* TIMEOUT; .*timeout_min"):
        runner(tmp_path, PythonLauncher(objective), lines=lines, n_trials=3, max_retry=1).run()
    study = optuna.load_study(study_name="unit", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]  # no new trial after the stop
    assert "trial 1 not retried (max_retry=1)" in lines
    assert any("0/3 done" in line for line in lines)  # lost trials cost no budget


def _facts(**more) -> dict:
    return {"device": "cpu", "model": "mlp", "dataset": "hepmass", "batch_size": 64, "gpu_present": False, **more}


def test_each_trial_s_record_comes_back_on_its_value_or_exception_and_is_written_on_it(tmp_path: Path) -> None:
    """One route: a complete job returns its TrialResult, a pruned one raises it on a PrunedRun,
    a diverged one on its TrainingError, all through a pickle (a worker's or submitit's); the
    sweeper writes the figures and facts on the trial and retrain_best reads the retrained job's."""
    pruned_record = TrialResult(figures={"train_time_s": 1.5, "epochs_run": 2.0, "cpu_percent_mean": 40.0, "val_auc": math.nan}, facts=_facts())
    sent = pickle.loads(pickle.dumps(PrunedRun("pruned after epoch 2", pruned_record)))
    assert isinstance(sent, optuna.TrialPruned) and str(sent) == "pruned after epoch 2" and sent.trial_result.facts == pruned_record.facts
    assert math.isnan(sent.trial_result.figures.pop("val_auc")) and sent.trial_result.figures == {"train_time_s": 1.5, "epochs_run": 2.0, "cpu_percent_mean": 40.0}
    assert classify(JobOutcome(error=sent), 1)[0] == TrialState.PRUNED

    def launch(job: JobRequest) -> JobOutcome:
        if job.retrain:
            return JobOutcome(value=pickle.loads(pickle.dumps(TrialResult(0.9, {"test_auc": 0.88, "val_auc": 0.9}, _facts()))))
        if job.index == 0:
            return JobOutcome(value=pickle.loads(pickle.dumps(TrialResult(0.8, {"val_auc": 0.8, "train_time_s": 3.0, "early_stopped": True}, _facts(batch_size=128)))))
        if job.index == 1:
            return JobOutcome(error=pickle.loads(pickle.dumps(PrunedRun("pruned after epoch 2", pruned_record))))
        diverged = carry(TrainingError("NaN loss in epoch 1; lower optimizer.lr"), TrialResult(figures={"epochs_run": 1.0}, facts=_facts()))
        return JobOutcome(error=pickle.loads(pickle.dumps(diverged)))

    study = StudyRunner(
        settings(tmp_path, n_trials=3, n_jobs=1, retrain_best=True), parse_search_space({"x": "interval(0.0, 1.0)"}), launch,
        tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=lambda _: None),
    ).run()
    complete, pruned, diverged = study.trials
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    assert complete.value == 0.8 and TrialRecord.figures(complete) == {"train_time_s": 3.0, "early_stopped": True}
    assert TrialRecord.of(complete).batch_size == 128 and TrialRecord.of(complete).model == "mlp"
    assert TrialRecord.figures(pruned) == {"train_time_s": 1.5, "cpu_percent_mean": 40.0, "epochs_run": 2.0}  # NaN left out
    assert TrialRecord.of(pruned).device == "cpu" and TrialRecord.of(pruned).gpu_present is False
    assert TrialRecord.figures(diverged) == {"epochs_run": 1.0} and "NaN loss" in TrialRecord.of(diverged).fail_reason
    assert StudyRecord.of(study).retrained["test_auc"] == 0.88


def test_a_plain_value_from_a_user_s_own_app_still_completes_its_trial_without_figures(tmp_path: Path) -> None:
    study = StudyRunner(
        settings(tmp_path, n_trials=2), parse_search_space({"x": "interval(0.0, 1.0)"}), lambda job: JobOutcome(value=(0.5,)),
        tmp_path / "studies" / "unit", state_root=tmp_path, options=StudyOptions(emit=lambda _: None),
    ).run()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert [TrialRecord.figures(t) for t in study.trials] == [{}, {}]
