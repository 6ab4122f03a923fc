"""The common shape of a study view and the generic one (a row per trial)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState


@dataclass
class StudyView:
    """A table to print, figures written to disk, and headline lines (ours next to the paper's)."""

    table: pd.DataFrame
    figures: list[Path] = field(default_factory=list)
    headlines: list[str] = field(default_factory=list)
    title: str = ""


def trials_view(study: optuna.Study, folder: Path) -> StudyView:
    from hepsweep.sweep.report import study_table

    return StudyView(study_table(study), title=f"study {study.study_name}")


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
    folder = trial.user_attrs.get("output_dir")
    path = Path(folder) / "confusion_matrix.json" if folder else None
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data["class_names"], data["counts"]


def param_or_attr(trial: FrozenTrial, *keys: str) -> Any:
    """The first of ``keys`` found among the trial's params, then its recorded attributes."""
    for key in keys:
        if key in trial.params:
            return trial.params[key]
    for key in keys:
        if key in trial.user_attrs:
            return trial.user_attrs[key]
    return None
