"""The one table of what hepsweep measures: each metric's name, direction, how it is computed,
the per-epoch figure that stands for it while a model trains, and where it is shown.

Every other module asks this table: the objective a run returns (``objective=...``), the
figures a trial records and ``hepsweep report`` prints, the columns of the study's MLflow view
and of the reference studies' views. Each name is spelled once, as a constant beside the table
(``TEST_AUC``; the per-epoch figures as Keras logs them: ``LOSS``, ``ACCURACY``, ``AUC``, under a
split's prefix), and imported wherever it is used.
A working point is a family of metrics, one per signal efficiency:
``test_bkg_rejection_at_30pct_sig`` is the background rejection 1/eps_B where 30% of the
signal passes; ``metrics.signal_efficiencies`` chooses which are measured, and any one named
as the objective is measured too.

The test figures are computed here from a model's class probabilities, with per-event weights
when the data has them (negative weights included: the ROC curve is integrated as it comes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from hepsweep.errors import ConfigError


class Shown(str, Enum):
    """Where a metric appears besides the run's own summary and MLflow metrics."""

    REPORT = "report"  # a column of ``hepsweep report`` (recorded on the trial)
    VIEW = "view"  # a column of the study's runs view in MLflow's UI
    LINE = "line"  # the run's one-line summary (console, summary.txt)


@dataclass(frozen=True)
class Scored:
    """What the test figures are computed from: labels, class probabilities (one column per
    class), per-event weights (None: every event counts 1) and the signal class (None: no
    signal-vs-background figures)."""

    labels: np.ndarray
    probabilities: np.ndarray
    weights: np.ndarray | None
    signal_class: int | None


@dataclass(frozen=True)
class Metric:
    """One row of the table."""

    name: str
    direction: str  # "maximize" or "minimize"
    monitor: str  # the per-epoch validation figure that pruning and early stopping watch for it
    description: str
    shown: frozenset[Shown] = frozenset()
    compute: Callable[[Scored], float | None] | None = None  # test figures; None: measured by training


# ---------------------------------------------------------------------------------------------
# How the test figures are computed


def weighted_roc(is_signal: np.ndarray, score: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(background efficiency, signal efficiency) at every distinct cut on ``score``."""
    from sklearn.metrics import roc_curve  # heavy: scikit-learn, for the figures only (the table stays light)

    false_positive, true_positive, _ = roc_curve(is_signal, score, sample_weight=weights, drop_intermediate=False)
    return false_positive, true_positive


def binary_auc(is_signal: np.ndarray, score: np.ndarray, weights: np.ndarray | None) -> float:
    """The area under the (weighted) ROC curve, integrated along the curve as it comes (with
    negative weights it need not be monotonic); NaN without both classes."""
    if is_signal.all() or not is_signal.any():
        return float("nan")
    fpr, tpr = weighted_roc(is_signal, score, weights)
    if not (np.isfinite(fpr).all() and np.isfinite(tpr).all()):
        return float("nan")
    return float(np.trapezoid(tpr, fpr))


def roc_auc(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Binary ROC AUC, or the macro average of one-vs-rest AUCs for several classes."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    if probabilities.shape[1] == 2:
        return binary_auc(labels == 1, probabilities[:, 1], weights)
    per_class = [binary_auc(labels == k, probabilities[:, k], weights) for k in np.unique(labels)]
    return float(np.mean(per_class))


def accuracy(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) fraction of events whose most probable class is their own."""
    correct = probabilities.argmax(axis=1) == labels
    return float(np.mean(correct)) if weights is None else float(np.sum(weights * correct) / np.sum(weights))


def log_loss(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) mean cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]."""
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    per_event = -np.log(clipped[np.arange(len(labels)), labels])
    return float(np.mean(per_event)) if weights is None else float(np.sum(weights * per_event) / np.sum(weights))


def balanced_efficiency(labels: np.ndarray, predicted: np.ndarray, signal: int, weights: np.ndarray | None = None) -> float:
    """The mean of the signal efficiency and the background rejection (1 - background
    efficiency) of the argmax decision, each background class weighted equally: the CMS
    event-image paper's "signal-vs-background efficiency with 50/50 weights"."""
    w = np.ones(len(labels)) if weights is None else weights

    def share(mask: np.ndarray, passing: np.ndarray) -> float:
        return float(np.sum(w[mask] * passing[mask]) / np.sum(w[mask]))

    signal_eff = share(labels == signal, predicted == signal)
    rejections = [share(labels == k, predicted != signal) for k in np.unique(labels) if k != signal]
    return 0.5 * (signal_eff + float(np.mean(rejections)))


