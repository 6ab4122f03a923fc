"""What a launched job's outcome means for its trial: state, values, and why it failed."""

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


@dataclass
class JobOutcome:
    """What a launched job gave back: its return value, or the exception that ended it."""

    value: Any = None
    error: BaseException | None = None


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
    value = outcome.value
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
