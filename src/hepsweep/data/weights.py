"""Per-event weights in training: classes balanced, negative weights kept, dropped or made absolute.

The events keep their physical weights (cross-section x luminosity / generated events, generator
weights) for every figure of merit; only the training loss sees the weights made here. Data
without weights trains without ``sample_weight``, exactly as before weights existed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hepsweep.errors import ConfigError, DataError

NEGATIVE_WEIGHT_POLICIES = ("keep", "drop", "abs")


def check_policy(policy: str) -> str:
    if policy not in NEGATIVE_WEIGHT_POLICIES:
        raise ConfigError(
            f"dataset.negative_weights={policy!r} is unknown; use keep (train on them as they are), "
            "drop (weight 0 in training) or abs (their absolute value)"
        )
    return policy


def check_class_totals(labels: np.ndarray, weights: np.ndarray, class_names: Sequence[str], where: str) -> None:
    """Refuse a class whose weights sum to zero or less: it would weigh nothing (or less than
    nothing) in training and in every efficiency."""
    for k, name in enumerate(class_names):
        total = float(weights[labels == k].sum())
        if (labels == k).any() and not total > 0:
            raise DataError(
                f"the weights of class {name} in {where} sum to {total:.4g}; check dataset.weight "
                "(a weight branch of zeros, or mostly negative weights) or dataset.selection"
            )


def training_weights(
    labels: np.ndarray, weights: np.ndarray | None, n_classes: int, balance: bool, negative: str
) -> np.ndarray | None:
    """The ``sample_weight`` of the training events: None without weights; otherwise the
    weights after the negative-weight policy, each class scaled to the same total when
    ``balance``, and all scaled to a mean of 1 (so the learning rate means what it did)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).copy()
    if check_policy(negative) == "drop":
        w[w < 0] = 0.0
    elif negative == "abs":
        w = np.abs(w)
    if balance:
        present = [k for k in range(n_classes) if (labels == k).any()]
        for k in present:
            total = w[labels == k].sum()
            if total > 0:
                w[labels == k] *= len(labels) / len(present) / total
    mean = w.mean() if len(w) else 1.0
    return (w / mean if mean > 0 else w).astype(np.float32)
