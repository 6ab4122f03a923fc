"""Where an exported or registered model comes from (no heavy imports: the sweep layer reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Origin:
    """Where the exported model comes from: a study's trial, or a run folder alone."""

    label: str
    study: str | None = None
    trial: int | None = None
    objective: str | None = None
    value: float | None = None
    run_id: str | None = None  # the trial's MLflow run

    def describe(self) -> dict[str, Any]:
        return {"study": self.study, "trial": self.trial, "objective": self.objective, "objective_value": self.value}
