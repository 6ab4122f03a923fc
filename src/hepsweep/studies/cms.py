"""CMS event images: ResNet on images against the feed-forward net on features (3 classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from hepsweep.metrics import TEST_ACCURACY, TEST_AUC, TEST_BALANCED_EFFICIENCY, TRAIN_TIME_S, recorded, working_point_name
from hepsweep.studies._view import StudyView, best_on_objective, confusion_of, param_or_attr, trial_rows
from hepsweep.sweep.records import TrialRecord

# the paper's "signal-vs-background efficiency with 50/50 weights" is our test_balanced_efficiency
PAPER = {"resnet": {"ttbar_correct": 0.94, TEST_BALANCED_EFFICIENCY: 0.954}, "ffn": {TEST_BALANCED_EFFICIENCY: 0.946}}
# the trials' figures this view reads, in its table's order (checked against the metrics table on import)
FIGURES = recorded(TEST_ACCURACY, TEST_AUC, TEST_BALANCED_EFFICIENCY, working_point_name(0.5), TRAIN_TIME_S)


def _approach(trial: optuna.trial.FrozenTrial) -> str:
    return str(param_or_attr(trial, "approach", "+approach") or TrialRecord.of(trial).model or "?")


def cms_view(study: optuna.Study, folder: Path) -> StudyView:
    from hepsweep.plots import plot_confusion  # heavy: matplotlib, for this view only

    by_approach: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in trial_rows(study):
        by_approach.setdefault(_approach(t), []).append(t)
    best = {key: trial for key, trials in by_approach.items() if (trial := best_on_objective(study, trials)) is not None}
    rows, view = [], StudyView(pd.DataFrame(), title="CMS ttbar / W+jets / Drell-Yan: ResNet on images vs FFN on features")
    for approach, t in sorted(best.items()):
        figures = TrialRecord.figures(t)
        row = {"approach": approach, "trial": t.number, "model": TrialRecord.of(t).model}
        row.update({key: figures.get(key) for key in FIGURES})
        confusion = confusion_of(t)
        if confusion is not None:
            names, counts = confusion
            matrix = np.asarray(counts, dtype=float)
            rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
            signal = names.index("ttbar")
            row["ttbar_correct"] = rates[signal, signal]
            for k, name in enumerate(names):
                if k != signal:
                    row[f"{name}_as_ttbar"] = rates[k, signal]
            path = folder / f"confusion_{approach}.png"
            plot_confusion(np.asarray(counts), names, path, title=f"{approach} (trial {t.number})")
            view.figures.append(path)
        rows.append(row)
        paper_key = "resnet" if row["model"] == "resnet" else "ffn"
        paper = PAPER[paper_key]
        ours = row.get(TEST_BALANCED_EFFICIENCY)
        if ours is not None:
            view.headlines.append(
                f"{approach}: signal-vs-background efficiency {ours:.3f} (paper {paper[TEST_BALANCED_EFFICIENCY]:.3f})"
                + (f", ttbar correctly classified {row['ttbar_correct']:.3f} (paper 0.94)" if "ttbar_correct" in row and paper_key == "resnet" else "")
            )
    view.table = pd.DataFrame(rows)
    return view
