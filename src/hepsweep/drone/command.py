"""``hepsweep drone RUN_OR_STUDY``: distil a trained classifier into an NNDrone, export it as
JSON, and compare the two (parameters, per-event agreement, ROC, per-event inference time)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import matplotlib
import numpy as np
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score

from hepsweep.data import load_dataset
from hepsweep.drone.growth import GrowthRule
from hepsweep.drone.network import DroneTraining, export_drone, train_drone
from hepsweep.drone.reader import evaluate_drone
from hepsweep.errors import HepsweepError, StudyError
from hepsweep.plots import plot_roc
from hepsweep.redaction import mask
from hepsweep.sweep.records import RunRole, RunTag, TrialRecord
from hepsweep.sweep.resume import load_study
from hepsweep.sweep.study_tracking import study_runs
from hepsweep.tracking import MlflowTracker, store
from hepsweep.train.evaluate import class_probabilities
from hepsweep.train.training import as_model_input

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend that needs no display)

CHECKPOINT = Path("checkpoint") / "model.keras"


@dataclass
class Source:
    folder: Path
    label: str
    study: Any = None
    trial: Any = None


def resolve_source(name: str, storage: str | None) -> Source:
    """A run folder (holding checkpoint/model.keras), a checkpoint file, or a study (its best trial)."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".keras":
        path = path.parent.parent
    if path.is_dir():
        if not (path / CHECKPOINT).is_file():
            raise StudyError(f"'{path}' holds no {CHECKPOINT}; give a run folder of a completed run (train.checkpoint=true)")
        return Source(path.resolve(), path.name)

    try:
        study = load_study(name, storage)
    except StudyError as exc:
        raise StudyError(f"'{name}' is neither a run folder nor a study ({exc})") from None
    if len(study.directions) > 1:
        raise StudyError(f"study '{name}' has several objectives, so no single best trial; give the run folder of the trial to distil")
    try:
        best = study.best_trial
    except ValueError:
        raise StudyError(f"study '{name}' has no completed trial to distil") from None
    folder = TrialRecord.of(best).output_dir
    if not folder or not (Path(folder) / CHECKPOINT).is_file():
        raise StudyError(f"the best trial ({best.number}) of '{name}' left no checkpoint; rerun it with train.checkpoint=true")
    return Source(Path(folder), f"{name}-trial{best.number}", study, best)


def per_event_seconds(evaluate: Callable[[np.ndarray], Any], x: np.ndarray, n: int = 200) -> float:
    """Median wall time of evaluating one event at a time, as a trigger would."""
    times = []
    for i in range(min(n, len(x))):
        start = time.perf_counter()
        evaluate(x[i : i + 1])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def distil(source: Source, settings: Any, probes: int, output: Path, emit: Callable[[str], None] = print) -> dict[str, Any]:


    cfg = OmegaConf.load(source.folder / "config.yaml")
    data = load_dataset(cfg.dataset)
    signal = data.signal_class if data.signal_class is not None else (1 if data.n_classes == 2 else None)
    if signal is None:
        raise HepsweepError(f"a drone has one output: the original model must be binary or have a signal class ({cfg.dataset.name} has neither)")
    original = keras.models.load_model(source.folder / CHECKPOINT)

    def original_score(x: np.ndarray) -> np.ndarray:
        return class_probabilities(original.predict(x, batch_size=4096, verbose=0))[:, signal]

    probe_x = as_model_input(np.concatenate([np.asarray(data.train.x), np.asarray(data.val.x)])[:probes])
    emit(f"drone: questioning the original model on {len(probe_x)} probe events (no truth labels used)")
    result = train_drone(probe_x, original_score(probe_x), settings, emit)
    drone = export_drone(result.model, data.preprocessing, {"run": str(source.folder), "label": source.label}, data.input_shape)
    output.mkdir(parents=True, exist_ok=True)
    (output / "drone.json").write_text(json.dumps(drone))

    test_x = as_model_input(np.asarray(data.test.x))
    truth = (np.asarray(data.test.y) == signal).astype(int)
    f, g = original_score(test_x), evaluate_drone(drone, test_x)
    flat = test_x.reshape(len(test_x), -1)
    figures = {
        "original_params": float(original.count_params()),
        "drone_params": float(drone["n_params"]),
        "drone_hidden_nodes": float(drone["layers"][0]["n_outputs"]),
        "drone_growths": float(len(result.growth_epochs)),
        "agreement_mean_abs_diff": float(np.mean(np.abs(f - g))),
        "agreement_same_decision": float(np.mean((f > 0.5) == (g > 0.5))),
        "agreement_correlation": float(np.corrcoef(f, g)[0, 1]),
        "original_auc": float(roc_auc_score(truth, f)),
        "drone_auc": float(roc_auc_score(truth, g)),
        "original_s_per_event": per_event_seconds(lambda e: original(e, training=False), test_x),
        "drone_s_per_event": per_event_seconds(lambda e: evaluate_drone(drone, e), flat),
        "drone_train_time_s": result.train_time_s,
        "drone_final_loss": result.losses[-1],
    }
    figures["speedup"] = figures["original_s_per_event"] / figures["drone_s_per_event"]
    plot_roc(
        truth, np.column_stack([1 - f, f]), ["background", "signal"], output / "roc_original_vs_drone.png",
        title="original model vs drone", extra={"drone": (truth, g)},
    )
    _plot_losses(result.losses, result.growth_epochs, output / "drone_loss.png")
    (output / "drone_summary.json").write_text(json.dumps({**figures, "growth_epochs": result.growth_epochs}, indent=2))
    return figures


