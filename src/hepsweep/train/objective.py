"""What a run returns to a sweep: one or more named metrics, and the epoch metric that stands
for them while training (what pruning and early stopping watch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import ListConfig

from hepsweep.errors import ConfigError

# objective name -> (per-epoch Keras metric that tracks it, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "val_auc": ("val_auc", "maximize"),
    "val_accuracy": ("val_accuracy", "maximize"),
    "val_loss": ("val_loss", "minimize"),
    "test_auc": ("val_auc", "maximize"),
    "test_accuracy": ("val_accuracy", "maximize"),
    "test_loss": ("val_loss", "minimize"),
    "test_balanced_efficiency": ("val_accuracy", "maximize"),
    "test_bkg_rejection_at_50pct_sig": ("val_auc", "maximize"),
    "inference_us_per_event": ("val_loss", "minimize"),
    "train_time_s": ("val_loss", "minimize"),
    "n_params": ("val_loss", "minimize"),
}
# names of earlier releases -> today's
RENAMED = {"signal_efficiency": "test_balanced_efficiency"}


@dataclass(frozen=True)
class Objective:
    names: tuple[str, ...]

    @classmethod
    def parse(cls, value: Any) -> "Objective":
        names = tuple(value) if isinstance(value, (list, tuple, ListConfig)) else (value,)
        for name in names:
            if name in RENAMED:
                raise ConfigError(f"objective={name} is now called {RENAMED[name]}; write objective={RENAMED[name]}")
            if name not in OBJECTIVES:
                raise ConfigError(f"objective={name!r} is unknown; use one of {sorted(OBJECTIVES)}")
        if not names:
            raise ConfigError("objective is empty; name at least one metric, e.g. objective=val_auc")
        return cls(tuple(str(n) for n in names))

    @property
    def monitor(self) -> str:
        """The Keras epoch metric reported for pruning and watched by early stopping."""
        return OBJECTIVES[self.names[0]][0]

    @property
    def monitor_mode(self) -> str:
        return "min" if self.monitor.endswith("loss") else "max"

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[n][1] for n in self.names]

    def value(self, metrics: Mapping[str, Any]) -> float | list[float]:
        missing = [name for name in self.names if name not in metrics]
        if missing:
            raise ConfigError(
                f"objective={missing[0]} is not measured for this run (a dataset without a signal class has no "
                "test_balanced_efficiency); choose another objective"
            )
        values = [float(metrics[name]) for name in self.names]
        return values[0] if len(values) == 1 else values
