"""The HEPMASS MLP search: units x learning rate with pruning, the best trial's test figures."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from hepsweep.studies._view import StudyView, trial_rows

PAPER_TEST_ACCURACY = 0.881


def hepmass_view(study: optuna.Study, folder: Path) -> StudyView:
    rows = []
    for t in trial_rows(study, (TrialState.COMPLETE, TrialState.PRUNED)):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "units": t.params.get("model.units"),
                "learning_rate": t.params.get("optimizer.lr"),
                "objective": t.value if t.state == TrialState.COMPLETE else max(t.intermediate_values.values(), default=None),
                "test_accuracy": t.user_attrs.get("test_accuracy"),
                "test_auc": t.user_attrs.get("test_auc"),
                "epochs": t.user_attrs.get("epochs_run"),
                "time_per_epoch_s": t.user_attrs.get("time_per_epoch_s"),
            }
        )
    view = StudyView(pd.DataFrame(rows), title="HEPMASS MLP search (3 hidden layers, pruned epoch by epoch)")
    retrained = study.user_attrs.get("hepsweep.retrained")
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if complete and not (retrained and "test_accuracy" in retrained):
        best = study.best_trial
        view.headlines.append(
            f"best (units={best.params.get('model.units')}, lr={best.params.get('optimizer.lr')}): test accuracy "
            f"{best.user_attrs.get('test_accuracy', float('nan')):.4f}, AUC {best.user_attrs.get('test_auc', float('nan')):.4f} "
            f"(article: {PAPER_TEST_ACCURACY:.3f} on the real 7M-event file)"
        )
    if retrained and "test_accuracy" in retrained:
        params = retrained.get("params", {})
        view.headlines.append(
            f"best (units={params.get('model.units')}, lr={params.get('optimizer.lr')}) retrained: test accuracy "
            f"{retrained['test_accuracy']:.4f}, AUC {retrained.get('test_auc', float('nan')):.4f} "
            f"(article: {PAPER_TEST_ACCURACY:.3f} on the real 7M-event file)"
        )
    pruned = sum(1 for r in rows if r["state"] == "PRUNED")
    if rows:
        epochs = sum(int(r["epochs"] or 0) for r in rows)
        view.headlines.append(f"{len(rows)} trials, {pruned} pruned, {epochs} epochs trained")
    return view
