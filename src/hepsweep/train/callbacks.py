"""Keras callbacks of a hepsweep run: timing, a concise epoch line, NaN guard, pruning, tracking.

Callbacks that talk to the outside world (Optuna storage, MLflow) never let a failure of theirs
end the training: they log it once and carry on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import h5py
import keras

from hepsweep.metrics import EPOCH_FIGURES, LOSS, TRAINING, VALIDATION
from hepsweep.train.evaluate import scores

log = logging.getLogger(__name__)

EPOCH_TIME = "epoch_time_s"  # seconds of the epoch, in its logs (from EpochTimer)
LEARNING_RATE = "learning_rate"  # Keras' own key, in the logs of a run with a schedule


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training plus validation), also put in the epoch's logs
    as ``epoch_time_s`` for the callbacks after it."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.durations.append(time.perf_counter() - self._start)
        if logs is not None:
            logs[EPOCH_TIME] = self.durations[-1]


class EpochHistory(keras.callbacks.CSVLogger):
    """Keras' ``CSVLogger`` (``history.csv``: one row per epoch with every figure of the epoch's
    logs), counting epochs from 1 as the console, Optuna and MLflow do. It comes after the
    callbacks that add figures to the logs (:class:`ValidationScores`, :class:`EpochTimer`)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch + 1, logs)


class EpochLine(keras.callbacks.Callback):
    """One concise line per epoch: ``epoch 3/10  loss 0.412  val_loss 0.405  val_auc 0.902  1.8s``."""

    def __init__(self, epochs: int, timer: EpochTimer, emit: Callable[[str], None] = print) -> None:
        super().__init__()
        self.epochs, self.timer, self.emit = epochs, timer, emit

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        shown = (*EPOCH_FIGURES, *(VALIDATION + name for name in EPOCH_FIGURES))
        # the split prefixes MLflow, summary.json and the reports use (Keras' training keys have none)
        values = "  ".join(f"{k if k.startswith(VALIDATION) else TRAINING + k} {float(logs[k]):.4f}" for k in shown if k in logs)
        seconds = self.timer.durations[-1] if self.timer.durations else 0.0
        self.emit(f"epoch {epoch + 1}/{self.epochs}  {values}  {seconds:.1f}s")


class DivergenceGuard(keras.callbacks.TerminateOnNaN):
    """Keras' ``TerminateOnNaN``, which stops at the first non-finite batch loss, also stopping a
    loss that explodes: more than ``growth`` times the first batch's (a finite 1e29 is as
    diverged as a NaN, and which of the two a CPU produces depends on its arithmetic).
    Remembers the epoch and why, for the run's one-line failure."""

    def __init__(self, growth: float = 1e6) -> None:
        super().__init__()
        self.growth = growth
        self.bad_epoch: int | None = None
        self.reason = ""
        self._epoch = 0
        self._first: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get(LOSS)
        if loss is None or self.bad_epoch is not None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.reason = "loss became NaN" if math.isnan(loss) else "loss became infinite"
        elif self._first is None:
            self._first = max(abs(loss), 1e-12)
            return
        elif abs(loss) > self.growth * self._first:
            self.reason = f"loss diverged ({loss:.3g}, {abs(loss) / self._first:.0e} times its first value)"
        else:
            return
        self.bad_epoch = self._epoch
        self.model.stop_training = True


class ValidationScores(keras.callbacks.Callback):
    """After every epoch, score the validation split exactly (accuracy, ROC AUC, log loss, each
    weighted by the events' physical weights when there are any) and put the figures in the
    epoch's logs as ``val_accuracy``, ``val_auc``, ``val_loss``.

    Keras' own validation reports an approximate AUC (a fixed grid of thresholds); this callback
    gives pruning, early stopping, the epoch line, MLflow and the trial's final value one and the
    same figure. It must come first in the callback list, so that the others see its figures.
    """

    def __init__(self, predict: Callable[[], Any], labels: Any, n_classes: int, weights: Any = None) -> None:
        super().__init__()
        self.predict, self.labels, self.n_classes, self.weights = predict, labels, n_classes, weights
        self.history: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        figures = {VALIDATION + k: v for k, v in scores(self.predict(), self.labels, self.n_classes, self.weights).items()}
        self.history.append(figures)
        if logs is not None:
            logs.update(figures)


