"""Figures written next to a run's results: ROC curves and confusion matrices (PNG, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hepsweep.metrics import Scored, background_rejection, binary_auc, weighted_roc  # noqa: E402


def plot_roc(
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    title: str = "ROC",
    extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    weights: np.ndarray | None = None,
    signal_class: int | None = None,
    working_points: Sequence[float] = (),
) -> Path:
    """ROC curve(s): one for two classes, one-vs-rest per class otherwise, weighted by the
    events' weights when given. With a signal class, a second panel gives the HEP view:
    background rejection 1/eps_B (log scale) against signal efficiency, the working points marked.

    ``extra`` adds curves of other models on the same events, as {label: (labels, scores)}.
    """
    hep_view = signal_class is not None
    fig, axes = plt.subplots(1, 2 if hep_view else 1, figsize=(11 if hep_view else 5.5, 5))
    ax = axes[0] if hep_view else axes
    columns = [1] if probabilities.shape[1] == 2 else range(probabilities.shape[1])
    for k in columns:
        if np.unique(labels == k).size < 2:
            continue
        fpr, tpr = weighted_roc(labels == k, probabilities[:, k], weights)
        name = class_names[k] if probabilities.shape[1] > 2 else "model"
        ax.plot(fpr, tpr, label=f"{name} (AUC {binary_auc(labels == k, probabilities[:, k], weights):.3f})")
    for name, (extra_labels, scores) in (extra or {}).items():
        fpr, tpr = weighted_roc(extra_labels, scores, None)
        ax.plot(fpr, tpr, linestyle="--", label=f"{name} (AUC {binary_auc(extra_labels.astype(bool), scores, None):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    if hep_view:
        _rejection_panel(axes[1], labels, probabilities, weights, int(signal_class), class_names, working_points)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.11, top=0.93, wspace=0.22)  # tight_layout's, without its cost
    else:
        fig.subplots_adjust(left=0.13, right=0.96, bottom=0.11, top=0.93)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rejection_panel(
    ax: plt.Axes,
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray | None,
    signal: int,
    class_names: Sequence[str],
    working_points: Sequence[float],
) -> None:
    """Background rejection (log) against signal efficiency, with the working points marked."""
    is_signal = labels == signal
    if is_signal.all() or not is_signal.any():
        return
    fpr, tpr = weighted_roc(is_signal, probabilities[:, signal], weights)
    floor = 1.0 / max(int((~is_signal).sum()), 1)
    keep = tpr > 0
    ax.plot(tpr[keep], 1.0 / np.maximum(fpr[keep], floor), label="model")
    scored = Scored(labels, probabilities, weights, signal)
    for efficiency in working_points:
        rejection = background_rejection(scored, float(efficiency))
        if rejection is not None:
            ax.plot([efficiency], [rejection], marker="o", color="black")
            ax.annotate(f"{efficiency:.0%}: {rejection:.3g}", (efficiency, rejection), textcoords="offset points",
                        xytext=(5, 5), fontsize=8)
    ax.set_yscale("log")
    ax.set(xlabel=f"signal efficiency ({class_names[signal]})", ylabel="background rejection 1/eps_B",
           title="background rejection", xlim=(0, 1))
    ax.grid(True, which="both", linewidth=0.3)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path, title: str = "confusion matrix") -> Path:
    """Row-normalised confusion matrix (true class per row), counts in brackets."""
    rows = confusion.sum(axis=1, keepdims=True)
    fractions = np.divide(confusion, rows, out=np.zeros_like(confusion, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 2.5, 1.1 * len(class_names) + 2))
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            colour = "white" if fractions[i, j] > 0.6 else "black"
            ax.text(j, i, f"{fractions[i, j]:.2f}\n({confusion[i, j]})", ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
