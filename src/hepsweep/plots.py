"""Figures written next to a run's results: ROC curves and confusion matrices (PNG, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import auc, roc_curve  # noqa: E402


def plot_roc(
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    title: str = "ROC",
    extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """ROC curve(s): one for two classes, one-vs-rest per class otherwise.

    ``extra`` adds curves of other models on the same events, as {label: (labels, scores)}.
    """
    fig, ax = plt.subplots(figsize=(5.5, 5))
    columns = [1] if probabilities.shape[1] == 2 else range(probabilities.shape[1])
    for k in columns:
        if np.unique(labels == k).size < 2:
            continue
        fpr, tpr, _ = roc_curve(labels == k, probabilities[:, k])
        name = class_names[k] if probabilities.shape[1] > 2 else "model"
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    for name, (extra_labels, scores) in (extra or {}).items():
        fpr, tpr, _ = roc_curve(extra_labels, scores)
        ax.plot(fpr, tpr, linestyle="--", label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
