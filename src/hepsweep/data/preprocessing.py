"""Splitting events into train/validation/test and scaling fitted on the training split only."""

from __future__ import annotations

from typing import Any

import numpy as np

from hepsweep.data.arrays import Arrays
from hepsweep.errors import ConfigError


def split_fractions(split: Any) -> tuple[float, float, float]:
    """Validate ``dataset.split`` and return its (train, val, test) fractions."""
    fractions = (float(split.train), float(split.val), float(split.test))
    if min(fractions) < 0 or fractions[0] <= 0 or fractions[1] <= 0:
        raise ConfigError(
            f"dataset.split must give positive train and val fractions, got {fractions}; "
            "e.g. dataset.split.train=0.7 dataset.split.val=0.15 dataset.split.test=0.15"
        )
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(
            f"dataset.split fractions add up to {sum(fractions):.3f}, not 1; adjust them"
        )
    return fractions


def split_indices(
    n_events: int, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded shuffle of ``range(n_events)`` cut into train, validation and test indices."""
    order = np.random.default_rng(seed).permutation(n_events)
    n_train = int(round(fractions[0] * n_events))
    n_val = int(round(fractions[1] * n_events))
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


class Scaler:
    """Feature standardisation or image normalisation, fitted on the training split.

    Feature vectors get a per-column mean/std (this also scales HEPMASS's unnormalised mass
    column); float images are divided by a high percentile of the training pixels; uint8 images
    are left as bytes and divided by 255 inside the input pipeline, which keeps them 4x smaller.
    """

    def __init__(self) -> None:
        self.kind = "identity"
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.divisor = 1.0

    def fit(self, x: np.ndarray) -> "Scaler":
        if x.dtype == np.uint8:
            self.kind, self.divisor = "bytes", 255.0
        elif x.ndim == 2:
            self.kind = "standardize"
            self.mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
            std = x.std(axis=0, dtype=np.float64).astype(np.float32)
            self.std = np.where(std > 0, std, 1.0).astype(np.float32)
        else:
            self.kind = "divide"
            self.divisor = float(np.percentile(x, 99.9)) or 1.0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "bytes":
            return np.asarray(x)
        if self.kind == "standardize":
            assert self.mean is not None and self.std is not None
            return ((x - self.mean) / self.std).astype(np.float32)
        return (np.asarray(x, dtype=np.float32) / self.divisor).astype(np.float32)

    def apply(self, arrays: Arrays) -> Arrays:
        return Arrays(self.transform(arrays.x), arrays.y, arrays.w, arrays.columns)

    def to_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": self.kind, "divisor": self.divisor}
        if self.mean is not None and self.std is not None:
            state.update(mean=self.mean.tolist(), std=self.std.tolist())
        return state