def background_rejection(scored: Scored, signal_efficiency: float) -> float | None:
    """Background rejection 1/eps_B at a fixed signal efficiency eps_S (the cut on the signal
    class's probability that keeps that fraction of the signal's weight), interpolated along
    the ROC curve; capped at the number of background events when no background passes."""
    curve = _signal_curve(scored)
    if curve is None:
        return None
    fpr, tpr, n_background = curve
    reached = int(np.argmax(tpr >= signal_efficiency))  # the first cut keeping enough signal
    if reached == 0 or tpr[reached] == signal_efficiency:
        eps_b = float(fpr[reached])
    else:  # between two cuts: interpolate along the ROC curve
        span = slice(reached - 1, reached + 1)
        eps_b = float(np.interp(signal_efficiency, tpr[span], fpr[span]))
    return 1.0 / max(eps_b, 1.0 / n_background)


def max_significance_improvement(scored: Scored) -> float | None:
    """The largest eps_S / sqrt(eps_B) over all cuts on the signal probability (eps_B floored at
    one background event's share, as the rejection is capped)."""
    curve = _signal_curve(scored)
    if curve is None:
        return None
    fpr, tpr, n_background = curve
    return float(np.max(tpr / np.sqrt(np.maximum(fpr, 1.0 / n_background))))


def _signal_curve(scored: Scored) -> tuple[np.ndarray, np.ndarray, int] | None:
    if scored.signal_class is None:
        return None
    is_signal = scored.labels == scored.signal_class
    n_background = int((~is_signal).sum())
    if n_background == 0 or not is_signal.any():
        return None
    fpr, tpr = weighted_roc(is_signal, scored.probabilities[:, scored.signal_class], scored.weights)
    return fpr, tpr, n_background


def _balanced(scored: Scored) -> float | None:
    if scored.signal_class is None:
        return None
    predicted = scored.probabilities.argmax(axis=1)
    return balanced_efficiency(scored.labels, predicted, scored.signal_class, scored.weights)


# ---------------------------------------------------------------------------------------------
# The table

MAX, MIN = "maximize", "minimize"
_REPORT, _VIEW, _LINE = Shown.REPORT, Shown.VIEW, Shown.LINE

# The names, each spelled here once: every other module imports them, and tests/test_metrics.py
# fails on a metric's name written out anywhere else in src/.

# what a figure's name starts with for the split it is measured on; Keras logs the training
# split's figures with no prefix, the trackers show them under TRAINING's
TRAINING, VALIDATION, TEST = "train_", "val_", "test_"
# the per-epoch figures, without their split: Keras' loss, the accuracy the model is compiled
# with (under this Keras name) and the exact ROC AUC that ValidationScores adds
LOSS, ACCURACY, AUC = "loss", "accuracy", "auc"
EPOCH_FIGURES = (LOSS, ACCURACY, AUC)  # in the order the epoch line prints them

VAL_AUC, VAL_ACCURACY, VAL_LOSS = VALIDATION + AUC, VALIDATION + ACCURACY, VALIDATION + LOSS
TEST_ACCURACY, TEST_AUC, TEST_LOSS = TEST + ACCURACY, TEST + AUC, TEST + LOSS
TEST_BALANCED_EFFICIENCY = "test_balanced_efficiency"
TEST_MAX_SIGNIFICANCE_IMPROVEMENT = "test_max_significance_improvement"
INFERENCE_US_PER_EVENT = "inference_us_per_event"
TRAIN_TIME_S = "train_time_s"
TIME_PER_EPOCH_S = "time_per_epoch_s"
N_PARAMS = "n_params"
EPOCHS_RUN = "epochs_run"
SAMPLES_PER_S = "samples_per_s"
CPU_PERCENT_MEAN = "cpu_percent_mean"
GPU_UTIL_PERCENT_MEAN = "gpu_util_percent_mean"
EARLY_STOPPED = "early_stopped"

