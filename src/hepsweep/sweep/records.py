"""How a trial's record in the study reads: derived figures every view agrees on."""

from __future__ import annotations

from optuna.trial import FrozenTrial


def pruned_after_epoch(trial: FrozenTrial) -> int:
    """The last epoch a trial reported before it was pruned. Epochs count from 1 everywhere: on
    the console, as Optuna's intermediate steps and as MLflow's metric steps."""
    return int(trial.last_step or 0)
