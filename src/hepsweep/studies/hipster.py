"""HIPSTER's benchmarking mode over a CNN sweep on MoEDAL NTD etch-pit images."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from hepsweep.metrics import EARLY_STOPPED, TEST_ACCURACY, TEST_AUC, TRAIN_TIME_S, recorded
from hepsweep.studies._view import StudyView, best_on_objective, trial_rows
from hepsweep.sweep.records import TrialRecord

PAPER_ACCURACY = 0.80
# the trials' figures this view reads (checked against the metrics table on import)
FIGURES = recorded(TEST_ACCURACY, TEST_AUC, TRAIN_TIME_S, EARLY_STOPPED)


def hipster_view(study: optuna.Study, folder: Path) -> StudyView:
    rows = []
    for t in trial_rows(study, (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        row = {"trial": t.number, "state": t.state.name}
        row.update({k.removeprefix("model.").removeprefix("optimizer."): v for k, v in t.params.items()})
        figures = TrialRecord.figures(t)
        row.update(
            {
                TEST_ACCURACY: figures.get(TEST_ACCURACY),
                TEST_AUC: figures.get(TEST_AUC),
                "time_to_train_s": figures.get(TRAIN_TIME_S),
                "early_termination": figures.get(EARLY_STOPPED),
            }
        )
        if t.state == TrialState.FAIL:  # the problem, without the suggested fix
            row["skipped_because"] = str(TrialRecord.of(t).fail_reason or "").split(": ", 1)[-1].split(";")[0]
        rows.append(row)
    table = pd.DataFrame(rows)
    view = StudyView(table, title="HIPSTER benchmarking: CNNs on NTD etch-pit images")
    if not table.empty:
        (folder / "hipster_summary.txt").write_text(table.to_string(index=False) + "\n")
        view.figures.append(folder / "hipster_summary.txt")
        invalid = int((table.state == "FAIL").sum())
        best = best_on_objective(study, trial_rows(study))
        if best is not None:
            view.headlines.append(
                f"best CNN (on the study's objective): trial {best.number}, test accuracy "
                f"{float(TrialRecord.figures(best).get(TEST_ACCURACY, float('nan'))):.3f} (HIPSTER paper: about {PAPER_ACCURACY:.2f})"
            )
        if invalid:
            view.headlines.append(f"{invalid} architecture(s) refused by the options check, recorded as failed-by-config")
        folders = [folder for t in trial_rows(study) if (folder := TrialRecord.of(t).output_dir)]
        if folders:
            view.headlines.append(f"benchmark folders (checkpoint, TensorBoard, summary): {Path(folders[0]).parent}/trial_<n>")
    return view
