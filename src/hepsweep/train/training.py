"""One training run: config -> data -> model -> fit -> evaluate -> benchmark folder -> tracking.

:func:`run` works the same with or without an Optuna trial; with one, every epoch reports the
monitored validation metric and a pruned run stops at once and raises ``optuna.TrialPruned``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import optuna
from omegaconf import DictConfig, OmegaConf

from hepsweep.data import load_dataset, source_identity
from hepsweep.data.pipeline import make_dataset
from hepsweep.config import check_known_keys
from hepsweep.errors import ConfigError, TrainingError
from hepsweep.metrics import (
    ACCURACY, EARLY_STOPPED, EPOCHS_RUN, N_PARAMS, SAMPLES_PER_S, TIME_PER_EPOCH_S, TRAIN_TIME_S, VALIDATION,
    figures_of_merit,
)
from hepsweep.models import build_model, validate_model
from hepsweep.plots import plot_confusion, plot_roc
from hepsweep.redaction import mask
from hepsweep.train import benchmark
from hepsweep.train.benchmark import RunSummary
from hepsweep.train.callbacks import (
    EpochLine,
    EpochHistory,
    EpochMetricsLogger,
    EpochTimer,
    IntermediateReporter,
    DivergenceGuard,
    PruningCallback,
    RESUME_DIR,
    ResumeFromLastEpoch,
    ValidationScores,
)
from hepsweep.train.device import configure_device
from hepsweep.train.evaluate import evaluate
from hepsweep.train.objective import Objective
from hepsweep.train.preflight import check_config
from hepsweep.train.optimizers import check_learning_rate, make_optimizer
from hepsweep.train.reuse import COMPILED_MODELS, architecture_key
from hepsweep.tracking.background import defer, finish_background_work
from hepsweep.tracking import NullTracker, Tracker, UtilisationSampler, flatten

log = logging.getLogger(__name__)


@dataclass
class RunListeners:
    """Who hears from a run while it trains: the tracker, the trial (pruning), the progress
    lines, and whoever wants the final summary."""

    tracker: Tracker
    trial: IntermediateReporter | None
    emit: Callable[[str], None]
    on_summary: Callable[[RunSummary], None] | None = None


@dataclass
class RunResult:
    """The summary of a finished run and the value(s) a sweep optimises."""

    summary: RunSummary
    output_dir: Path
    objective: Objective

    @property
    def metrics(self) -> dict[str, float]:
        return self.summary.metrics

    @property
    def value(self) -> float | list[float]:
        return self.objective.value(self.summary.metrics)


def _hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return flatten({k: container[k] for k in ("dataset", "model", "optimizer", "train", "device")})


def default_output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.output_root) / "runs" / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")


def require_composed(cfg: Any) -> None:
    """Refuse anything but a composed config (a dict misses the defaults and the checks)."""
    if not isinstance(cfg, DictConfig):
        raise ConfigError(
            f"hepsweep.run needs a composed config, not a {type(cfg).__name__}; "
            "use cfg = hepsweep.compose(['model=mlp', ...]) and hepsweep.run(cfg)"
        )


def run(
    cfg: DictConfig,
    trial: IntermediateReporter | None = None,
    tracker: Tracker | None = None,
    output_dir: str | Path | None = None,
    emit: Callable[[str], None] = print,
    defer_outputs: bool = False,
    on_summary: Callable[[RunSummary], None] | None = None,
) -> RunResult:
    """Train and evaluate the model that ``cfg`` describes; write its benchmark folder.

    Args:
        cfg: A composed hepsweep config (dataset, model, optimizer, device, train, objective).
        trial: An ``optuna.Trial`` (or anything with ``report``/``should_prune``) for pruning.
        tracker: Where params, per-epoch metrics and artifacts go (default: nowhere).
        output_dir: The benchmark folder (default: ``<output_root>/runs/<date>/<time>``).
        emit: Receives the one-line-per-epoch progress.
        defer_outputs: Return as soon as the value and summary are known, and write the PNGs and
            upload the artifacts in the background (a sweep's trials: see ``hepsweep.tracking.background``).
        on_summary: Receives the run's summary once it is final (complete, pruned or diverged),
            before the run returns or raises.

    Returns:
        The run's summary; ``result.value`` is the objective a sweep optimises.

    Raises:
        optuna.TrialPruned: the trial was pruned (after its folder and tracking were written).
        hepsweep.errors.HepsweepError: bad config, bad data, or a NaN loss.
    """
    require_composed(cfg)
    check_known_keys(cfg)
    check_config(cfg)
    folder = Path(output_dir) if output_dir is not None else default_output_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    tracker = tracker or NullTracker()
    objective = Objective.parse(cfg.objective)
    config_text = mask(OmegaConf.to_yaml(cfg, resolve=True))
    (folder / "config.yaml").write_text(config_text)
    summary = RunSummary(
        status="failed",
        dataset=str(cfg.dataset.name),
        model=str(cfg.model.name),
        epochs_planned=int(cfg.train.epochs),
        hyperparameters=_hyperparameters(cfg),
    )
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    tracker.log_params(flatten(resolved))  # the full resolved config
    tracker.log_text(config_text, "config.yaml")

    device = configure_device(cfg.device)
    summary.device = device.kind
    keras.utils.set_random_seed(int(cfg.train.seed))
    data = _dataset(cfg.dataset)
    summary.class_names = data.class_names
    validate_model(cfg.model, data.input_shape)
    try:
        with device.scope():
            listeners = RunListeners(tracker, trial, emit, on_summary)
            return _train_and_evaluate(cfg, data, device, objective, summary, folder, listeners)
    finally:
        if not defer_outputs:
            finish_background_work()


def _dataset(cfg: DictConfig) -> Any:
    """The split and scaled events of ``cfg``; the last ones stay in memory for the next trial
    of the same process (keyed by the resolved dataset config and its files' size and time)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    key = json.dumps([container, source_identity(cfg)], sort_keys=True, default=str)
    if key not in _DATASETS:
        _DATASETS.clear()  # one dataset at a time: a study sweeps models, not datasets
        _BATCHES.clear()
        _DATASETS[key] = load_dataset(cfg)
    return _DATASETS[key]


def _training_batches(data: Any, batch: int, shuffle: bool, seed: int) -> Any:
    """The ``tf.data`` pipeline of the training split (with the training weights when the events
    carry weights), reused by later trials of the process."""
    key = (id(data), batch, shuffle, seed)
    if key not in _BATCHES:
        _BATCHES[key] = make_dataset(
            data.train, data.n_classes, batch, shuffle=shuffle, seed=seed, sample_weight=data.train_weights
        )
    return _BATCHES[key]


_DATASETS: dict[str, Any] = {}
_BATCHES: dict[tuple[Any, ...], Any] = {}


def _compiled_model(cfg: DictConfig, data: Any, device: Any) -> Any:
    """The compiled model of this trial, reused from an earlier trial of the same architecture."""
    binary = data.n_classes == 2
    optimizer = OmegaConf.to_container(cfg.optimizer, resolve=True)
    assert isinstance(optimizer, dict)
    optimizer.pop("lr")

    def build() -> keras.Model:
        model = build_model(cfg.model, data.input_shape, data.n_classes)
        model.compile(
            optimizer=make_optimizer(cfg.optimizer),
            loss="binary_crossentropy" if binary else "categorical_crossentropy",
            metrics=[keras.metrics.BinaryAccuracy(name=ACCURACY) if binary else keras.metrics.CategoricalAccuracy(name=ACCURACY)],
            steps_per_execution=int(cfg.train.steps_per_execution),
        )
        return model

    key = architecture_key(
        model=OmegaConf.to_container(cfg.model, resolve=True),
        optimizer=optimizer,
        input_shape=list(data.input_shape),
        n_classes=data.n_classes,
        seed=int(cfg.train.seed),
        steps_per_execution=int(cfg.train.steps_per_execution),
        device=[device.kind, device.mixed_precision],
    )
    return COMPILED_MODELS.get(key, build, check_learning_rate(cfg.optimizer))


@dataclass
class _Watchers:
    """The callbacks of one fit, and those whose findings the run reads afterwards."""

    validation: ValidationScores
    timer: EpochTimer
    divergence: DivergenceGuard
    resume: ResumeFromLastEpoch
    stopper: keras.callbacks.EarlyStopping | None
    pruning: PruningCallback | None
    callbacks: list[keras.callbacks.Callback]


def _watchers(cfg: DictConfig, model: Any, data: Any, objective: Objective, folder: Path, listeners: RunListeners) -> _Watchers:
    """Validation scores, timing, divergence, history, early stopping, resume and pruning, in
    the order Keras calls them."""
    epochs = int(cfg.train.epochs)
    val_x = as_model_input(data.val.x)
    val_weights = None if data.val.w is None else np.asarray(data.val.w)
    validation = ValidationScores(lambda: model_outputs(model, val_x), np.asarray(data.val.y), data.n_classes, val_weights)
    timer, divergence = EpochTimer(), DivergenceGuard()
    # a run killed mid-training and started again in its folder continues from its last finished epoch
    resume = ResumeFromLastEpoch(folder / RESUME_DIR, _fingerprint(cfg), history=folder / benchmark.HISTORY)
    history_csv = EpochHistory(str(folder / benchmark.HISTORY), append=resume.resumed_epochs > 0)
    callbacks: list[keras.callbacks.Callback] = [validation, timer, divergence, history_csv, EpochMetricsLogger(listeners.tracker)]
    if cfg.train.progress:
        callbacks.append(EpochLine(epochs, timer, listeners.emit))
    stopper = None
    if cfg.train.early_stopping_patience > 0:
        stopper = keras.callbacks.EarlyStopping(
            monitor=objective.monitor,
            mode=objective.monitor_mode,
            patience=int(cfg.train.early_stopping_patience),
            restore_best_weights=bool(cfg.train.restore_best_weights),
        )
        callbacks.append(stopper)
    resume.stopper = stopper
    callbacks.append(resume)
    pruning = None
    if listeners.trial is not None and objective.prunable:
        pruning = PruningCallback(listeners.trial, objective.monitor, last_epoch=epochs - 1)
        callbacks.append(pruning)
    if cfg.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(folder / benchmark.TENSORBOARD), profile_batch=0))
    return _Watchers(validation, timer, divergence, resume, stopper, pruning, callbacks)


