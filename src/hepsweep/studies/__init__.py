"""How each reference study is presented: the paper's kind of table and figure.

A sweep names its view with the top-level ``report`` key (``trials`` by default); the view is
rendered when the study ends (files logged to the study's MLflow parent run) and by
``hepsweep report STUDY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import optuna

from hepsweep.errors import ConfigError
from hepsweep.studies._view import StudyView, trial_rows, trials_view
from hepsweep.studies.batch_size import batch_size_view
from hepsweep.studies.cms import cms_view
from hepsweep.studies.hepmass import hepmass_view
from hepsweep.studies.hipster import hipster_view
from hepsweep.sweep.records import StudyRecord


VIEWS: dict[str, Callable[[optuna.Study, Path], StudyView]] = {
    "trials": trials_view,
    "hipster": hipster_view,
    "batch_size": batch_size_view,
    "hepmass": hepmass_view,
    "cms": cms_view,
}

__all__ = ["VIEWS", "StudyView", "render", "trial_rows"]


def render(study: optuna.Study, folder: Path, name: str | None = None) -> StudyView:
    """The study's view (its ``report`` key unless ``name`` is given), figures written to ``folder``."""
    chosen = name or StudyRecord.of(study).view or "trials"
    if chosen not in VIEWS:
        raise ConfigError(f"report view {chosen!r} is unknown; use one of {sorted(VIEWS)}")
    folder.mkdir(parents=True, exist_ok=True)
    return VIEWS[chosen](study, folder)
