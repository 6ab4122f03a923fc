"""The trial a study hands to production: its best complete one, or one the user names.

Used by ``hepsweep export`` and ``hepsweep register`` and by the Model Registry's observer;
every refusal is one line that says what to do instead.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from hepsweep.errors import StudyError
from hepsweep.export.origin import Origin
from hepsweep.sweep.records import StudyRecord, TrialRecord, pruned_after_epoch
from hepsweep.train.benchmark import CHECKPOINT


_STATE_WORDS = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def pick_trial(study: optuna.Study, number: int | None = None) -> FrozenTrial:
    """Trial ``number`` of ``study`` when given, else its best complete trial; it must be
    complete and have left a checkpoint."""
    name = study.study_name
    trials = study.get_trials(deepcopy=False)
    if number is None:
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if not complete:
            states = ", ".join(f"{sum(t.state == s for t in trials)} {_STATE_WORDS[s]}" for s in TrialState if any(t.state == s for t in trials))
            raise StudyError(
                f"study '{name}' has no complete trial to export ({states or 'no trials'}); "
                f"run more trials with hepsweep resume {name} --n-trials N"
            )
        if len(study.directions) > 1:
            raise StudyError(f"study '{name}' has several objectives, so no single best trial; pass --trial N (hepsweep report {name} lists them)")
        trial = study.best_trial
    else:
        found = [t for t in trials if t.number == number]
        if not found:
            raise StudyError(f"study '{name}' has no trial {number}; it has trials 0..{len(trials) - 1}")
        trial = found[0]
    if trial.state == TrialState.PRUNED:
        raise StudyError(
            f"trial {trial.number} of study '{name}' was pruned after epoch {pruned_after_epoch(trial)} and holds "
            f"no finished model; export a complete trial (hepsweep report {name} --top 5 lists the best)"
        )
    if trial.state != TrialState.COMPLETE:
        reason = TrialRecord.of(trial).fail_reason
        raise StudyError(
            f"trial {trial.number} of study '{name}' {'failed' if trial.state == TrialState.FAIL else 'is ' + _STATE_WORDS[trial.state]}"
            f"{f' ({reason})' if reason else ''} and holds no finished model; export a complete trial "
            f"(hepsweep report {name} --top 5 lists the best)"
        )
    return trial


def trial_folder(study: optuna.Study, trial: FrozenTrial) -> Path:
    """The run folder of a complete trial, which must hold its checkpoint."""
    folder = TrialRecord.of(trial).output_dir
    if not folder or not (Path(folder) / CHECKPOINT).is_file():
        raise StudyError(
            f"trial {trial.number} of study '{study.study_name}' left no {CHECKPOINT} "
            f"(in {folder or 'no recorded folder'}); sweep with train.checkpoint=true"
        )
    return Path(folder)


def trial_origin(study: optuna.Study, trial: FrozenTrial) -> Origin:
    """What an exported or registered model says about where it comes from."""
    names = StudyRecord.of(study).objective_names or ["value"]
    return Origin(
        label=f"{study.study_name}-trial{trial.number}",
        study=study.study_name,
        trial=trial.number,
        objective=names[0],
        value=float(trial.values[0]) if trial.values else None,
        run_id=TrialRecord.of(trial).run_id,
    )