class IntermediateReporter(Protocol):
    """What pruning needs from a trial: Optuna's ``report``/``should_prune`` pair."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


class PruningCallback(keras.callbacks.Callback):
    """Report ``monitor`` to the trial after every epoch; stop training at once when pruned.

    The trial is any object with Optuna's ``report``/``should_prune`` (an ``optuna.Trial`` rebuilt
    from the shared storage in a launched job). The epoch ``last_epoch`` is reported but never
    pruned: a trial that trained to its end is worth its value. After ``fit`` returns, check ``pruned_at_epoch``
    and raise ``optuna.TrialPruned`` so the sweeper records the trial as PRUNED.
    """

    def __init__(self, trial: IntermediateReporter, monitor: str, last_epoch: int | None = None) -> None:
        super().__init__()
        self.trial, self.monitor, self.last_epoch = trial, monitor, last_epoch
        self.pruned_at_epoch: int | None = None
        self.broken = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if self.broken or value is None or not math.isfinite(float(value)):
            return
        try:
            self.trial.report(float(value), step=epoch + 1)  # epochs count from 1 everywhere
            # after the last epoch the whole trial is paid for: it completes, whatever the rung
            prune = epoch != self.last_epoch and self.trial.should_prune()
        except Exception as exc:  # the storage went away: keep training, stop reporting
            self.broken = True
            log.warning("pruning is off for the rest of this run: reporting to the study failed (%s)", exc)
            return
        if prune:
            self.pruned_at_epoch = epoch
            self.model.stop_training = True


class MetricSink(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...


class EpochMetricsLogger(keras.callbacks.Callback):
    """Send each epoch's logs to a tracker, step = the epoch counted from 1 (as the console
    does), the training figures prefixed with their split (``train_loss``, ``train_accuracy``;
    ``val_*``, ``learning_rate`` and ``epoch_time_s`` keep their names)."""

    def __init__(self, sink: MetricSink) -> None:
        super().__init__()
        self.sink = sink

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.sink.log_metrics(epoch_metrics(logs or {}), step=epoch + 1)


def epoch_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's Keras logs (or a ``history.csv`` row) under the names a tracker shows."""
    metrics = {}
    for key, value in logs.items():
        if key == "epoch":
            continue
        name = key if key.startswith(VALIDATION) or key in (LEARNING_RATE, EPOCH_TIME) else TRAINING + key
        try:
            metrics[name] = float(value)
        except (TypeError, ValueError):
            continue
    return metrics


RESUME_DIR = "resume"  # in the run's folder: the state of its last finished epoch