WORKING_POINT = re.compile(r"test_bkg_rejection_at_(\d{1,2})pct_sig")
WORKING_POINT_SLOT = "test_bkg_rejection_at_{pct}pct_sig"  # where working points stand in the table

TABLE: tuple[Metric, ...] = (
    Metric(VAL_AUC, MAX, VAL_AUC, "ROC AUC on the validation split (weighted), after the epoch kept", frozenset({_LINE})),
    Metric(VAL_ACCURACY, MAX, VAL_ACCURACY, "accuracy on the validation split (weighted)", frozenset({_LINE})),
    Metric(VAL_LOSS, MIN, VAL_LOSS, "cross-entropy on the validation split (weighted)"),
    Metric(TEST_ACCURACY, MAX, VAL_ACCURACY, "accuracy on the untouched test split (weighted)",
           frozenset({_REPORT, _VIEW, _LINE}), lambda s: accuracy(s.labels, s.probabilities, s.weights)),
    Metric(TEST_AUC, MAX, VAL_AUC, "ROC AUC on the test split (weighted; macro one-vs-rest for several classes)",
           frozenset({_REPORT, _VIEW, _LINE}), lambda s: roc_auc(s.labels, s.probabilities, s.weights)),
    Metric(TEST_LOSS, MIN, VAL_LOSS, "cross-entropy on the test split (weighted)",
           frozenset({_LINE}), lambda s: log_loss(s.labels, s.probabilities, s.weights)),
    Metric(TEST_BALANCED_EFFICIENCY, MAX, VAL_ACCURACY,
           "mean of signal efficiency and background rejection of the argmax decision (signal class only)",
           frozenset({_REPORT}), _balanced),
    Metric(WORKING_POINT_SLOT, MAX, VAL_AUC,
           "background rejection 1/eps_B at that signal efficiency (metrics.signal_efficiencies)", frozenset({_REPORT})),
    Metric(TEST_MAX_SIGNIFICANCE_IMPROVEMENT, MAX, VAL_AUC,
           "the largest eps_S/sqrt(eps_B) over cuts on the signal probability", frozenset({_REPORT}),
           max_significance_improvement),
    Metric(INFERENCE_US_PER_EVENT, MIN, VAL_LOSS, "microseconds per test event of the model's forward pass"),
    Metric(TRAIN_TIME_S, MIN, VAL_LOSS, "seconds spent in fit", frozenset({_REPORT, _VIEW, _LINE})),
    Metric(TIME_PER_EPOCH_S, MIN, VAL_LOSS, "mean seconds per epoch", frozenset({_REPORT, _LINE})),
    Metric(N_PARAMS, MIN, VAL_LOSS, "trainable and other parameters of the model"),
    Metric(EPOCHS_RUN, MIN, VAL_LOSS, "epochs trained (fewer when pruned or stopped early)", frozenset({_REPORT})),
    Metric(SAMPLES_PER_S, MAX, VAL_LOSS, "training events per second", frozenset({_REPORT})),
    Metric(CPU_PERCENT_MEAN, MIN, VAL_LOSS, "mean CPU utilisation while training", frozenset({_REPORT, _VIEW})),
    Metric(GPU_UTIL_PERCENT_MEAN, MIN, VAL_LOSS, "mean GPU utilisation while training ('absent' without a GPU)",
           frozenset({_REPORT, _VIEW})),
    Metric(EARLY_STOPPED, MIN, VAL_LOSS, "1 when early stopping ended the training", frozenset({_REPORT})),
)
_BY_NAME = {m.name: m for m in TABLE}
# names of earlier releases -> today's
RENAMED = {"signal_efficiency": TEST_BALANCED_EFFICIENCY}


