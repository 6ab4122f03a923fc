"""When failed trials stop a study, and when a dead trial is run again.

A failing trial never takes the study down by itself: the study stops when more than
``max_failure_rate`` of its finished trials crashed (judged from the third trial on, or at the
first crash with ``max_failure_rate=0`` as in hydra-optuna-sweeper), or when a trial could not
load its data before any trial trained (the data settings are wrong for every trial). A trial
whose process died (its heartbeats stopped), or whose job the cluster ended (cancelled, over its
time limit, its node lost), is queued again up to ``max_retry`` times; a trial lost more often
than that stops the study.
"""

from __future__ import annotations

import copy
import threading

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from hepsweep.metrics import is_metric
from hepsweep.sweep.outcome import counted
from hepsweep.sweep.records import CRASHES, FailKind, TrialRecord

MIN_TRIALS_FOR_FAILURE_RATE = 3


class FailurePolicy:
    """Counts finished trials and crashes; says why the study must stop, if it must."""

    def __init__(self, max_failure_rate: float, max_retry: int) -> None:
        self.max_failure_rate, self.max_retry = max_failure_rate, max_retry
        self.finished = 0
        self.crashes = 0
        self._lock = threading.Lock()

    def judge(self, study: optuna.Study, trial: FrozenTrial) -> str | None:
        """Count ``trial``, just finished; the reason to stop the study, or None."""
        record = TrialRecord.of(trial)
        with self._lock:
            self.finished += 1
            crashed = record.fail_kind in CRASHES
            self.crashes += crashed
            if not crashed:
                return None
            judged = self.finished >= MIN_TRIALS_FOR_FAILURE_RATE or self.max_failure_rate == 0.0
            if judged and self.crashes / self.finished > self.max_failure_rate:
                return (
                    f"{self.crashes} of {self.finished} trials failed (more than max_failure_rate="
                    f"{self.max_failure_rate}); last: {record.fail_reason}; "
                    "fix the cause or raise hydra.sweeper.max_failure_rate"
                )
            if record.fail_kind == FailKind.DATA and not _trained_any(study):
                return (
                    f"trial {trial.number} could not load its data ({record.fail_reason}); "
                    "fix the dataset settings (e.g. dataset.path) and run the command again"
                )
            return None

    def verdict(self, study: optuna.Study, n_trials: int) -> str | None:
        """At the end of a study that was not stopped: why it fell short of its budget, when
        more than ``max_failure_rate`` of its counted trials failed, however few ran (too few
        for :meth:`judge` to stop it early); None when its failures are within what the study
        tolerates (``max_failure_rate=1.0``: any number, as in hydra-optuna-sweeper)."""
        trials = counted(study.get_trials(deepcopy=False))
        failed = [t for t in trials if t.state == TrialState.FAIL]
        if not failed or len(trials) - len(failed) >= n_trials or len(failed) / len(trials) <= self.max_failure_rate:
            return None
        last = TrialRecord.of(failed[-1]).fail_reason or "its process died (no heartbeat)"
        return (
            f"{len(failed)} of its {len(trials)} trials failed, so it ends short of its budget of {n_trials} "
            f"(last: {last}); fix the cause and run the command again (or hepsweep resume {study.study_name})"
        )

    def retry_dead(self, study: optuna.Study, trial: FrozenTrial) -> str:
        """Queue a trial whose process died again (up to ``max_retry`` times); what happened, in a line."""
        if len(RetryHeartbeatStaleTrialCallback.retry_history(trial)) < self.max_retry:
            _queue_again(study, trial, self.max_retry)
            return f"trial {trial.number} stopped sending heartbeats (its process died): failed, queued again"
        return f"trial {trial.number} stopped sending heartbeats again: failed, not retried (max_retry)"

    def retry_lost(self, study: optuna.Study, trial: FrozenTrial) -> tuple[str, str | None]:
        """Queue a trial whose job the cluster ended (cancelled, over its time limit, its node
        lost) again, up to ``max_retry`` times: what happened, in a line, and the reason to stop
        the study once a trial has been lost more often than that (its losses cost no budget, so
        the study has not reached it)."""
        retries = len(RetryHeartbeatStaleTrialCallback.retry_history(trial))
        if retries < self.max_retry:
            _queue_again(study, trial, self.max_retry)
            return f"trial {trial.number} queued again with the same parameters (retry {retries + 1} of max_retry={self.max_retry})", None
        reason = TrialRecord.of(trial).fail_reason
        return f"trial {trial.number} not retried (max_retry={self.max_retry})", (
            f"trial {trial.number} was lost {retries + 1} time(s), last: {reason}; "
            "fix the cause (e.g. raise hydra.launcher.timeout_min) or raise hydra.sweeper.max_retry, then run the command again"
        )


def _queue_again(study: optuna.Study, trial: FrozenTrial, max_retry: int) -> None:
    """A WAITING trial with ``trial``'s parameters and its retry lineage (Optuna's retry
    callback), which starts a record of its own: no failure, run or figures of the one it retries."""
    fresh = copy.deepcopy(trial)
    own = {*TrialRecord.keys().values(), *(k for k in trial.user_attrs if is_metric(k))}
    fresh.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in own}
    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, fresh)


def _trained_any(study: optuna.Study) -> bool:
    return any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials(deepcopy=False))
