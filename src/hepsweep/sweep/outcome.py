"""What a launched job's outcome means for its trial: state, values, figures, and why it failed.

A trial's result travels one route: the job hands back a :class:`TrialResult` (its value(s),
headline figures and facts) as its return value, or, for a pruned or diverged run, on the
exception it raises (:class:`PrunedRun`, :func:`carry`). The sweeper writes the figures and facts
on the trial before it tells Optuna (:meth:`TrialResult.write`); a user's own Hydra app returns a
plain value and brings no figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hepsweep.errors import ConfigError, DataError, DeviceError, JobLostError, first_line
from hepsweep.sweep.records import FREE_FAILURES, FailKind, TrialRecord
from hepsweep.sweep.trial_link import TrialLink


@dataclass(frozen=True)
class TrialResult:
    """One trial's result as its job hands it back (picklable, nothing heavy): the objective
    value(s) (None for a pruned or diverged run), the headline figures (metrics, utilisation,
    ``early_stopped``) and the facts (``device``, ``model``, ``dataset``, ``batch_size``,
    ``gpu_present``: fields of :class:`TrialRecord`)."""

    value: float | tuple[float, ...] | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def write(self, trial: Any) -> None:
        """Record the figures shown in reports and the facts on the live ``trial``."""
        TrialRecord.write_figures(trial, self.figures)
        TrialRecord.write(trial, **{k: v for k, v in self.facts.items() if v is not None})


class PrunedRun(optuna.TrialPruned):
    """A pruned run's ``optuna.TrialPruned``, carrying its :class:`TrialResult` (training time,
    epochs, utilisation) back to the sweeper; it pickles with the record."""

    def __init__(self, message: str = "", result: TrialResult | None = None) -> None:
        super().__init__(message)
        self.trial_result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.trial_result)


def carry(error: BaseException, result: TrialResult | None) -> BaseException:
    """``error`` with ``result`` on it (a diverged run's figures on its ``TrainingError``; it
    pickles with the exception's attributes); a pruned run's becomes a :class:`PrunedRun`."""
    if result is None:
        return error
    if isinstance(error, optuna.TrialPruned) and not isinstance(error, PrunedRun):
        return PrunedRun(str(error), result)
    error.trial_result = result  # type: ignore[attr-defined]
    return error


def carried(error: BaseException | None) -> TrialResult | None:
    """The :class:`TrialResult` that ``error`` carries, if any."""
    result = getattr(error, "trial_result", None)
    return result if isinstance(result, TrialResult) else None


@dataclass
class JobOutcome:
    """What a launched job gave back: its return value (a :class:`TrialResult` from hepsweep's
    task, a plain value from any other app), or the exception that ended it."""

    value: Any = None
    error: BaseException | None = None

    @property
    def result(self) -> TrialResult | None:
        """The job's :class:`TrialResult`, returned or carried on its exception; None for a plain value."""
        if self.error is not None:
            return carried(self.error)
        return self.value if isinstance(self.value, TrialResult) else None


@dataclass(frozen=True)
class JobRequest:
    """One job the study asks its launcher for, in no launcher's syntax: the launcher (hepsweep's
    Hydra sweeper, or a test's) turns it into whatever it runs."""

    params: Mapping[str, Any]  # the trial's values by config key (a custom search space's too)
    index: int  # the job's number: its folder's name unless ``folder`` names one
    link: TrialLink = field(default_factory=TrialLink)  # how the job finds its trial and MLflow run
    folder: str | None = None
    retrain: bool = False  # the best trial trained again: the sweep's ``retrain_overrides`` apply too


class Launch(Protocol):
    def __call__(self, job: JobRequest) -> JobOutcome: ...


def classify(outcome: JobOutcome, n_objectives: int) -> tuple[TrialState, list[float] | None, str | None, FailKind | None]:
    """(state, values, failure reason, failure kind) of a finished job."""
    error = outcome.error
    if isinstance(error, optuna.TrialPruned):
        return TrialState.PRUNED, None, None, None
    if error is not None:
        if isinstance(error, DeviceError):
            kind = FailKind.UNAVAILABLE  # e.g. device=gpu trials on a machine without a GPU
        elif isinstance(error, DataError):
            kind = FailKind.DATA  # counts as a crash; stops a study that has not trained anything yet
        elif isinstance(error, ConfigError):
            kind = FailKind.CONFIG
        elif isinstance(error, JobLostError):
            kind = FailKind.LOST  # the cluster ended it (CANCELLED, TIMEOUT, NODE_FAIL): retried
        else:
            kind = FailKind.ERROR
        return TrialState.FAIL, None, first_line(error), kind
    value = outcome.value.value if isinstance(outcome.value, TrialResult) else outcome.value
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return TrialState.FAIL, None, f"the job returned {value!r}, not a number", FailKind.ERROR
    if len(numbers) != n_objectives:
        return TrialState.FAIL, None, f"the job returned {len(numbers)} value(s) for {n_objectives} direction(s)", FailKind.ERROR
    if any(math.isnan(v) for v in numbers):
        return TrialState.FAIL, None, "the job returned NaN", FailKind.ERROR
    return TrialState.COMPLETE, numbers, None, None


def counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """Trials that count against ``n_trials``: all of them except failed ones that were retried,
    configurations refused before training (an impossible architecture) and trials dropped
    before they started."""
    retried = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return [t for t in trials if t.number not in retried and TrialRecord.of(t).fail_kind not in FREE_FAILURES]


def budget_used(trials: list[optuna.trial.FrozenTrial]) -> int:
    """How many of ``trials`` count against ``n_trials`` (see :func:`counted`)."""
    return len(counted(trials))


def over_budget(trials: list[optuna.trial.FrozenTrial], number: int, n_trials: int) -> bool:
    """Whether trial ``number`` came after the budget was full: sweepers sharing a study check
    the budget and ask at once, so the later of two trials asked at the same instant gives way."""
    ahead = [t.number for t in counted(trials) if t.number < number]
    return len(ahead) >= n_trials
