"""A study as a table (terminal, CSV, markdown), its results YAML, and its study-level plots."""

from __future__ import annotations

import logging
import math
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import optuna
import pandas as pd
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hepsweep.metrics import (
    CPU_PERCENT_MEAN, EARLY_STOPPED, EPOCHS_RUN, GPU_UTIL_PERCENT_MEAN, SAMPLES_PER_S, TEST_ACCURACY, TEST_BALANCED_EFFICIENCY,
    TEST_MAX_SIGNIFICANCE_IMPROVEMENT, TIME_PER_EPOCH_S, TRAIN_TIME_S, Shown, shown_in,
)
from hepsweep.sweep.records import StudyRecord, TrialRecord, pruned_after_epoch

log = logging.getLogger(__name__)

ABSENT = "absent"  # what the text tables say for a GPU figure of a run that had no GPU


class Column:
    """The columns of :func:`study_table` besides parameters, objectives and the recorded figures."""

    TRIAL = "trial"
    STATE = "state"
    BEST = "best"
    PRUNED_AFTER_EPOCH = "pruned_after_epoch"
    FAIL_REASON = TrialRecord.keys()["fail_reason"]


def study_table(study: optuna.Study, objective_names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per trial, best first: number, state, parameters, objective value(s), recorded
    figures, when a pruned trial stopped and why a failed one did (GPU utilisation reads
    ``absent`` for trials that ran where no GPU was present). Built on Optuna's
    ``trials_dataframe``, with hepsweep's column names."""
    n_objectives = max(len(study.directions), 1)
    names = list(objective_names or StudyRecord.of(study).objective_names or ["value"])[:n_objectives]
    values = ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]
    value_attr = "value" if n_objectives == 1 else "values"
    frame = study.trials_dataframe(attrs=("number", "state", "params", value_attr), multi_index=False)
    if frame.empty:
        return frame
    trials = study.get_trials(deepcopy=False)
    # the figures and reasons go through the trial records, which ignore what hepsweep did not write
    figures = {t.number: TrialRecord.figures(t) for t in trials}
    records = {t.number: TrialRecord.of(t) for t in trials}
    numbers = frame["number"]
    recorded = shown_in(Shown.REPORT, {key for f in figures.values() for key in f})
    for key in recorded:
        if any(key in f for f in figures.values()):
            frame[key] = numbers.map(lambda n, key=key: figures[n].get(key))
    if any(r.fail_reason for r in records.values()):
        frame[Column.FAIL_REASON] = numbers.map(lambda n: records[n].fail_reason)
    gpu = numbers.map(lambda n: records[n].gpu_present)
    params = [c for c in frame.columns if c.startswith("params_")]
    frame = frame.rename(columns={"number": Column.TRIAL, **{v: n for v, n in zip(values, names)}})
    frame = frame.rename(columns={c: c.removeprefix("params_") for c in params})
    frame = frame.astype(object).where(frame.notna(), None)
    if gpu.eq(False).any():
        if GPU_UTIL_PERCENT_MEAN not in frame.columns:
            frame[GPU_UTIL_PERCENT_MEAN] = None
        frame.loc[gpu.eq(False).to_numpy(), GPU_UTIL_PERCENT_MEAN] = ABSENT
    pruned = {t.number: pruned_after_epoch(t) for t in trials if t.state == TrialState.PRUNED}
    if pruned:
        frame[Column.PRUNED_AFTER_EPOCH] = frame[Column.TRIAL].map(pruned)
    frame.insert(2, Column.BEST, frame[Column.TRIAL].isin(_best_numbers(study)))
    tail = [c for c in (*recorded, Column.PRUNED_AFTER_EPOCH, Column.FAIL_REASON) if c in frame.columns]
    order = [c for c in frame.columns if c not in tail] + tail
    # best first, as the study ranks them (its first objective); trials without a value last
    ascending = study.directions[0] == optuna.study.StudyDirection.MINIMIZE
    by_value = pd.to_numeric(frame[names[0]], errors="coerce") if names[0] in frame else frame[Column.TRIAL]
    frame = frame.assign(_order=by_value).sort_values(["_order", Column.TRIAL], ascending=[ascending, True], na_position="last")
    return frame[order].reset_index(drop=True)