def working_point_name(signal_efficiency: float) -> str:
    """``test_bkg_rejection_at_30pct_sig`` for 0.3; whole percents from 1 to 99 only."""
    pct = float(signal_efficiency) * 100
    if not (1 <= pct <= 99) or abs(pct - round(pct)) > 1e-6:
        raise ConfigError(
            f"metrics.signal_efficiencies holds {signal_efficiency}; give fractions in whole percents "
            "between 0.01 and 0.99, e.g. [0.3, 0.5, 0.7]"
        )
    return WORKING_POINT_SLOT.format(pct=int(round(pct)))


def metric(name: str) -> Metric:
    """The table's row for ``name`` (a working point's name gives its own row)."""
    if name in RENAMED:
        raise ConfigError(f"objective={name} is now called {RENAMED[name]}; write objective={RENAMED[name]}")
    if name in _BY_NAME and name != WORKING_POINT_SLOT:
        return _BY_NAME[name]
    match = WORKING_POINT.fullmatch(str(name))
    if match and 1 <= int(match.group(1)) <= 99:
        efficiency = int(match.group(1)) / 100
        slot = _BY_NAME[WORKING_POINT_SLOT]
        return Metric(str(name), slot.direction, slot.monitor, slot.description, slot.shown,
                      lambda s: background_rejection(s, efficiency))
    raise ConfigError(
        f"objective={name!r} is unknown; use one of {', '.join(names())} "
        "or test_bkg_rejection_at_<N>pct_sig (N a whole percent)"
    )


def names() -> list[str]:
    """Every fixed metric name (working points as their pattern)."""
    return [m.name for m in TABLE if m.name != WORKING_POINT_SLOT]


def is_metric(name: str) -> bool:
    try:
        metric(name)
    except ConfigError:
        return False
    return True


def figures_of_merit(signal_efficiencies: Iterable[float], also: Iterable[str] = ()) -> list[Metric]:
    """The metrics computed on the test split: the table's, with one working point per
    efficiency of ``signal_efficiencies`` and any working point named in ``also``."""
    points = [working_point_name(e) for e in signal_efficiencies]
    points += [n for n in also if WORKING_POINT.fullmatch(n) and n not in points]
    rows: list[Metric] = []
    for row in TABLE:
        if row.name == WORKING_POINT_SLOT:
            rows += [metric(p) for p in sorted(points, key=_percent)]
        elif row.compute is not None:
            rows.append(row)
    return rows


def compute(rows: Sequence[Metric], scored: Scored) -> dict[str, float]:
    """The figures of ``rows`` that apply to ``scored`` (e.g. no working point without a signal class)."""
    figures: dict[str, float] = {}
    for row in rows:
        assert row.compute is not None
        value = row.compute(scored)
        if value is not None:
            figures[row.name] = float(value)
    return figures


def _percent(name: str) -> int:
    match = WORKING_POINT.fullmatch(name)
    return int(match.group(1)) if match else 0


def shown_in(place: Shown, present: Iterable[str] | None = None) -> list[str]:
    """The names shown in ``place``, in table order; with ``present``, the names among those
    (working points included) in table order."""
    if present is None:
        return [m.name for m in TABLE if place in m.shown and m.name != WORKING_POINT_SLOT]
    present = list(present)
    ordered: list[str] = []
    for row in TABLE:
        if place not in row.shown:
            continue
        if row.name == WORKING_POINT_SLOT:
            ordered += sorted((n for n in present if WORKING_POINT.fullmatch(n)), key=_percent)
        elif row.name in present:
            ordered.append(row.name)
    return ordered


def recorded(*names: str) -> tuple[str, ...]:
    """``names``, each checked to be a figure recorded on a trial (a metric shown in the report,
    working points included): what a study's view declares it reads, so that a view naming a
    metric the table no longer records fails when it is imported rather than showing an empty
    column."""
    for name in names:
        if not is_metric(name) or Shown.REPORT not in metric(name).shown:
            raise LookupError(f"{name!r} is not a figure recorded on trials; use one of {', '.join(shown_in(Shown.REPORT))}")
    return names


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
