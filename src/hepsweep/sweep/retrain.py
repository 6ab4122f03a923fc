"""``hydra.sweeper.retrain_best``: train the best trial's parameters once more, outside the budget.

The retrained run gets the sweep's ``retrain_overrides`` (more epochs, the full training set,
...), its own MLflow run under the study's, and its test figures (from the record its job hands
back) in ``optimization_results.yaml`` and on the study (``StudyRecord.retrained``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from hepsweep.metrics import TEST
from hepsweep.sweep.outcome import JobOutcome, JobRequest, Launch, classify
from hepsweep.sweep.records import RunRole, RunTag, StudyRecord
from hepsweep.sweep.study_tracking import StudyTracking
from hepsweep.sweep.trial_link import TrialLink

RETRAINED_DIR = "best_retrained"


def retrain_best(
    study: optuna.Study,
    launch: Launch,
    tracking: StudyTracking,
    study_dir: Path,
    emit: Callable[[str], None],
) -> dict[str, Any] | None:
    """Retrain the best complete trial; its figures (test ones included), or None when the study
    has no single best trial."""
    trials = study.get_trials(deepcopy=False)
    if len(study.directions) > 1 or not any(t.state == TrialState.COMPLETE for t in trials):
        return None
    best = study.best_trial
    params = dict(best.params)
    run_id = tracking.start_child(study, "best-retrained", params, {RunTag.ROLE: RunRole.RETRAINED, RunTag.TRIAL: best.number})
    job = JobRequest(
        params=params,
        index=len(trials),
        link=TrialLink(tracking_uri=tracking.uri if run_id else None, run_id=run_id),
        folder=RETRAINED_DIR,
        retrain=True,
    )
    emit(f"retraining the best trial ({best.number}) in {study_dir / RETRAINED_DIR}")
    try:
        outcome = launch(job)
    except Exception as exc:
        outcome = JobOutcome(error=exc)
    state, values, reason, _ = classify(outcome, 1)
    tracking.end_trial(run_id, state.name, values, {RunTag.FAIL_REASON: reason} if reason else {})
    figures: dict[str, Any] = {"trial": best.number, "params": params}
    if reason:
        figures["failure"] = reason
        emit(f"retraining the best trial failed: {reason}")
        return figures
    figures["value"] = values[0] if values else None
    result = outcome.result  # the figures the job handed back (none from a plain value)
    if result is not None:
        figures.update({k: v for k, v in result.figures.items() if k.startswith(TEST)})
    shown = ", ".join(f"{k}={v:.4g}" for k, v in figures.items() if isinstance(v, float))
    emit(f"best trial {best.number} retrained: {shown}")
    StudyRecord.write(study, retrained=figures)
    return figures
