"""The HEPMASS MLP search: units x learning rate with pruning, the best trial's test figures."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from hepsweep.metrics import EPOCHS_RUN, TEST_ACCURACY, TEST_AUC, TIME_PER_EPOCH_S, recorded
from hepsweep.studies._view import StudyView, trial_rows
from hepsweep.sweep.records import StudyRecord, TrialRecord
from hepsweep.sweep.report import Column, study_table

PAPER_TEST_ACCURACY = 0.881
# the trials' figures this view reads (checked against the metrics table on import)
FIGURES = recorded(TEST_ACCURACY, TEST_AUC, EPOCHS_RUN, TIME_PER_EPOCH_S)


# study_table's columns this view shows, under the article's names
COLUMNS = {
    Column.TRIAL: "trial",
    Column.STATE: "state",
    "model.units": "units",
    "optimizer.lr": "learning_rate",
    "objective": "objective",
    TEST_ACCURACY: TEST_ACCURACY,
    TEST_AUC: TEST_AUC,
    EPOCHS_RUN: "epochs",
    TIME_PER_EPOCH_S: TIME_PER_EPOCH_S,
}


def hepmass_view(study: optuna.Study, folder: Path) -> StudyView:
    """The trials best first; a pruned trial's objective is the best epoch it reached."""
    table = study_table(study)
    if not table.empty:
        objective = (StudyRecord.of(study).objective_names or ["value"])[0]
        reached = {t.number: max(t.intermediate_values.values(), default=None) for t in trial_rows(study, (TrialState.PRUNED,))}
        table = table[table.state.isin(["COMPLETE", "PRUNED"])]
        table = table.assign(objective=table[objective].where(table.state == "COMPLETE", table.trial.map(reached)))
        table = table.reindex(columns=list(COLUMNS)).rename(columns=COLUMNS).reset_index(drop=True)
    view = StudyView(table, title="HEPMASS MLP search (3 hidden layers, pruned epoch by epoch)")
    retrained = StudyRecord.of(study).retrained
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if complete and not (retrained and TEST_ACCURACY in retrained):
        best = study.best_trial
        figures = TrialRecord.figures(best)
        view.headlines.append(
            f"best (units={best.params.get('model.units')}, lr={best.params.get('optimizer.lr')}): test accuracy "
            f"{figures.get(TEST_ACCURACY, float('nan')):.4f}, AUC {figures.get(TEST_AUC, float('nan')):.4f} "
            f"(article: {PAPER_TEST_ACCURACY:.3f} on the real 7M-event file)"
        )
    if retrained and TEST_ACCURACY in retrained:
        params = retrained.get("params", {})
        view.headlines.append(
            f"best (units={params.get('model.units')}, lr={params.get('optimizer.lr')}) retrained: test accuracy "
            f"{retrained[TEST_ACCURACY]:.4f}, AUC {retrained.get(TEST_AUC, float('nan')):.4f} "
            f"(article: {PAPER_TEST_ACCURACY:.3f} on the real 7M-event file)"
        )
    if not table.empty:
        pruned = int((table.state == "PRUNED").sum())
        epochs = int(pd.to_numeric(table.epochs, errors="coerce").fillna(0).sum())
        view.headlines.append(f"{len(table)} trials, {pruned} pruned, {epochs} epochs trained")
    return view