def _best_numbers(study: optuna.Study) -> set[int]:
    """The best trial, or the Pareto front's trials for several objectives."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return set()
    if len(study.directions) == 1:
        return {study.best_trial.number}
    return {t.number for t in study.best_trials}


def format_table(frame: pd.DataFrame, fmt: str = "text", width: int | None = None) -> str:
    """``text`` (aligned columns), ``markdown`` or ``csv``. The text table leaves out the columns
    that say nothing (no value in any row, or a GPU figure ``absent`` in every row); with
    ``width`` (a terminal's), it also leaves out the last figures until it fits, and says so."""
    if frame.empty:
        return "(no trials)"
    if fmt == "csv":  # numbers only in numeric columns: a missing GPU is an empty cell
        return frame.replace(ABSENT, None).to_csv(index=False)
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = shown[column].map(_cell)
    if fmt == "text":
        empty = [c for c in shown.columns if shown[c].isin(["-", ABSENT]).all()]
        shown = shown.drop(columns=empty)
        return _fit(shown, width)
    if fmt == "markdown":
        header = "| " + " | ".join(map(str, shown.columns)) + " |"
        rule = "|" + "|".join("---" for _ in shown.columns) + "|"
        body = ["| " + " | ".join(row) + " |" for row in shown.astype(str).values.tolist()]
        return "\n".join([header, rule, *body])
    return shown.to_string(index=False)


@dataclass
class StudyView:
    """A study as its users read it: a table to print, figures written to disk, and headline
    lines (ours next to the paper's, for a reference study)."""

    table: pd.DataFrame
    figures: list[Path] = field(default_factory=list)
    headlines: list[str] = field(default_factory=list)
    title: str = ""


def trials_view(study: optuna.Study, folder: Path) -> StudyView:
    """The plainest view: one row per trial, best first."""
    return StudyView(study_table(study), title=f"study {study.study_name}")


def format_view(view: StudyView, width: int | None = None) -> str:
    """A study view as text: its title, its table (fitted to ``width``), its headlines."""
    parts = [view.title] if view.title else []
    parts.append(format_table(view.table, width=width))
    parts += view.headlines
    return "\n".join(parts)


# what a terminal table gives up first when it is too wide: speed and utilisation, then the
# secondary figures; the objective, the parameters, test AUC and working points stay longest
_DROP_FIRST = (
    SAMPLES_PER_S, CPU_PERCENT_MEAN, GPU_UTIL_PERCENT_MEAN, TIME_PER_EPOCH_S, EARLY_STOPPED,
    EPOCHS_RUN, TEST_BALANCED_EFFICIENCY, TEST_MAX_SIGNIFICANCE_IMPROVEMENT, TRAIN_TIME_S,
    TEST_ACCURACY, Column.PRUNED_AFTER_EPOCH,
)


def _fit(shown: pd.DataFrame, width: int | None) -> str:
    """The aligned text of ``shown``; within ``width``, parameters are headed by their last name
    (``units`` for ``model.units``, when that is unambiguous) and the least telling columns are
    left out, most telling last, while the table is too wide."""
    if width is None:
        return shown.to_string(index=False)
    last = {c: str(c).rsplit(".", 1)[-1] for c in shown.columns if "." in str(c)}
    if len(set(last.values())) == len(last) and not set(last.values()) & set(map(str, shown.columns)):
        shown = shown.rename(columns=last)
    order = [c for c in _DROP_FIRST if c in shown.columns]
    order += [c for c in reversed(shown.columns[4:]) if c not in order]
    dropped: list[str] = []
    text = shown.to_string(index=False)
    while len(text.splitlines()[0]) > width and order:
        column = order.pop(0)
        dropped.append(str(column))
        shown = shown.drop(columns=[column])
        text = shown.to_string(index=False)
    if dropped:
        text += f"\n({len(dropped)} more column(s) in `hepsweep report STUDY -o table.csv`: {', '.join(dropped)})"
    return text


def terminal_width() -> int | None:
    """The terminal's width when the output goes to one; None when it is piped or saved."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_optimization_results(
    study: optuna.Study, folder: Path, objective_names: Sequence[str], retrained: dict[str, Any] | None = None
) -> Path:
    """``optimization_results.yaml`` like hydra-optuna-sweeper's: best params/value or the Pareto
    front, plus the retrained best's test figures when the sweep asked for them."""
    folder.mkdir(parents=True, exist_ok=True)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    # hydra-optuna-sweeper's keys and shapes (name: optuna, values as a list), hepsweep's beside
    results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name}
    if not complete:
        results["note"] = "no trial completed"
    elif len(study.directions) == 1:
        results.update(best_params=dict(study.best_params), best_value=float(study.best_value), best_trial=study.best_trial.number)
    else:
        results["solutions"] = [
            {
                "params": dict(t.params),
                "values": [float(v) for v in t.values],
                "number": t.number,
                "objectives": dict(zip(objective_names, map(float, t.values))),
            }
            for t in study.best_trials
        ]
    if retrained:
        results["retrained_best"] = retrained
    path = folder / "optimization_results.yaml"
    OmegaConf.save(OmegaConf.create(results), path)
    return path


