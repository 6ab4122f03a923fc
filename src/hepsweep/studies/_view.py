"""What the reference studies' views share: picking trials, the best on the objective, confusion counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hepsweep.sweep.records import TrialRecord
from hepsweep.sweep.report import StudyView, trials_view

__all__ = ["StudyView", "best_on_objective", "confusion_of", "param_or_attr", "trial_rows", "trials_view"]


def trial_rows(study: optuna.Study, states: tuple[TrialState, ...] = (TrialState.COMPLETE,)) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state in states]


def best_on_objective(study: optuna.Study, trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The trial among ``trials`` that the study ranks first on its (first) objective, never on
    a test figure: choosing on the test split would leak it into the selection."""
    scored = [t for t in trials if t.values]
    if not scored:
        return None
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(scored, key=lambda t: sign * t.values[0])


def confusion_of(trial: FrozenTrial) -> tuple[list[str], list[list[int]]] | None:
    folder = TrialRecord.of(trial).output_dir
    path = Path(folder) / "confusion_matrix.json" if folder else None
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data["class_names"], data["counts"]


def param_or_attr(trial: FrozenTrial, *keys: str) -> Any:
    """The first of ``keys`` found among the trial's params, then among its record's fields."""
    for key in keys:
        if key in trial.params:
            return trial.params[key]
    record = TrialRecord.of(trial)
    return next((value for key in keys if (value := getattr(record, key, None)) is not None), None)
