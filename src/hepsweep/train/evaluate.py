"""Test-set figures of a trained classifier: every figure of merit of :mod:`hepsweep.metrics`,
weighted by the events' weights when the data has them, the confusion counts and the speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix

from hepsweep.metrics import (
    ACCURACY, AUC, INFERENCE_US_PER_EVENT, LOSS, Metric, Scored, accuracy, compute, log_loss, roc_auc,
)


@dataclass
class Evaluation:
    """Scores of one model on one split; ``probabilities`` has one column per class."""

    figures: dict[str, float]  # metric name -> value (test_accuracy, test_auc, working points, ...)
    confusion: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    inference_us_per_event: float


def class_probabilities(raw: np.ndarray) -> np.ndarray:
    """(N, K) probabilities from a model output: one sigmoid column becomes [1-p, p]."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1 or raw.shape[1] == 1:
        p = raw.reshape(-1)
        return np.column_stack([1.0 - p, p])
    return raw


def scores(raw: np.ndarray, labels: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, exact ROC AUC and log loss of raw model outputs (weighted when ``weights`` is
    given): the figures every split reports, per epoch on the validation split (what pruning
    and early stopping watch) and at the end."""
    probabilities = class_probabilities(raw)
    if not np.isfinite(probabilities).all():  # a diverged model: the NaN guard reports it
        return {ACCURACY: float("nan"), AUC: float("nan"), LOSS: float("nan")}
    if probabilities.shape[1] < n_classes:
        probabilities = np.pad(probabilities, ((0, 0), (0, n_classes - probabilities.shape[1])))
    return {
        ACCURACY: accuracy(labels, probabilities, weights),
        AUC: roc_auc(labels, probabilities, weights),
        LOSS: log_loss(labels, probabilities, weights),
    }


def evaluate(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    metrics: Sequence[Metric],
    signal_class: int | None = None,
    weights: np.ndarray | None = None,
) -> Evaluation:
    """Score ``predict`` (inputs -> raw model outputs) on ``x`` with the test ``metrics``; times
    the whole forward pass per event."""
    start = time.perf_counter()
    probabilities = class_probabilities(predict(x))
    elapsed = time.perf_counter() - start
    predicted = probabilities.argmax(axis=1)
    figures = compute(metrics, Scored(labels, probabilities, weights, signal_class))
    speed = 1e6 * elapsed / max(len(labels), 1)
    figures[INFERENCE_US_PER_EVENT] = speed
    return Evaluation(
        figures=figures,
        confusion=confusion_matrix(labels, predicted, labels=list(range(n_classes))),
        probabilities=probabilities,
        labels=labels,
        weights=weights,
        inference_us_per_event=speed,
    )