def _fit(cfg: DictConfig, model: Any, data: Any, device: Any, watchers: _Watchers, summary: RunSummary, tracker: Tracker) -> None:
    """Fit the model while sampling the machine's utilisation; record the training's figures
    (time, throughput, size, epochs, utilisation) on the summary and the tracker."""
    epochs = int(cfg.train.epochs)
    train_ds = _training_batches(data, int(cfg.train.batch_size), bool(cfg.train.shuffle), int(cfg.train.seed))
    sampler = UtilisationSampler(cfg.tracking.utilisation_interval_s, uses_gpu=device.kind == "gpu").start()
    summary.train_started_at = datetime.now(timezone.utc).isoformat()
    start = time.perf_counter()
    try:
        model.fit(train_ds, epochs=epochs, callbacks=watchers.callbacks, verbose=0, shuffle=False)
    finally:
        train_time = time.perf_counter() - start
        utilisation = sampler.stop()
    durations = watchers.timer.durations
    summary.utilisation = utilisation.as_dict()
    summary.epochs_run = watchers.resume.resumed_epochs + len(durations)
    summary.early_stopped = bool(watchers.stopper is not None and watchers.stopper.stopped_epoch > 0)
    summary.metrics.update({
        TRAIN_TIME_S: train_time,
        TIME_PER_EPOCH_S: float(np.mean(durations)) if durations else float("nan"),
        N_PARAMS: float(model.count_params()),
        EPOCHS_RUN: float(summary.epochs_run),
        SAMPLES_PER_S: len(data.train) * len(durations) / train_time if train_time > 0 else 0.0,
    })
    for step, reading in enumerate(utilisation.series):
        tracker.log_metrics({f"system/{k}": v for k, v in reading.items() if k != "t_s"}, step=step)
    tracker.log_metrics(utilisation.metrics())
    tracker.set_tags({"gpu_present": utilisation.gpu_present, "device": device.kind})