def import_plotting() -> None:
    """Import what the study's plots need (matplotlib with its file backend, plotly, Optuna's
    figures, scikit-learn's forests for the importances): about a second, which a sweeper can
    pay while its first trial starts instead of when the study ends."""
    import matplotlib  # heavy: matplotlib

    matplotlib.use("Agg")  # draws to files: no display needed
    import matplotlib.pyplot  # heavy: after choosing the backend  # noqa: F401
    import optuna.visualization  # heavy: plotly  # noqa: F401
    import optuna.visualization.matplotlib  # heavy: matplotlib  # noqa: F401
    import sklearn.ensemble  # heavy: scikit-learn's forests (fANOVA importances)  # noqa: F401


def study_artifacts(study: optuna.Study, folder: Path, objective_names: Sequence[str]) -> list[Path]:
    """The study table (CSV, markdown) and plots (history, importances, intermediate values or
    Pareto front) as files in ``folder``."""
    import_plotting()
    # heavy: matplotlib, imported above with the file backend
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    folder.mkdir(parents=True, exist_ok=True)
    table = study_table(study, objective_names)
    paths = [folder / "study_summary.csv", folder / "study_summary.md"]
    paths[0].write_text(format_table(table, "csv"))
    paths[1].write_text(format_table(table, "markdown") + "\n")
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    plots: dict[str, Any] = {}
    if len(study.directions) == 1:
        plots["optimization_history.png"] = lambda: optuna_plots.plot_optimization_history(study, target_name=objective_names[0])
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            plots["intermediate_values.png"] = lambda: optuna_plots.plot_intermediate_values(study)
        if len(complete) >= 2 and len(study.best_trial.params) >= 1:
            plots["param_importances.png"] = lambda: optuna_plots.plot_param_importances(study)
    elif complete:
        plots["pareto_front.png"] = lambda: optuna_plots.plot_pareto_front(study, target_names=list(objective_names))
    for name, draw in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw()
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            figure.savefig(folder / name, dpi=100)
            plt.close(figure)
            paths.append(folder / name)
        except Exception as exc:  # e.g. importances need variation in the parameters
            log.info("skipped %s: %s", name, exc)
    interactive = interactive_plots(study, folder, objective_names)
    return paths + ([interactive] if interactive else [])


def interactive_plots(study: optuna.Study, folder: Path, objective_names: Sequence[str]) -> Path | None:
    """``study_plots.html``: Optuna's interactive figures (optimization history, intermediate
    values with the pruned trials, parallel coordinates, slice, parameter importances, or the
    Pareto front) in one self-contained page that opens from MLflow's artifact view, offline too."""
    from optuna import visualization  # heavy: plotly, when the study ends

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    figures: dict[str, Any] = {}
    if len(study.directions) == 1:
        target = objective_names[0]
        figures["Optimization history"] = lambda: visualization.plot_optimization_history(study, target_name=target)
        if any(t.intermediate_values for t in trials):
            figures["Intermediate values (pruned trials included)"] = lambda: visualization.plot_intermediate_values(study)
        figures["Parallel coordinates"] = lambda: visualization.plot_parallel_coordinate(study, target_name=target)
        figures["Slice (the objective against each parameter)"] = lambda: visualization.plot_slice(study, target_name=target)
        if len(complete) >= 2:
            figures["Parameter importances"] = lambda: visualization.plot_param_importances(study, target_name=target)
    else:
        figures["Pareto front"] = lambda: visualization.plot_pareto_front(study, target_names=list(objective_names))
    parts = []
    for title, draw in figures.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                html = draw().to_html(full_html=False, include_plotlyjs=not parts)  # plotly.js once
        except Exception as exc:  # plotly missing, or a figure that needs more trials
            log.info("skipped the interactive %s: %s", title.lower(), exc)
            continue
        parts.append(f"<h2>{title}</h2>\n{html}")
    if not parts:
        return None
    path = folder / "study_plots.html"
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>study {study.study_name}</title></head>"
        f"<body><h1>study {study.study_name}</h1>\n" + "\n".join(parts) + "</body></html>\n"
    )
    return path
