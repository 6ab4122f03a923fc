"""Events and labels as a pair of arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepsweep.errors import DataError


@dataclass
class Arrays:
    """Events ``x`` (N, ...) and integer class labels ``y`` (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(
                f"the data has {len(self.x)} events but {len(self.y)} labels; "
                "fix the file so that x and y have the same length"
            )

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> "Arrays":
        return Arrays(np.asarray(self.x[index]), np.asarray(self.y[index]))
