"""The study runner's parts, each on its own: the failure policy, the observers, the record."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hepsweep.sweep.failure_policy import FailurePolicy
from hepsweep.sweep.observers import Observers, ProgressPrinter, StudyEnd, StudyObserver
from hepsweep.sweep.records import RunTag, StudyRecord, TrialRecord, outcome_tags
from hepsweep.sweep.results import ResultsWriter

SPACE = {"x": FloatDistribution(0.0, 1.0)}


def add(study: optuna.Study, state: TrialState, value: float | None = None, **attrs) -> optuna.trial.FrozenTrial:
    study.add_trial(create_trial(
        params={"x": 0.5}, distributions=SPACE, value=value, state=state, user_attrs=attrs,
        intermediate_values={1: 0.1, 2: 0.2} if state == TrialState.PRUNED else {},
    ))
    return study.get_trials(deepcopy=False)[-1]


def crash(study: optuna.Study, kind: str = "error") -> optuna.trial.FrozenTrial:
    return add(study, TrialState.FAIL, fail_reason=f"RuntimeError: boom ({kind})", fail_kind=kind)


def test_the_failure_rate_is_judged_from_the_third_trial_on() -> None:
    study = optuna.create_study(direction="maximize")
    policy = FailurePolicy(max_failure_rate=0.5, max_retry=0)
    assert policy.judge(study, add(study, TrialState.COMPLETE, 0.5)) is None
    assert policy.judge(study, crash(study)) is None  # 1 of 2: too early to judge
    assert policy.judge(study, add(study, TrialState.COMPLETE, 0.6)) is None  # 1 of 3
    reason = policy.judge(study, crash(study))  # 2 of 4 is not more than half
    assert reason is None
    reason = policy.judge(study, crash(study))  # 3 of 5
    assert reason is not None and "3 of 5 trials failed" in reason and "max_failure_rate" in reason


def test_a_zero_failure_rate_stops_at_the_first_crash_and_skips_do_not_count() -> None:
    study = optuna.create_study(direction="maximize")
    policy = FailurePolicy(max_failure_rate=0.0, max_retry=0)
    assert policy.judge(study, add(study, TrialState.FAIL, fail_reason="no GPU", fail_kind="unavailable")) is None
    assert policy.judge(study, add(study, TrialState.FAIL, fail_reason="too deep", fail_kind="config")) is None
    assert "1 of 3 trials failed" in (policy.judge(study, crash(study)) or "")


def test_data_that_cannot_load_stops_a_study_that_has_trained_nothing() -> None:
    study = optuna.create_study(direction="maximize")
    assert "could not load its data" in (FailurePolicy(1.0, 0).judge(study, crash(study, "data")) or "")
    trained = optuna.create_study(direction="maximize")
    add(trained, TrialState.PRUNED)
    assert FailurePolicy(1.0, 0).judge(trained, crash(trained, "data")) is None


def test_progress_lines_count_the_study_and_show_a_skip_reason_once() -> None:
    study = optuna.create_study(direction="maximize")
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, n_trials=5, objective_names=["val_auc"])
    printer.trial_finished(study, add(study, TrialState.COMPLETE, 0.75))
    printer.trial_finished(study, add(study, TrialState.PRUNED))
    for _ in range(2):
        printer.trial_finished(study, add(study, TrialState.FAIL, fail_reason="no GPU here", fail_kind="unavailable"))
    assert lines[0] == "trial 0 COMPLETE val_auc=0.75 | 1/5 done (1 complete, 0 pruned, 0 failed) | best val_auc=0.75 (trial 0)"
    assert lines[1].startswith("trial 1 PRUNED after epoch 2 | 2/5 done (1 complete, 1 pruned, 0 failed)")
    assert lines[2:] == ["trial 2 skipped: no GPU here (later trials skipped for this reason are not listed)"]


def test_an_observer_that_fails_costs_neither_the_study_nor_the_others(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[str] = []

    class Broken(StudyObserver):
        def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            raise RuntimeError("MLflow is on fire")

    class Listener(StudyObserver):
        def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            heard.append(f"trial {trial.number}")

    study = optuna.create_study()
    Observers([Broken(), Listener()]).trial_finished(study, add(study, TrialState.COMPLETE, 1.0))
    assert heard == ["trial 0"]
    assert "Broken.trial_finished failed" in caplog.text


def test_the_results_writer_leaves_its_files_for_the_observers_after_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = optuna.create_study(study_name="written", direction="maximize")
    add(study, TrialState.COMPLETE, 0.7, test_auc=0.69)
    add(study, TrialState.COMPLETE, 0.9, test_auc=0.88)
    end = StudyEnd()
    lines: list[str] = []
    ResultsWriter(tmp_path, ["val_auc"], lines.append).study_finished(study, end)
    names = {path.name for path in end.artifacts}
    assert {"optimization_results.yaml", "study_summary.csv", "study_report.txt"} <= names
    assert all(path.is_file() for path in end.artifacts)
    assert "best_value: 0.9" in (tmp_path / "optimization_results.yaml").read_text()
    assert capsys.readouterr().out.startswith("study written")
    assert lines == [f"results: {tmp_path / 'optimization_results.yaml'}"]


def test_the_record_is_read_and_written_by_name_only(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    StudyRecord.write(study, study_dir="/studies/s", view="hepmass", parent_run_id="abc")
    record = StudyRecord.of(optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{tmp_path / 'optuna.db'}"))
    assert (record.study_dir, record.view, record.parent_run_id, record.command) == ("/studies/s", "hepmass", "abc", None)
    with pytest.raises(KeyError):
        StudyRecord.write(study, studydir="typo")
    trial = add(study, TrialState.PRUNED, fail_reason=None)
    assert outcome_tags(trial) == {RunTag.PRUNED_AFTER_EPOCH: "2"}
    failed = add(study, TrialState.FAIL, fail_reason="bad", fail_kind="error")
    assert TrialRecord.of(failed).fail_kind == "error" and outcome_tags(failed) == {RunTag.FAIL_REASON: "bad"}