def _finish(
    status: str,
    cfg: DictConfig,
    folder: Path,
    summary: RunSummary,
    listeners: RunListeners,
    deferred: Callable[[], None] | None = None,
) -> RunSummary:
    """End the run as ``status``: write its summary, hand it over, log its figures and tags, and
    upload its outputs (``deferred`` writes more of them first) in the background."""
    tracker = listeners.tracker
    summary.status = status
    summary.write(folder)
    if listeners.on_summary is not None:
        listeners.on_summary(summary)
    # One name, one meaning: the val_* figures of the weights the run ends with (the best
    # epoch's, when early stopping restored it) are logged again at the last epoch, so that
    # MLflow's value of val_auc is the trial's value in Optuna; the rest carry no step.
    finite = {k: v for k, v in summary.metrics.items() if not math.isnan(v)}
    tracker.log_metrics({k: v for k, v in finite.items() if not k.startswith(VALIDATION)})
    tracker.log_metrics({k: v for k, v in finite.items() if k.startswith(VALIDATION)}, step=summary.epochs_run)
    tracker.set_tags({EARLY_STOPPED: summary.early_stopped, "pruned": summary.pruned, "run_status": status})

    def outputs() -> None:  # nothing here decides the next trial: written in the background
        if deferred is not None:
            deferred()
        if cfg.tracking.log_artifacts:
            tracker.log_artifacts(folder, "benchmark")

    defer(outputs)
    return summary


