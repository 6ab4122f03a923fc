"""What the study runner tells the rest of hepsweep, as Optuna tells its callbacks.

:class:`~hepsweep.sweep.study.StudyRunner` schedules trials and nothing else; the MLflow runs
(:class:`~hepsweep.sweep.study_tracking.TrackingObserver`), the progress lines
(:class:`ProgressPrinter`) and the results files
(:class:`~hepsweep.sweep.results.ResultsWriter`) follow the study through these calls, in the
order the runner was given them. An observer's failure is logged and never costs the study.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hepsweep.errors import first_line, out_of_space
from hepsweep.sweep.outcome import counted
from hepsweep.sweep.records import FailKind, TrialRecord, pruned_after_epoch

log = logging.getLogger(__name__)


@dataclass
class StudyEnd:
    """How a study's run ended; observers add the files they wrote to ``artifacts``."""

    failed: bool = False
    retrained: dict[str, Any] | None = None
    artifacts: list[Path] = field(default_factory=list)


class StudyObserver:
    """Follows one run of a study. Every method does nothing unless overridden."""

    def study_opened(self, study: optuna.Study) -> None:
        """The study is open and its record written; no trial of this run has started."""

    def trial_started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        """``trial`` is about to be launched (its params are known)."""

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """``trial`` has been told to the study (COMPLETE, PRUNED or FAIL)."""

    def trial_died(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """``trial``'s process stopped sending heartbeats; it is failed."""

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        """No trial is left to run (the budget is spent, the space exhausted, or the study stopped)."""


class Observers(StudyObserver):
    """Calls each observer in turn; one that raises is logged and the others still hear."""

    def __init__(self, observers: Sequence[StudyObserver]) -> None:
        self.observers = list(observers)

    def _each(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception as exc:  # presentation and bookkeeping must never cost the study
                if out_of_space(exc):  # the study says so once, in its last line
                    log.warning("%s.%s: no space left (%s)", type(observer).__name__, method, first_line(exc))
                else:
                    log.exception("%s.%s failed", type(observer).__name__, method)

    def study_opened(self, study: optuna.Study) -> None:
        self._each("study_opened", study)

    def trial_started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self._each("trial_started", study, trial)

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._each("trial_finished", study, trial)

    def trial_died(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._each("trial_died", study, trial)

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        self._each("study_finished", study, end)


class ProgressPrinter(StudyObserver):
    """One line per finished trial: its outcome, the study's counts and its best so far. Trials
    skipped for a reason already shown (no GPU here, say) are not listed again."""

    def __init__(self, emit: Callable[[str], None], n_trials: int, objective_names: list[str]) -> None:
        self.emit, self.n_trials, self.objective_names = emit, n_trials, objective_names
        self._skip_reasons: set[str | None] = set()

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        record = TrialRecord.of(trial)
        if record.fail_kind == FailKind.UNAVAILABLE:
            if record.fail_reason not in self._skip_reasons:
                self._skip_reasons.add(record.fail_reason)
                self.emit(f"trial {trial.number} skipped: {record.fail_reason} (later trials skipped for this reason are not listed)")
            return
        self.emit(self.line(study, trial))

    def line(self, study: optuna.Study, trial: FrozenTrial) -> str:
        trials = study.get_trials(deepcopy=False)
        counts = {s: sum(1 for t in trials if t.state == s) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        what = trial.state.name
        if trial.state == TrialState.PRUNED:
            what += f" after epoch {pruned_after_epoch(trial)}"
        elif trial.state == TrialState.FAIL:
            what += f" ({TrialRecord.of(trial).fail_reason or 'no reason recorded'})"
        elif trial.values:
            what += " " + ", ".join(f"{n}={v:.4g}" for n, v in zip(self.objective_names, trial.values))
        # of the budget: trials lost by the cluster, refused or dropped cost none
        done = sum(1 for t in counted(trials) if t.state.is_finished())
        line = (
            f"trial {trial.number} {what} | {done}/{self.n_trials} done "
            f"({counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed)"
        )
        if len(study.directions) == 1 and counts[TrialState.COMPLETE]:
            best = study.best_trial
            line += f" | best {self.objective_names[0]}={best.value:.4g} (trial {best.number})"
        return line