class ResumeFromLastEpoch(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` (weights, optimizer state and epoch, saved at each epoch's end
    in ``<run folder>/resume``) plus the early-stopping state (best value, epochs without
    improvement), so a run killed mid-training and started again in the same folder trains
    only the epochs it had not finished. The folder is kept only for the same ``fingerprint``
    (the run's configuration): a stale one from another configuration is removed, never loaded.
    It is deleted once training ends normally.

    The state is written as one flat HDF5 file of the model's and the optimizer's variables, in
    their order: under half of what Keras' ``save_weights`` costs, which on a small model is a
    good part of the epoch itself. The model that reads it back is the same configuration's.

    Place it after the callbacks whose figures it needs (the early stopper) and before the
    pruning callback, so that an epoch is saved before it is reported.
    """

    def __init__(
        self, folder: str | Path, fingerprint: str, stopper: keras.callbacks.EarlyStopping | None = None, history: Path | None = None
    ) -> None:
        """``history``: the run's per-epoch CSV, whose rows past the saved epoch (written by the
        killed run after its last save) are dropped when the run resumes."""
        # two copies: a run killed while writing one resumes from the other
        super().__init__(str(folder), save_freq="epoch", delete_checkpoint=True, double_checkpoint=True)
        self.folder, self.fingerprint, self.stopper = Path(folder), fingerprint, stopper
        stamp = self.folder / "fingerprint"
        if self.folder.exists() and (not stamp.is_file() or stamp.read_text() != fingerprint):
            shutil.rmtree(self.folder, ignore_errors=True)
        self.resumed_epochs = saved_epochs(self.folder)  # epochs a killed run had already finished
        if self.resumed_epochs and history is not None and history.is_file():
            with open(history, newline="") as f:
                rows = list(csv.reader(f))
            kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= self.resumed_epochs]
            with open(history, "w", newline="") as f:
                csv.writer(f).writerows(rows[:1] + kept)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Keras' callback sets the model's starting epoch and never clears it: a model reused for
        # the next run (hepsweep keeps compiled models) would skip its epochs too
        self.model._initial_epoch = None
        try:
            super().on_train_begin(logs)
        except Exception as exc:  # both saved copies unreadable (a job killed as it wrote them)
            log.warning("the saved epoch in %s cannot be read (%s); training starts from epoch 1", self.folder, exc)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.model._initial_epoch = None
            self.resumed_epochs = 0
            return
        state = self.folder / "early_stopping.json"
        if self.stopper is not None and self.resumed_epochs and state.is_file():
            saved = json.loads(state.read_text())
            self.stopper.wait, self.stopper.best_epoch = int(saved["wait"]), int(saved["best_epoch"])
            self.stopper.best = float(saved["best"]) if saved["best"] is not None else self.stopper.best

    def _variables(self) -> list[Any]:
        """The model's variables, then its optimizer's (built first if it is not yet)."""
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        return list(self.model.weights) + (list(optimizer.variables) if optimizer is not None else [])

    def _save_model(self) -> None:
        """The epoch's state: the previous one kept as ``.bkp`` (a run killed while writing
        resumes from it), then the variables and the epoch."""
        self.folder.mkdir(parents=True, exist_ok=True)
        weights, metadata = Path(self._weights_path), Path(self._training_metadata_path)
        if self.double_checkpoint and weights.is_file():
            shutil.copyfile(weights, self._prev_weights_path)
            if metadata.is_file():
                shutil.copyfile(metadata, self._prev_training_metadata_path)
        image = io.BytesIO()  # written whole at once: a full disk is one OSError here, not h5py's at close
        with h5py.File(image, "w") as f:
            for i, variable in enumerate(self._variables()):
                f.create_dataset(str(i), data=keras.ops.convert_to_numpy(variable))
        weights.write_bytes(image.getvalue())
        metadata.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def _load_model(self) -> None:
        """Put the saved variables back and start at the epoch after the saved one."""
        weights, metadata = Path(self._weights_path), Path(self._training_metadata_path)
        if weights.is_file():
            variables = self._variables()
            with h5py.File(weights, "r") as f:
                values = [f[str(i)][()] for i in range(len(f))]
            if [v.shape for v in values] != [tuple(variable.shape) for variable in variables]:
                raise OSError(f"{weights} holds the variables of another model")
            for variable, value in zip(variables, values):
                variable.assign(value)
        if metadata.is_file():
            self.model._initial_epoch = int(json.loads(metadata.read_text())["epoch"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        (self.folder / "fingerprint").write_text(self.fingerprint)
        if self.stopper is not None:
            best = self.stopper.best
            state = {"wait": self.stopper.wait, "best_epoch": self.stopper.best_epoch,
                     "best": float(best) if best is not None and math.isfinite(float(best)) else None}
            (self.folder / "early_stopping.json").write_text(json.dumps(state))


def saved_epochs(folder: Path) -> int:
    """How many epochs the state saved in ``folder`` (a run's ``resume/``) has finished; 0 if none."""
    try:
        return int(json.loads((folder / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def take_over(previous: Path, folder: Path, history_name: str) -> list[tuple[int, dict[str, float]]]:
    """Copy what a killed run left in its folder ``previous`` (its saved state and per-epoch
    history) into ``folder``, where a run of the same configuration then resumes; the epochs
    taken over, as (epoch, figures) pairs, to report again. Nothing is taken when ``folder``
    has a saved state of its own."""
    source, target = previous / RESUME_DIR, folder / RESUME_DIR
    epochs = saved_epochs(source)
    if not epochs or target.exists():
        return []
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    rows: list[tuple[int, dict[str, float]]] = []
    if (previous / history_name).is_file():
        shutil.copy2(previous / history_name, folder / history_name)
        with open(folder / history_name, newline="") as f:
            rows = [(int(r["epoch"]), epoch_metrics(r)) for r in csv.DictReader(f) if r.get("epoch", "").isdigit()]
    return [(epoch, figures) for epoch, figures in rows if epoch <= epochs] or [(e, {}) for e in range(1, epochs + 1)]