def _train_and_evaluate(
    cfg: DictConfig,
    data: Any,
    device: Any,
    objective: Objective,
    summary: RunSummary,
    folder: Path,
    listeners: RunListeners,
) -> RunResult:
    """Build (or reuse), fit and evaluate on the chosen device; write the outputs."""
    if int(cfg.train.steps_per_execution) < 1:
        raise ConfigError(f"train.steps_per_execution={cfg.train.steps_per_execution} must be at least 1")
    model = _compiled_model(cfg, data, device)
    watchers = _watchers(cfg, model, data, objective, folder, listeners)
    _fit(cfg, model, data, device, watchers, summary, listeners.tracker)

    if watchers.divergence.bad_epoch is not None:
        summary.failure = f"{watchers.divergence.reason} in epoch {watchers.divergence.bad_epoch + 1}"
        _finish("failed", cfg, folder, summary, listeners)
        raise TrainingError(
            f"{summary.failure}; lower optimizer.lr (now {cfg.optimizer.lr}) or set optimizer.clipnorm=1.0"
        )

    kept = _kept_epoch(watchers.stopper, summary.epochs_run)
    resumed = watchers.resume.resumed_epochs
    if kept is not None and kept >= resumed:  # the scores of this run's own epochs
        summary.metrics.update(watchers.validation.history[kept - resumed])

    pruning = watchers.pruning
    if pruning is not None and pruning.pruned_at_epoch is not None:
        summary.pruned, summary.pruned_after_epoch = True, pruning.pruned_at_epoch + 1
        _finish("pruned", cfg, folder, summary, listeners)
        listeners.emit(f"pruned after epoch {pruning.pruned_at_epoch + 1} ({objective.monitor} not promising)")
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at_epoch + 1}")

    test = evaluate(
        lambda x: model_outputs(model, x),
        as_model_input(data.test.x),
        np.asarray(data.test.y),
        data.n_classes,
        figures_of_merit(cfg.metrics.signal_efficiencies, also=objective.names),
        data.signal_class,
        None if data.test.w is None else np.asarray(data.test.w),
    )
    summary.metrics.update(test.figures)
    _write_outputs(folder, cfg, model, data, test, summary)
    _finish("complete", cfg, folder, summary, listeners, lambda: _write_plots(folder, cfg, data, test, summary))
    listeners.emit(summary.one_line())
    return RunResult(summary, folder, objective)


