"""The Belle II CPU/GPU batch-size study (the paper's section 8): its table and its figure."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from hepsweep.metrics import (
    CPU_PERCENT_MEAN, EPOCHS_RUN, GPU_UTIL_PERCENT_MEAN, SAMPLES_PER_S, TEST_ACCURACY, TEST_AUC, TIME_PER_EPOCH_S,
    TRAIN_TIME_S, recorded,
)
from hepsweep.studies._view import StudyView, param_or_attr, trial_rows
from hepsweep.sweep.records import FailKind, TrialRecord
from hepsweep.sweep.report import ABSENT

# the trials' figures this view reads (checked against the metrics table on import)
FIGURES = recorded(
    EPOCHS_RUN, TRAIN_TIME_S, TIME_PER_EPOCH_S, SAMPLES_PER_S, CPU_PERCENT_MEAN, GPU_UTIL_PERCENT_MEAN, TEST_ACCURACY, TEST_AUC
)


def batch_size_table(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for t in trial_rows(study):
        figures = TrialRecord.figures(t)
        rows.append(
            {
                "device": param_or_attr(t, "device", "device.name"),
                "model": param_or_attr(t, "model", "model.name"),
                "epochs": figures.get(EPOCHS_RUN),
                "batch_size": param_or_attr(t, "train.batch_size", "batch_size"),
                "duration_s": figures.get(TRAIN_TIME_S),
                TIME_PER_EPOCH_S: figures.get(TIME_PER_EPOCH_S),
                SAMPLES_PER_S: figures.get(SAMPLES_PER_S),
                "cpu_util_percent": figures.get(CPU_PERCENT_MEAN),
                "gpu_util_percent": figures.get(GPU_UTIL_PERCENT_MEAN, ABSENT),
                TEST_ACCURACY: figures.get(TEST_ACCURACY),
                TEST_AUC: figures.get(TEST_AUC),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["device", "model", "batch_size"], ascending=[True, True, False]).reset_index(drop=True)


def plot_batch_size(frame: pd.DataFrame, path: Path) -> Path:
    """Time per epoch, utilisation and final accuracy against batch size, per device and model."""
    # heavy: matplotlib, for this view only
    import matplotlib

    matplotlib.use("Agg")  # draws to files: no display needed
    import matplotlib.pyplot as plt  # heavy: after choosing the backend

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for (device, model), group in frame.groupby(["device", "model"]):
        group = group.sort_values("batch_size")
        label = f"{device} / {model}"
        axes[0].plot(group.batch_size, group.time_per_epoch_s, marker="o", label=label)
        util = group.gpu_util_percent if device == "gpu" else group.cpu_util_percent
        axes[1].plot(group.batch_size, pd.to_numeric(util, errors="coerce"), marker="s", label=f"{label} ({device} util)")
        axes[2].plot(group.batch_size, group.test_accuracy, marker="^", label=label)
    for ax, ylabel in zip(axes, ("time per epoch [s]", "utilisation [%]", "test accuracy after the fixed epochs")):
        ax.set_xscale("log", base=2)
        ax.set(xlabel="batch size", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_title("training speed")
    axes[1].set_title("device utilisation")
    axes[2].set_title("large batches converge more slowly")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def batch_size_view(study: optuna.Study, folder: Path) -> StudyView:
    frame = batch_size_table(study)
    view = StudyView(frame, title="CPU/GPU batch-size study (Belle II pixel clusters)")
    if frame.empty:
        return view
    view.figures.append(plot_batch_size(frame, folder / "batch_size_study.png"))
    skipped = [t for t in trial_rows(study, (optuna.trial.TrialState.FAIL,)) if TrialRecord.of(t).fail_kind == FailKind.UNAVAILABLE]
    if skipped:
        view.headlines.append(f"{len(skipped)} gpu trial(s) skipped: no GPU on the machine that ran them")
    for (device, model), group in frame.groupby(["device", "model"]):
        fastest, slowest = group.time_per_epoch_s.min(), group.time_per_epoch_s.max()
        small, large = group.loc[group.batch_size.idxmin()], group.loc[group.batch_size.idxmax()]
        view.headlines.append(
            f"{device}/{model}: {slowest / fastest:.1f}x faster per epoch from batch {int(small.batch_size)} to "
            f"{int(large.batch_size)}; accuracy {small.test_accuracy:.3f} -> {large.test_accuracy:.3f} "
            f"(paper, MLP: cpu 9.03 -> 0.69 s/epoch, gpu 24.23 -> 0.13 s/epoch)"
        )
    return view
