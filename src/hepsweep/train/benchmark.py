"""HIPSTER's benchmarking mode: one folder per training with everything needed to compare runs.

The folder holds a restorable Keras checkpoint, TensorBoard logs, the resolved config, ROC (and
confusion-matrix) PNGs, the per-epoch history, and a summary both as JSON and as one line of
text (accuracy, AUC, loss, time to train, epochs, early stopping, pruning, hyperparameters).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hepsweep.metrics import EARLY_STOPPED, Shown, shown_in

SUMMARY_JSON = "summary.json"
SUMMARY_TXT = "summary.txt"
CHECKPOINT = "checkpoint/model.keras"
TENSORBOARD = "tensorboard"
HISTORY = "history.csv"


@dataclass
class RunSummary:
    """What one training produced; ``status`` is complete, pruned or failed."""

    status: str
    dataset: str
    model: str
    metrics: dict[str, float] = field(default_factory=dict)
    epochs_run: int = 0
    epochs_planned: int = 0
    early_stopped: bool = False
    pruned: bool = False
    pruned_after_epoch: int | None = None  # counted from 1, as the console says it
    failure: str | None = None
    device: str = "cpu"
    train_started_at: str | None = None  # when fit began (ISO 8601, UTC)
    utilisation: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def one_line(self) -> str:
        def fmt(value: Any) -> str:
            if isinstance(value, bool):
                return "yes" if value else "no"
            if isinstance(value, float):
                return "nan" if math.isnan(value) else f"{value:.4g}"
            return str(value)

        shown = {
            "status": self.status,
            **{name: self.metrics[name] for name in shown_in(Shown.LINE, self.metrics)},
            "epochs": self.epochs_run,
            EARLY_STOPPED: self.early_stopped,
            "pruned": self.pruned,
            "dataset": self.dataset,
            "model": self.model,
        }
        return " ".join(f"{k}={fmt(v)}" for k, v in shown.items() if v is not None)

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SUMMARY_JSON).write_text(json.dumps(asdict(self), indent=2, default=_jsonable) + "\n")
        (folder / SUMMARY_TXT).write_text(self.one_line() + "\n")

    @classmethod
    def read(cls, folder: Path) -> "RunSummary":
        return cls(**json.loads((folder / SUMMARY_JSON).read_text()))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

