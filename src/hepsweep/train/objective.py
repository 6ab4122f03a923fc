"""What a run returns to a sweep: one or more named metrics (rows of :mod:`hepsweep.metrics`),
and the epoch metric that stands for them while training (what pruning and early stopping watch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import ListConfig

from hepsweep.errors import ConfigError
from hepsweep.metrics import MIN, metric


def prunable(n_objectives: int) -> bool:
    """Whether a study of ``n_objectives`` objectives can prune its trials: Optuna prunes, and
    takes a trial's per-epoch reports, only in a study of one objective."""
    return n_objectives == 1


@dataclass(frozen=True)
class Objective:
    names: tuple[str, ...]

    @classmethod
    def parse(cls, value: Any) -> "Objective":
        names = tuple(value) if isinstance(value, (list, tuple, ListConfig)) else (value,)
        if not names:
            raise ConfigError("objective is empty; name at least one metric, e.g. objective=val_auc")
        for name in names:
            metric(str(name))  # refuses an unknown name in one line
        return cls(tuple(str(n) for n in names))

    @property
    def prunable(self) -> bool:
        """Whether a trial of this objective reports its epochs and may be pruned."""
        return prunable(len(self.names))

    @property
    def monitor(self) -> str:
        """The Keras epoch metric reported for pruning and watched by early stopping."""
        return metric(self.names[0]).monitor

    @property
    def monitor_mode(self) -> str:
        return "min" if metric(self.monitor).direction == MIN else "max"

    @property
    def directions(self) -> list[str]:
        return [metric(n).direction for n in self.names]

    def value(self, metrics: Mapping[str, Any]) -> float | list[float]:
        missing = [name for name in self.names if name not in metrics]
        if missing:
            raise ConfigError(
                f"objective={missing[0]} is not measured for this run (a dataset without a signal class has no "
                "signal-vs-background figures); choose another objective"
            )
        values = [float(metrics[name]) for name in self.names]
        return values[0] if len(values) == 1 else values