def _fingerprint(cfg: DictConfig) -> str:
    """What a saved epoch must match to be resumed: the run's data, model and training settings."""
    keys = ("dataset", "model", "optimizer", "train", "device", "objective")
    text = OmegaConf.to_yaml({k: cfg.get(k) for k in keys}, resolve=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _kept_epoch(stopper: Any, epochs_run: int) -> int | None:
    """The epoch whose weights the model ends with: the best one when early stopping restored it."""
    if epochs_run == 0:
        return None
    if stopper is not None and stopper.restore_best_weights and stopper.best_weights is not None:
        return int(stopper.best_epoch)
    return epochs_run - 1


def model_outputs(model: Any, x: Any, chunk_bytes: int = 64 * 2**20) -> Any:
    """Raw outputs of ``model`` for the events ``x``, one traced call per chunk of at most
    ``chunk_bytes`` of input (``predict_on_batch``): several times faster than ``predict``, whose
    per-call set-up outweighs the arithmetic of a sweep's small models and validation splits."""
    rows = max(1, chunk_bytes // max(1, int(x[0].nbytes)))
    return np.concatenate([np.asarray(model.predict_on_batch(x[i : i + rows])) for i in range(0, len(x), rows)])


def as_model_input(x: Any) -> Any:
    """Events as the model reads them: float32, images of bytes scaled to [0, 1]."""
    return (np.asarray(x, dtype=np.float32) / 255.0) if x.dtype == np.uint8 else np.asarray(x)


def _write_outputs(folder: Path, cfg: DictConfig, model: Any, data: Any, test: Any, summary: RunSummary) -> None:
    """Checkpoint, preprocessing and confusion counts: written before the trial returns, since the
    model object goes on to the next trial of its architecture."""
    files = summary.files
    if cfg.train.checkpoint:
        path = folder / benchmark.CHECKPOINT
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        files["checkpoint"] = benchmark.CHECKPOINT
    (folder / "preprocessing.json").write_text(json.dumps(data.preprocessing))
    files["preprocessing"] = "preprocessing.json"
    (folder / "confusion_matrix.json").write_text(
        json.dumps({"class_names": data.class_names, "counts": test.confusion.tolist()})
    )
    if cfg.train.plots:
        files["roc"] = "roc.png"
        files["confusion_matrix"] = "confusion_matrix.png"
    if cfg.train.tensorboard:
        files["tensorboard"] = benchmark.TENSORBOARD
    files["history"] = benchmark.HISTORY


def _write_plots(folder: Path, cfg: DictConfig, data: Any, test: Any, summary: RunSummary) -> None:
    """ROC curves and the confusion matrix as PNGs."""
    if not cfg.train.plots:
        return
    title = f"{cfg.model.name} on {cfg.dataset.name}"
    plot_roc(
        test.labels,
        test.probabilities,
        data.class_names,
        folder / "roc.png",
        title=f"ROC: {title}",
        weights=test.weights,
        signal_class=data.signal_class,
        working_points=list(cfg.metrics.signal_efficiencies),
    )
    plot_confusion(test.confusion, data.class_names, folder / "confusion_matrix.png", title=title)
