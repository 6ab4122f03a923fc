"""Events, labels and (optionally) per-event weights, kept together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepsweep.errors import DataError


@dataclass
class Arrays:
    """Events ``x`` (N, ...), integer class labels ``y`` (N,), per-event weights ``w`` (N,) or
    None when every event counts 1, and the names of ``x``'s columns when they have names."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray | None = None
    columns: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(
                f"the data has {len(self.x)} events but {len(self.y)} labels; "
                "fix the file so that x and y have the same length"
            )
        if self.w is not None and len(self.w) != len(self.y):
            raise DataError(
                f"the data has {len(self.y)} events but {len(self.w)} weights; "
                "give one weight per event"
            )

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> "Arrays":
        weights = None if self.w is None else np.asarray(self.w[index])
        return Arrays(np.asarray(self.x[index]), np.asarray(self.y[index]), weights, self.columns)