def _plot_losses(losses: list[float], growth_epochs: list[int], path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(losses)
    top.set(yscale="log", ylabel="drone loss (MSE to the original)")
    bottom.plot(range(1, len(losses)), np.abs(np.diff(losses)))
    bottom.set(yscale="log", xlabel="epoch", ylabel="|loss change|")
    for epoch in growth_epochs:
        for ax in (top, bottom):
            ax.axvline(epoch, color="green", alpha=0.4, linestyle="--")
    top.set_title("drone training; dashed lines: the hidden layer grew")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _track(source: Source, figures: dict[str, Any], output: Path, settings: Any) -> str | None:
    """Log the comparison as an MLflow run (nested under the study's run for a study's trial)."""


    study_uri, parent = study_runs(source.study) if source.study is not None else (None, None)
    if study_uri:
        uri, experiment = study_uri, source.study.study_name
    else:
        cfg = OmegaConf.load(source.folder / "config.yaml")
        uri = cfg.tracking.uri or store.default_tracking_uri(cfg.output_root)
        experiment, parent = cfg.tracking.experiment or store.RUNS_EXPERIMENT, None
    try:
        run_id = store.create_run(uri, experiment, f"drone-{source.label}", tags={RunTag.ROLE: RunRole.DRONE}, parent_run_id=parent)
    except Exception as exc:
        print(f"drone: MLflow tracking unavailable ({mask(str(exc))}); results are in {output}")
        return None
    tracker = MlflowTracker(uri, run_id)
    tracker.log_params({"source": str(source.folder), "epochs": settings.epochs, "lr": settings.lr, "batch_size": settings.batch_size,
                        "kappa": settings.rule.kappa, "b": settings.rule.b, "m": settings.rule.m})
    tracker.log_metrics({k: v for k, v in figures.items() if isinstance(v, float)})
    tracker.log_artifacts(output, "drone")
    store.end_run(uri, run_id, "FINISHED")
    return run_id


def main(args: list[str]) -> int:
    """Distil a trained classifier (a run folder, or a study's best trial) into an NNDrone."""
    parser = argparse.ArgumentParser(prog="hepsweep drone", description=main.__doc__)
    parser.add_argument("source", help="a run folder with checkpoint/model.keras, or a study name")
    parser.add_argument("--storage", help="the study's Optuna storage (default: sqlite:///outputs/optuna.db)")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=5, help="initial hidden nodes")
    parser.add_argument("--kappa", type=float, default=0.02)
    parser.add_argument("--b", type=float, default=0.04)
    parser.add_argument("--m", type=float, default=50.0)
    parser.add_argument("--max-hidden", type=int, default=64)
    parser.add_argument("--probes", type=int, default=20000, help="probe events to question the original model with")
    parser.add_argument("--output", type=Path, help="default: <run folder>/drone")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    options = parser.parse_args(args)
    for name in ("epochs", "batch_size", "hidden", "probes", "max_hidden"):
        if getattr(options, name) < 1:
            raise HepsweepError(f"--{name.replace('_', '-')} must be at least 1")
    try:
        rule = GrowthRule(kappa=options.kappa, b=options.b, m=options.m, max_hidden=options.max_hidden)
    except ValueError as exc:
        raise HepsweepError(f"drone growth settings: {exc}") from None
    settings = DroneTraining(options.epochs, options.lr, options.batch_size, options.hidden, rule)
    source = resolve_source(options.source, options.storage)
    output = options.output or source.folder / "drone"
    figures = distil(source, settings, options.probes, output)
    print(
        f"drone of {source.label}: {int(figures['drone_params'])} parameters vs {int(figures['original_params'])} "
        f"(hidden layer {int(figures['drone_hidden_nodes'])} nodes after {int(figures['drone_growths'])} growths); "
        f"AUC {figures['drone_auc']:.4f} vs {figures['original_auc']:.4f}; same decision on "
        f"{100 * figures['agreement_same_decision']:.1f}% of events; {figures['drone_s_per_event']:.2e} s vs "
        f"{figures['original_s_per_event']:.2e} s per event ({figures['speedup']:.0f}x faster)"
    )
    print(f"drone JSON: {output / 'drone.json'}")
    if not options.no_tracking:
        _track(source, figures, output, settings)
    return 0
