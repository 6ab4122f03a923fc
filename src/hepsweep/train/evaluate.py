"""Test-set figures of a trained classifier: accuracy, ROC AUC, loss, confusion, speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score, roc_curve


@dataclass
class Evaluation:
    """Scores of one model on one split; ``probabilities`` has one column per class."""

    accuracy: float
    auc: float
    loss: float
    confusion: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    balanced_efficiency: float | None
    background_rejection: float | None
    inference_us_per_event: float


def class_probabilities(raw: np.ndarray) -> np.ndarray:
    """(N, K) probabilities from a model output: one sigmoid column becomes [1-p, p]."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1 or raw.shape[1] == 1:
        p = raw.reshape(-1)
        return np.column_stack([1.0 - p, p])
    return raw


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary ROC AUC, or the macro one-vs-rest AUC for several classes; NaN when undefined."""
    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    if len(present) < probabilities.shape[1]:
        scores = [roc_auc_score(labels == k, probabilities[:, k]) for k in present]
        return float(np.mean(scores))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"))


def balanced_efficiency(labels: np.ndarray, predicted: np.ndarray, signal: int) -> float:
    """The mean of the signal efficiency and the background rejection (1 - background efficiency)
    of the argmax decision, each background class weighted equally: the CMS event-image paper's
    "signal-vs-background efficiency with 50/50 weights"."""
    signal_eff = float(np.mean(predicted[labels == signal] == signal))
    rejections = [
        float(np.mean(predicted[labels == k] != signal)) for k in np.unique(labels) if k != signal
    ]
    return 0.5 * (signal_eff + float(np.mean(rejections)))


SIGNAL_EFFICIENCY_WORKING_POINT = 0.5


def background_rejection(
    labels: np.ndarray, probabilities: np.ndarray, signal: int, signal_efficiency: float = SIGNAL_EFFICIENCY_WORKING_POINT
) -> float:
    """Background rejection 1/eps_B at a fixed signal efficiency eps_S (a cut on the signal
    class's probability that keeps that fraction of signal): the tagging figure of merit.
    Capped at the number of background events when no background passes; NaN without both."""
    is_signal = labels == signal
    n_background = int((~is_signal).sum())
    if n_background == 0 or not is_signal.any():
        return float("nan")
    false_positive, true_positive, _ = roc_curve(is_signal, probabilities[:, signal])
    reached = int(np.argmax(true_positive >= signal_efficiency))  # the first cut keeping enough signal
    if reached == 0 or true_positive[reached] == signal_efficiency:
        eps_b = float(false_positive[reached])
    else:  # between two cuts: interpolate along the ROC curve
        span = slice(reached - 1, reached + 1)
        eps_b = float(np.interp(signal_efficiency, true_positive[span], false_positive[span]))
    return 1.0 / max(eps_b, 1.0 / n_background)


def scores(raw: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, exact ROC AUC and log loss of raw model outputs: the figures every split reports,
    per epoch on the validation split (what pruning and early stopping watch) and at the end."""
    probabilities = class_probabilities(raw)
    if not np.isfinite(probabilities).all():  # a diverged model: the NaN guard reports it
        return {"accuracy": float("nan"), "auc": float("nan"), "loss": float("nan")}
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return {
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
        "auc": roc_auc(labels, probabilities),
        "loss": float(log_loss(labels, clipped, labels=list(range(n_classes)))),
    }


def evaluate(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    signal_class: int | None = None,
) -> Evaluation:
    """Score ``predict`` (inputs -> raw model outputs) on ``x``; times the whole pass per event."""
    start = time.perf_counter()
    probabilities = class_probabilities(predict(x))
    elapsed = time.perf_counter() - start
    predicted = probabilities.argmax(axis=1)
    figures = scores(probabilities, labels, n_classes)
    return Evaluation(
        accuracy=figures["accuracy"],
        auc=figures["auc"],
        loss=figures["loss"],
        confusion=confusion_matrix(labels, predicted, labels=list(range(n_classes))),
        probabilities=probabilities,
        labels=labels,
        balanced_efficiency=None if signal_class is None else balanced_efficiency(labels, predicted, signal_class),
        background_rejection=None if signal_class is None else background_rejection(labels, probabilities, signal_class),
        inference_us_per_event=1e6 * elapsed / max(len(labels), 1),
    )
