"""Benchmark: hepsweep's HEPMASS sweep beside the searches people run without it.

Why: hepsweep adds Hydra, Optuna pruning and MLflow tracking around every training. This script
measures what that costs and what it buys compared with the alternatives a physicist would
actually use: a plain for-loop, keras-tuner's Hyperband and hand-written Optuna. All arms run in
one invocation, on the same generated HEPMASS-format CSV files, over the search space of the
HEPMASS article (seeds/002):

  an MLP with 3 hidden relu layers of units in {28, 56, 84, 112} and a sigmoid output, binary
  cross-entropy, Adam with lr in {1e-2, 1e-3, 1e-4}, batch 512, at most 10 epochs; objective the
  validation ROC AUC on a 70/30 split of the training file; reported: the test ROC AUC (sklearn)
  of the selected configuration on the separate test file.

Arms (each one runs in its own child process, so start-up, imports and memory are its own):

  bare          a for-loop over the 12 grid points: build, compile, fit, test AUC
  kerastuner    keras_tuner.Hyperband(max_epochs=10, factor=3) on val_auc
  optuna        Optuna TPE (seed 0) + HyperbandPruner(1, 10, 3), 12 trials, Keras pruning callback
  hepsweep      the CLI: hepsweep -m sweep=hepmass_mlp on the same CSV files (a fresh output and
                cache folder per run); --with-tpe adds a second run with the TPE sampler

The parent samples the resident memory of each child's process tree every 0.2 s. Each arm
reports when its trials ended; "RSS growth per trial" is the least-squares slope of the tree
RSS at those moments, the first (warm-up) trial left out. The baselines standardise the
features with the training split's mean and std and share one seeded 70/30 permutation;
hepsweep does its own split and scaling from the same files.

    python scripts/bench_sweeps.py                  # 60k train / 20k test events, 10 epochs
    python scripts/bench_sweeps.py --quick          # 3k / 1k events, 3 epochs (3-4 min on 2 cores)
    python scripts/bench_sweeps.py --with-tpe --out results.json
    python scripts/bench_sweeps.py --hepsweep-override tracking=off      # extra hepsweep overrides
    python scripts/bench_sweeps.py --memory [--trials 60]   # RSS growth over a long study
    python scripts/bench_sweeps.py --parallel       # trials per hour, n_jobs=1 against n_jobs=2

What the parent runs for each arm (also handy on its own):

    python scripts/bench_sweeps.py --arm optuna --workdir W --json OUT

Needs the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

# Only the standard library above: the hepsweep arm's own process stays small, and the heavy
# imports (TensorFlow, Optuna, keras-tuner) happen inside the arm that needs them.

UNITS = (28, 56, 84, 112)
LEARNING_RATES = (1e-2, 1e-3, 1e-4)
N_LAYERS = 3
N_INPUTS = 28  # 27 features and the mass hypothesis
BATCH_SIZE = 512
VAL_FRACTION = 0.3
MASSES = [500.0, 750.0, 1000.0, 1250.0, 1500.0]
OPTUNA_TRIALS = 12
PRUNER_MAX_RESOURCE = 10  # as in sweeps/hepmass_mlp.yaml, also in --quick
SAMPLE_EVERY_S = 0.2
SETUP_FILE = "bench_setup.json"
MIB = 2**20

BASELINE_ARMS = ("bare", "kerastuner", "optuna")
COMPARE_ARMS = (*BASELINE_ARMS, "hepsweep")
MEMORY_ARMS = ("bare-memory", "hepsweep-memory")
PARALLEL_ARMS = ("hepsweep-jobs1", "hepsweep-jobs2")
# Pruning off. Not "hydra.sweeper.pruner.name=none": that keeps the sweep's other pruner keys
# (min_resource, n_startup_trials, ...), which hepsweep then hands to NopPruner, and it refuses.
NO_PRUNER = "hydra.sweeper.pruner=none"
# Overrides that make each hepsweep arm what it is, on top of the shared HEPMASS ones.
HEPSWEEP_VARIANTS: dict[str, tuple[str, ...]] = {
    "hepsweep": (),
    "hepsweep-tpe": ("hydra.sweeper.sampler.name=tpe",),
    # --parallel: without pruning both do the same work. Whether two trials really ran at once
    # (a launcher that runs one at a time ignores n_jobs) shows in the "at once" column; add
    # e.g. --hepsweep-override hydra/launcher=joblib for a hepsweep whose launcher needs it.
    "hepsweep-jobs1": (NO_PRUNER, "hydra.sweeper.n_jobs=1"),
    "hepsweep-jobs2": (NO_PRUNER, "hydra.sweeper.n_jobs=2"),
}
ALL_ARMS = (*BASELINE_ARMS, *HEPSWEEP_VARIANTS, *MEMORY_ARMS)


@dataclass(frozen=True)
class Sizes:
    train: int
    test: int
    epochs: int


FULL, QUICK = Sizes(60_000, 20_000, 10), Sizes(3_000, 1_000, 3)


@dataclass
class Setup:
    """What the parent prepared in the work folder; every child reads it back."""

    workdir: str
    epochs: int
    quick: bool
    seed: int
    train_csv: str = ""
    test_csv: str = ""
    memory_csv: str = ""
    trials: int = 60
    timeout_s: float | None = None  # per arm
    hepsweep_overrides: list[str] = field(default_factory=list)

    def save(self) -> None:
        (Path(self.workdir) / SETUP_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, workdir: Path) -> Setup:
        return cls(**json.loads((workdir / SETUP_FILE).read_text()))


# --------------------------------------------------------------------------------------------
# What an arm reports (child side) and what the parent measured around it
# --------------------------------------------------------------------------------------------


@dataclass
class Trial:
    params: dict[str, Any]
    ident: str = ""
    start: float | None = None  # time.time() when the trial started (hepsweep arms only)
    state: str = "COMPLETE"  # COMPLETE, PRUNED or FAIL
    fit_s: float = 0.0
    epochs: int = 0
    end: float | None = None  # time.time() when the trial ended
    value: float | None = None  # the objective: validation AUC
    test_auc: float | None = None
    epoch_s: list[float] = field(default_factory=list)  # each epoch's duration


@dataclass
class ArmResult:
    arm: str
    trials: list[Trial] = field(default_factory=list)
    best_test_auc: float | None = None
    best_params: dict[str, Any] | None = None
    first_epoch_end: float | None = None  # time.time() when the first epoch of the study ended
    first_epoch_note: str = "measured"
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def n_pruned(self) -> int:
        return sum(t.state == "PRUNED" for t in self.trials)

    @property
    def epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    @property
    def fit_s(self) -> float:
        return sum(t.fit_s for t in self.trials)

    @property
    def distinct_configs(self) -> int:
        trained = [t for t in self.trials if t.epochs > 0]
        return len({json.dumps(t.params, sort_keys=True) for t in trained})

    def pick_best_by_value(self) -> None:
        complete = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]
        if complete:
            best = max(complete, key=lambda t: t.value or -math.inf)
            self.best_test_auc, self.best_params = best.test_auc, best.params

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArmResult:
        known = {f.name for f in fields(cls)}
        result = cls(**{k: v for k, v in data.items() if k in known})
        result.trials = [Trial(**t) for t in data.get("trials", [])]
        return result


@dataclass
class ArmRun:
    """One child process as the parent saw it."""

    result: ArmResult
    command: list[str]
    started: float  # time.time() at the launch
    wall_s: float
    returncode: int
    samples: list[tuple[float, float, float]]  # (time, tree RSS, main-process RSS) in bytes
    stderr_tail: str = ""

    @property
    def arm(self) -> str:
        return self.result.arm

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or self.result.error is not None

    def peak_mib(self, column: int = 1) -> float | None:
        peak = max((s[column] for s in self.samples), default=0.0)
        return peak / MIB if peak else None

    def growth_mib_per_trial(self, column: int = 1) -> float | None:
        ends = sorted(t.end for t in self.result.trials if t.end is not None)
        return rss_growth_per_trial(self.samples, ends, column)

    def phases(self) -> dict[str, Any]:
        """Where the wall time went: to the end of the first trial (start-up, data, the first
        trial), the steady part (from there to the last trial's end) and the end (results,
        exit). The steady part's overhead is what each later trial costs beyond its ``fit``."""
        trials = [t for t in self.result.trials if t.end is not None]
        if len(trials) < 2:
            return {}
        first_end = min(t.end for t in trials)  # type: ignore[type-var]
        last_end = max(t.end for t in trials)  # type: ignore[type-var]
        later = [t for t in trials if t.end != first_end]
        steady_fit = sum(t.fit_s for t in later)
        steady = last_end - first_end
        later_epochs = sorted(d for t in trials for d in t.epoch_s[1:])
        return {
            "to_first_trial_end_s": first_end - self.started,
            "steady_s": steady,
            "steady_fit_s": steady_fit,
            "steady_over_fit": steady / steady_fit if steady_fit else None,
            "overhead_per_trial_s": (steady - steady_fit) / len(later),
            "end_s": self.started + self.wall_s - last_end,
            "epoch_s_median_after_first": later_epochs[len(later_epochs) // 2] if later_epochs else None,
        }

    @property
    def first_epoch_s(self) -> float | None:
        end = self.result.first_epoch_end
        return None if end is None else end - self.started

    def summary(self) -> dict[str, Any]:
        r = self.result
        return {
            "arm": self.arm,
            "trials": len(r.trials),
            "pruned": r.n_pruned,
            "epochs": r.epochs,
            "wall_s": self.wall_s,
            "sum_fit_s": r.fit_s,
            "wall_over_fit": self.wall_s / r.fit_s if r.fit_s else None,
            "best_test_auc": r.best_test_auc,
            "best_params": r.best_params,
            "distinct_configs": r.distinct_configs,
            "rss_growth_mib_per_trial": self.growth_mib_per_trial(1),
            "rss_growth_main_mib_per_trial": self.growth_mib_per_trial(2),
            "peak_rss_mib": self.peak_mib(1),
            "peak_rss_main_mib": self.peak_mib(2),
            "first_epoch_s": self.first_epoch_s,
            "first_epoch_note": r.first_epoch_note,
            **self.phases(),
            "returncode": self.returncode,
            "error": r.error,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "command": self.command,
            "result": self.result.to_json(),
            "stderr_tail": self.stderr_tail,
            "rss_samples_s_tree_main": [
                [round(t - self.started, 2), tree, main] for t, tree, main in self.samples
            ],
        }


def rss_growth_per_trial(
    samples: Sequence[tuple[float, float, float]], trial_ends: Sequence[float], column: int
) -> float | None:
    """Slope (MiB per trial) of the RSS at each trial's end, the warm-up trial left out."""
    points = [(i, rss_at(samples, end, column)) for i, end in enumerate(trial_ends)][1:]
    points = [(x, y) for x, y in points if y is not None]
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx / MIB


def rss_at(samples: Sequence[tuple[float, float, float]], when: float, column: int) -> float | None:
    """The last sample taken at or before ``when`` (the first one if ``when`` precedes them)."""
    before = [s for s in samples if s[0] <= when]
    chosen = before[-1] if before else (samples[0] if samples else None)
    return None if chosen is None else chosen[column]


# --------------------------------------------------------------------------------------------
# Child side: the data and the Keras pieces every baseline shares
# --------------------------------------------------------------------------------------------


@dataclass
class Data:
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any


def read_hepmass_csv(path: str) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path)
    return frame.iloc[:, 1:].to_numpy(np.float32), frame.iloc[:, 0].to_numpy(np.int64)


def load_data(train_csv: str, test_csv: str, seed: int) -> Data:
    """A seeded 70/30 split of the training file; every file scaled by the training split."""
    import numpy as np

    x, y = read_hepmass_csv(train_csv)
    order = np.random.default_rng(seed).permutation(len(y))
    n_train = len(y) - int(round(len(y) * VAL_FRACTION))
    train, val = order[:n_train], order[n_train:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0

    def scale(a: Any) -> Any:
        return ((a - mean) / std).astype(np.float32)

    x_test, y_test = read_hepmass_csv(test_csv) if test_csv else (x[:0], y[:0])
    return Data(scale(x[train]), y[train], scale(x[val]), y[val], scale(x_test), y_test)


def build_mlp(units: int, lr: float, n_layers: int = N_LAYERS) -> Any:
    import keras

    layers = [keras.layers.Dense(units, activation="relu") for _ in range(n_layers)]
    output = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Sequential([keras.Input((N_INPUTS,)), *layers, output])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    return model


def roc_auc_on_test(model: Any, data: Data) -> float:
    from sklearn.metrics import roc_auc_score

    scores = model.predict(data.x_test, batch_size=8192, verbose=0).ravel()
    return float(roc_auc_score(data.y_test, scores))


@functools.cache
def epoch_clock() -> Any:
    """One callback per process that counts every epoch trained and notes when the first ended."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epochs = 0
            self.first_end: float | None = None
            self.durations: list[float] = []
            self._began = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._began = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epochs += 1
            self.durations.append(time.perf_counter() - self._began)
            if self.first_end is None:
                self.first_end = time.time()

        def __deepcopy__(self, memo: dict[int, Any]) -> EpochClock:
            return self  # keras-tuner deep-copies the callbacks of every trial: keep one tally

    return EpochClock()


@contextmanager
def recorded_trial(result: ArmResult, params: dict[str, Any]) -> Iterator[Trial]:
    """Append a trial to ``result`` with its start and end time, as FAIL if the body raised."""
    trial = Trial(params, start=time.time())
    try:
        yield trial
    except BaseException:
        if trial.state == "COMPLETE":
            trial.state = "FAIL"
        raise
    finally:
        trial.end = time.time()
        result.trials.append(trial)
        result.first_epoch_end = epoch_clock().first_end


@contextmanager
def timed_training(trial: Trial) -> Iterator[None]:
    """Add the time and the epochs trained inside the block to ``trial`` (even if it raises)."""
    clock = epoch_clock()
    epochs_before, start = clock.epochs, time.perf_counter()
    try:
        yield
    finally:
        trial.fit_s += time.perf_counter() - start
        trial.epochs += clock.epochs - epochs_before
        trial.epoch_s += clock.durations[epochs_before:]


def fit(
    model: Any,
    data: Data,
    trial: Trial,
    epochs: int,
    batch_size: int = BATCH_SIZE,
    callbacks: Sequence[Any] = (),
) -> dict[str, list[float]]:
    """model.fit on the training split, validated on the validation split; timed into ``trial``."""
    with timed_training(trial):
        history = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            callbacks=[epoch_clock(), *callbacks],
        )
    return history.history


def hepmass_data(setup: Setup) -> Data:
    return load_data(setup.train_csv, setup.test_csv, setup.seed)


# --------------------------------------------------------------------------------------------
# Child side: the arms
# --------------------------------------------------------------------------------------------


def arm_bare(setup: Setup) -> ArmResult:
    """What one writes without a tool: every grid point, full length, no pruning, no tracking
    (and no keras.backend.clear_session() between models, as such loops usually are)."""
    data, result = hepmass_data(setup), ArmResult("bare")
    for units, lr in itertools.product(UNITS, LEARNING_RATES):
        with recorded_trial(result, {"units": units, "lr": lr}) as trial:
            model = build_mlp(units, lr)
            trial.value = fit(model, data, trial, setup.epochs)["val_auc"][-1]
            trial.test_auc = roc_auc_on_test(model, data)
    result.pick_best_by_value()
    return result


def arm_kerastuner(setup: Setup) -> ArmResult:
    import keras_tuner as kt

    data, result = hepmass_data(setup), ArmResult("kerastuner")

    class TimedHyperband(kt.Hyperband):  # type: ignore[misc]
        """Hyperband that records each trial's configuration, training time, epochs and end."""

        def run_trial(self, kt_trial: Any, *args: Any, **kwargs: Any) -> Any:
            hp = kt_trial.hyperparameters
            with recorded_trial(result, {"units": hp.get("units"), "lr": hp.get("lr")}) as trial:
                trial.ident = kt_trial.trial_id
                with timed_training(trial):
                    return super().run_trial(kt_trial, *args, **kwargs)

    def hypermodel(hp: Any) -> Any:
        return build_mlp(hp.Choice("units", list(UNITS)), hp.Choice("lr", list(LEARNING_RATES)))

    tuner = TimedHyperband(
        hypermodel,
        objective=kt.Objective("val_auc", "max"),
        max_epochs=setup.epochs,
        factor=3,
        seed=setup.seed,
        directory=tempfile.mkdtemp(prefix="kerastuner-", dir=setup.workdir),
        project_name="hepmass",
        overwrite=True,
    )
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[epoch_clock()],
    )
    mark_hyperband_stops(result, tuner.oracle, setup.epochs)
    best = tuner.oracle.get_best_trials(1)[0]
    result.best_params = {k: best.hyperparameters.get(k) for k in ("units", "lr")}
    result.best_test_auc = roc_auc_on_test(tuner.get_best_models(1)[0], data)
    return result


def mark_hyperband_stops(result: ArmResult, oracle: Any, max_epochs: int) -> None:
    """keras-tuner does not prune; a configuration Hyperband did not promote and that ended
    before ``max_epochs`` counts as pruned here (the same thing an Optuna pruner does)."""
    continued = {t.hyperparameters.values.get("tuner/trial_id") for t in oracle.trials.values()}
    for trial in result.trials:
        kt_trial = oracle.trials[trial.ident]
        trial.value = kt_trial.score
        last_epoch = kt_trial.hyperparameters.values.get("tuner/epochs", max_epochs)
        if trial.state == "COMPLETE" and last_epoch < max_epochs and trial.ident not in continued:
            trial.state = "PRUNED"
    result.notes.append("pruned = configurations Hyperband stopped before max_epochs")


def keras_pruning_callback() -> type:
    """optuna-integration has KerasPruningCallback (built on ``keras``) and
    TFKerasPruningCallback (built on ``tf.keras``); take the first that is a Keras 3 callback."""
    import keras
    import optuna_integration

    for name in ("KerasPruningCallback", "TFKerasPruningCallback"):
        candidate = getattr(optuna_integration, name, None)
        if isinstance(candidate, type) and issubclass(candidate, keras.callbacks.Callback):
            return candidate
    raise RuntimeError("optuna-integration has no pruning callback usable with Keras 3")


def arm_optuna(setup: Setup) -> ArmResult:
    import keras
    import optuna

    data, result = hepmass_data(setup), ArmResult("optuna")
    pruning_callback = keras_pruning_callback()
    result.notes.append(f"optuna_integration.{pruning_callback.__name__}")

    def objective(ot: optuna.Trial) -> float:
        keras.backend.clear_session()  # as in Optuna's own Keras example
        params = {
            "units": ot.suggest_categorical("units", list(UNITS)),
            "lr": ot.suggest_categorical("lr", list(LEARNING_RATES)),
        }
        with recorded_trial(result, params) as trial:
            trial.ident = str(ot.number)
            model = build_mlp(**params)
            try:
                pruning = pruning_callback(ot, "val_auc")
                history = fit(model, data, trial, setup.epochs, callbacks=[pruning])
            except optuna.TrialPruned:
                trial.state = "PRUNED"
                raise
            value = trial.value = float(history["val_auc"][-1])
            trial.test_auc = roc_auc_on_test(model, data)
            ot.set_user_attr("test_auc", trial.test_auc)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=PRUNER_MAX_RESOURCE, reduction_factor=3
        ),
    )
    study.optimize(objective, n_trials=OPTUNA_TRIALS)
    result.best_params = study.best_trial.params
    result.best_test_auc = study.best_trial.user_attrs.get("test_auc")
    return result


def arm_bare_memory(setup: Setup) -> ArmResult:
    """A plain loop over random quickstart configurations, 1 epoch each on 500 events."""
    import numpy as np

    data, result = load_data(setup.memory_csv, "", setup.seed), ArmResult("bare-memory")
    rng = np.random.default_rng(setup.seed)
    for _ in range(setup.trials):
        params = {
            "units": int(rng.choice([16, 32, 64, 128])),
            "n_layers": int(rng.integers(1, 4)),
            "lr": float(np.exp(rng.uniform(np.log(1e-4), np.log(3e-2)))),
            "batch_size": int(rng.choice([64, 128, 256])),
        }
        with recorded_trial(result, params) as trial:
            model = build_mlp(params["units"], params["lr"], params["n_layers"])
            trial.value = fit(model, data, trial, 1, batch_size=params["batch_size"])["val_auc"][-1]
    return result


def hepsweep_arguments(arm: str, setup: Setup) -> tuple[str, list[str]]:
    """The study name and the CLI overrides of one hepsweep arm."""
    if arm == "hepsweep-memory":
        study, arguments = "quickstart", [
            "sweep=quickstart",
            "dataset.n_events=500",
            "train.epochs=1",
            f"hydra.sweeper.n_trials={setup.trials}",
            NO_PRUNER,
        ]
    else:
        study, arguments = "hepmass_mlp", [
            "sweep=hepmass_mlp",
            f"dataset.path={setup.train_csv}",
            f"dataset.test_path={setup.test_csv}",
            "dataset.split.train=0.7",
            "dataset.split.val=0.3",
            "dataset.split.test=0",
            f"train.batch_size={BATCH_SIZE}",
            "objective=val_auc",
            *([f"train.epochs={setup.epochs}"] if setup.quick else []),
            *HEPSWEEP_VARIANTS[arm],
        ]
    return study, [*arguments, *setup.hepsweep_overrides]


def hepsweep_executable() -> list[str]:
    script = Path(sys.executable).with_name("hepsweep")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hepsweep"]


def arm_hepsweep(arm: str, setup: Setup) -> ArmResult:
    """Run the CLI in a fresh output and cache folder, then read the Optuna study and the trials'
    summary.json back (the stable interface; nothing else of hepsweep's internals)."""
    study_name, arguments = hepsweep_arguments(arm, setup)
    folder = Path(tempfile.mkdtemp(prefix=f"{arm}-", dir=setup.workdir))
    output, cache = folder / "output", folder / "cache"
    env = {**os.environ, "HEPSWEEP_OUTPUT": str(output), "HEPSWEEP_CACHE": str(cache)}
    command = [*hepsweep_executable(), "-m", *arguments]
    result = ArmResult(arm, notes=[shlex.join(command)])
    with open(folder / "cli.stdout", "w") as out, open(folder / "cli.stderr", "w") as err:
        cli = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
        returncode, timed_out = wait_or_stop(cli, setup.timeout_s)
    if returncode != 0:
        tail = tail_of(folder / "cli.stderr") or tail_of(folder / "cli.stdout")
        why = f"stopped after {setup.timeout_s:.0f} s" if timed_out else f"exited with {returncode}"
        result.error = f"hepsweep {why}:\n{tail}"
    try:
        read_hepsweep_study(result, output, study_name)
    except Exception as exc:  # a failed run may leave no study behind
        if result.error is None:
            raise
        result.notes.append(f"no results readable: {exc}")
    return result


def read_hepsweep_study(result: ArmResult, output: Path, study_name: str) -> None:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{output / 'optuna.db'}")
    trials_dir = output / "studies" / study_name
    for frozen in study.get_trials(deepcopy=False):
        summary = read_json(trials_dir / f"trial_{frozen.number}" / "summary.json")
        metrics = summary.get("metrics", {})
        result.trials.append(
            Trial(
                params=dict(frozen.params),
                ident=str(frozen.number),
                state=frozen.state.name,
                fit_s=float(metrics.get("train_time_s") or 0.0),
                epochs=int(summary.get("epochs_run") or 0),
                start=frozen.datetime_start.timestamp() if frozen.datetime_start else None,
                end=frozen.datetime_complete.timestamp() if frozen.datetime_complete else None,
                value=frozen.values[0] if frozen.values else None,
                test_auc=metrics.get("test_auc"),
                epoch_s=read_epoch_times(trials_dir / f"trial_{frozen.number}" / "history.csv"),
            )
        )
    if any(t.state == "COMPLETE" for t in result.trials):
        best = study.best_trial
        result.best_params = dict(best.params)
        result.best_test_auc = next(
            t.test_auc for t in result.trials if t.ident == str(best.number)
        )
    first = min(study.get_trials(deepcopy=False), key=lambda t: t.number, default=None)
    if first is not None:
        note_first_epoch(result, trials_dir / f"trial_{first.number}")
    note_retraining(result, trials_dir)


def note_first_epoch(result: ArmResult, trial_dir: Path) -> None:
    """Trial 0's training start (summary.json) plus its first epoch's duration (history.csv)."""
    started = read_json(trial_dir / "summary.json").get("train_started_at")
    first_epoch = read_first_epoch_time(trial_dir / "history.csv")
    if started is None or first_epoch is None:
        result.first_epoch_note = "not recorded (summary.json or history.csv lacks it)"
        return
    from datetime import datetime

    result.first_epoch_end = datetime.fromisoformat(started).timestamp() + first_epoch
    result.first_epoch_note = "trial 0's train_started_at + its first epoch_time_s"


def read_first_epoch_time(history: Path) -> float | None:
    times = read_epoch_times(history)
    return times[0] if times else None


def read_epoch_times(history: Path) -> list[float]:
    """Each epoch's duration from a hepsweep trial's history.csv (none if it has none)."""
    import csv

    if not history.is_file():
        return []
    with open(history, newline="") as handle:
        try:
            return [float(row["epoch_time_s"]) for row in csv.DictReader(handle)]
        except (KeyError, TypeError, ValueError):
            return []


def note_retraining(result: ArmResult, trials_dir: Path) -> None:
    """hepsweep may retrain the best trial after the sweep: inside wall s, not in the trials."""
    for summary_path in sorted(trials_dir.glob("*/summary.json")):
        if not summary_path.parent.name.startswith("trial_"):
            summary = read_json(summary_path)
            metrics = summary.get("metrics", {})
            fit_s = float(metrics.get("train_time_s") or 0.0)
            result.notes.append(
                f"{summary_path.parent.name}: {summary.get('epochs_run')} epochs, "
                f"{fit_s:.1f} s fit, "
                f"test AUC {fmt(metrics.get('test_auc'), '.4f')} (after the sweep: in wall s only)"
            )


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


# TensorFlow's start-up chatter, left out of the error tails.
NOISE = (
    "absl::InitializeLog", "cudart_stub", "cuda_", "oneDNN", "cpu_feature_guard",
    "rebuild TensorFlow",
)  # fmt: skip


def tail_of(path: Path, lines: int = 12) -> str:
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").rstrip().splitlines()
    return "\n".join([line for line in text if not any(n in line for n in NOISE)][-lines:])


def wait_or_stop(process: subprocess.Popen[Any], timeout_s: float | None) -> tuple[int, bool]:
    """Wait for ``process``; past ``timeout_s`` stop it and its descendants.

    Returns (exit code, whether it was stopped)."""
    try:
        return process.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        stop_tree(process.pid)
        return process.wait(), True


def stop_tree(pid: int) -> None:
    """SIGTERM a process this script started and all its descendants; SIGKILL what is left."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def is_hepsweep_arm(arm: str) -> bool:
    return arm in HEPSWEEP_VARIANTS or arm == "hepsweep-memory"


def run_arm_here(arm: str, setup: Setup) -> ArmResult:
    if is_hepsweep_arm(arm):
        return arm_hepsweep(arm, setup)
    arms = {
        "bare": arm_bare,
        "kerastuner": arm_kerastuner,
        "optuna": arm_optuna,
        "bare-memory": arm_bare_memory,
    }
    return arms[arm](setup)


def child_main(arm: str, workdir: Path, json_path: Path) -> int:
    try:
        result = run_arm_here(arm, Setup.load(workdir))
    except Exception:
        result = ArmResult(arm, error=traceback.format_exc(limit=6))
    json_path.write_text(json.dumps(result.to_json(), indent=1, default=str))
    return 0 if result.error is None else 1


# --------------------------------------------------------------------------------------------
# Parent side: data, child processes and memory sampling
# --------------------------------------------------------------------------------------------


def write_hepmass_csv(path: Path, n_events: int, seed: int) -> str:
    import numpy as np

    from hepsweep.data.hepmass import generate_hepmass

    events = generate_hepmass(n_events, MASSES, np.random.default_rng(seed))
    header = "# label, " + ", ".join(f"f{i}" for i in range(N_INPUTS - 1)) + ", mass"
    table = np.column_stack([events.y, events.x])
    np.savetxt(path, table, delimiter=",", fmt="%.7g", header=header, comments="")
    return str(path)


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants every SAMPLE_EVERY_S seconds.

    Besides the tree total it keeps the RSS of the "main" process: the child itself at depth 0,
    or the largest of its direct children at depth 1 (the hepsweep sweeper, whose arm process
    only waits for it).
    """

    def __init__(self, pid: int, main_depth: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.process, self.main_depth = psutil.Process(pid), main_depth
        self.samples: list[tuple[float, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            sample = self.sample()
            if sample is not None:
                self.samples.append(sample)
            self.done.wait(SAMPLE_EVERY_S)

    def sample(self) -> tuple[float, float, float] | None:
        import psutil

        def rss(process: psutil.Process) -> int:
            try:
                return int(process.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                return 0

        try:
            descendants = self.process.children(recursive=True)
            direct = self.process.children() if self.main_depth else []
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        root = rss(self.process)
        tree = root + sum(rss(p) for p in descendants)
        main = max((rss(p) for p in direct), default=0) if self.main_depth else root
        return (time.time(), float(tree), float(main))


def run_child(arm: str, setup: Setup) -> ArmRun:
    workdir = Path(setup.workdir)
    json_path, stderr_path = workdir / f"{arm}.json", workdir / f"{arm}.stderr"
    command = [sys.executable, str(Path(__file__).resolve()), "--arm", arm]
    command += ["--workdir", str(workdir), "--json", str(json_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    json_path.unlink(missing_ok=True)
    progress(f"[{arm}] running ...")
    start = time.time()
    with open(workdir / f"{arm}.stdout", "w") as out, open(stderr_path, "w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        sampler = TreeSampler(process.pid, main_depth=1 if is_hepsweep_arm(arm) else 0)
        sampler.start()
        # The hepsweep arm stops its own CLI at the limit and still reads what finished; this
        # outer limit only catches an arm process that does not end.
        limit = None if setup.timeout_s is None else setup.timeout_s + 120
        returncode, timed_out = wait_or_stop(process, limit)
        wall_s = time.time() - start
        sampler.done.set()
        sampler.join()
    if json_path.is_file():
        result = ArmResult.from_json(json.loads(json_path.read_text()))
    else:
        why = f"stopped after {limit:.0f} s" if timed_out else f"exit {returncode}"
        result = ArmResult(arm, error=f"no result written ({why})")
    run = ArmRun(result, command, start, wall_s, returncode, sampler.samples, tail_of(stderr_path))
    outcome = "FAILED" if run.failed else "done"
    progress(f"[{arm}] {outcome} in {wall_s:.1f} s, {len(result.trials)} trials")
    return run


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Parent side: reporting
# --------------------------------------------------------------------------------------------


def machine_description() -> str:
    import psutil

    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = psutil.virtual_memory().total / 2**30
    return f"{usable} cores, {model}, {ram:.1f} GiB RAM, {platform.system()} {platform.release()}"


def fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# a table's columns: (header, the cell of one arm's figures)
Columns = Sequence[tuple[str, Any]]


def figures_table(runs: Sequence[ArmRun], columns: Columns, figures: Any) -> str:
    """One row per arm: ``figures(run)`` gives its figures, each column formats one of them."""
    rows = [[cell(run, figures(run)) for _, cell in columns] for run in runs]
    return markdown_table([header for header, _ in columns], rows)


def cell(key: str, spec: str = ".1f") -> Any:
    return lambda run, figures: fmt(figures.get(key), spec)


def count(key: str) -> Any:
    return lambda run, figures: str(figures.get(key))


def arm_name(run: ArmRun, figures: dict[str, Any]) -> str:
    return run.arm + (" (FAILED)" if run.failed else "")


COMPARISON: Columns = [
    ("arm", arm_name), ("trials", count("trials")), ("pruned", count("pruned")),
    ("epochs", count("epochs")), ("wall s", cell("wall_s")),
    ("wall / sum of fit", cell("wall_over_fit", ".2f")), ("best test AUC", cell("best_test_auc", ".4f")),
    ("distinct configs", count("distinct_configs")),
    ("RSS growth MiB/trial", cell("rss_growth_mib_per_trial", "+.2f")), ("peak RSS MiB", cell("peak_rss_mib", ".0f")),
]  # fmt: skip
PHASES: Columns = [
    ("arm", arm_name), ("to first trial end s", cell("to_first_trial_end_s")), ("steady s", cell("steady_s")),
    ("steady fit s", cell("steady_fit_s")), ("steady / fit", cell("steady_over_fit", ".2f")),
    ("overhead per later trial s", cell("overhead_per_trial_s", ".3f")), ("end s", cell("end_s")),
    ("epoch s (median, later epochs)", cell("epoch_s_median_after_first", ".3f")),
]  # fmt: skip


def comparison_table(runs: Sequence[ArmRun]) -> str:
    return figures_table(runs, COMPARISON, ArmRun.summary)


def phases_table(runs: Sequence[ArmRun]) -> str:
    legend = (
        "steady: from the first trial's end to the last one's; its overhead is what each later trial "
        "costs beyond its fit (set-up, records, evaluation); end: from the last trial's end to the exit"
    )
    return figures_table(runs, PHASES, ArmRun.phases) + f"\n({legend})"


def ratios(runs: Sequence[ArmRun], reference: str = "hepsweep") -> list[dict[str, Any]]:
    ours = next((r for r in runs if r.arm == reference and r.result.trials), None)
    if ours is None:
        return []
    found = []
    for other in runs:
        if other is ours or not other.result.trials:
            continue
        a, b = ours.summary(), other.summary()
        auc_diff = None
        if a["best_test_auc"] is not None and b["best_test_auc"] is not None:
            auc_diff = a["best_test_auc"] - b["best_test_auc"]
        epoch_a, epoch_b = a.get("epoch_s_median_after_first"), b.get("epoch_s_median_after_first")
        found.append({
            "versus": other.arm,
            "wall_ratio": a["wall_s"] / b["wall_s"] if b["wall_s"] else None,
            "epoch_time_ratio": epoch_a / epoch_b if epoch_a and epoch_b else None,
            "epochs_ratio": a["epochs"] / b["epochs"] if b["epochs"] else None,
            "test_auc_difference": auc_diff,
        })  # fmt: skip
    return found


def print_ratios(found: Sequence[dict[str, Any]], reference: str = "hepsweep") -> None:
    if not found:
        print(f"\n(no ratios: the {reference} arm produced no trials)")
        return
    print(f"\n{reference} against each other arm:")
    for r in found:
        print(
            f"  vs {r['versus']:<12} wall x{fmt(r['wall_ratio'], '.2f')}, "
            f"epochs x{fmt(r['epochs_ratio'], '.2f')}, "
            f"time per epoch x{fmt(r['epoch_time_ratio'], '.2f')}, "
            f"test AUC {fmt(r['test_auc_difference'], '+.4f')}"
        )


def print_details(runs: Sequence[ArmRun]) -> None:
    print("\ntime to first epoch end, from the arm's process start:")
    for run in runs:
        if run.first_epoch_s is None:
            print(f"  {run.arm:<15}      - (no epoch ended)")
        else:
            print(f"  {run.arm:<15} {run.first_epoch_s:6.1f} s  ({run.result.first_epoch_note})")
    notes = [(run.arm, note) for run in runs for note in run.result.notes]
    if notes:
        print("\nnotes:")
        for arm, note in notes:
            print(f"  [{arm}] {note}")
    for run in runs:
        if run.failed:
            print(f"\n[{run.arm}] FAILED (exit {run.returncode}):")
            print(indent(run.result.error or run.stderr_tail or "(no output)"))


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def memory_table(runs: Sequence[ArmRun]) -> str:
    header = [
        "arm", "trials", "RSS growth MiB/trial (tree)", "RSS growth MiB/trial (main process)",
        "peak RSS MiB (tree)",
    ]  # fmt: skip
    rows = [
        [
            run.arm + (" (FAILED)" if run.failed else ""),
            str(len(run.result.trials)),
            fmt(run.growth_mib_per_trial(1), "+.2f"),
            fmt(run.growth_mib_per_trial(2), "+.2f"),
            fmt(run.peak_mib(1), ".0f"),
        ]
        for run in runs
    ]
    legend = "main process: the training loop itself for bare, the sweeper process for hepsweep"
    return markdown_table(header, rows) + f"\n({legend})"


def most_at_once(trials: Sequence[Trial]) -> int:
    """The largest number of trials whose [start, end] intervals overlap."""
    events = [(t.start, 1) for t in trials if t.start and t.end]
    events += [(t.end, -1) for t in trials if t.start and t.end]
    running = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts on ties
        running += change
        peak = max(peak, running)
    return peak


def parallel_table(runs: Sequence[ArmRun]) -> tuple[str, list[dict[str, Any]]]:
    figures = []
    for run in runs:
        done = [t for t in run.result.trials if t.state == "COMPLETE" and t.start and t.end]
        span = 0.0
        if done:
            span = max(t.end or 0.0 for t in done) - min(t.start or 0.0 for t in done)
        figures.append({
            "arm": run.arm,
            "complete_trials": len(done),
            "wall_s": run.wall_s,
            "trials_per_hour": len(done) / run.wall_s * 3600 if run.wall_s else None,
            "sweep_span_s": span,
            "trials_per_hour_in_sweep": len(done) / span * 3600 if span > 0 else None,
            "most_at_once": most_at_once(run.result.trials),
            "failed": run.failed,
        })  # fmt: skip
    header = [
        "arm", "complete trials", "wall s", "trials per hour (wall)",
        "trials per hour (first trial start to last end)", "most trials at once",
    ]  # fmt: skip
    rows = [
        [
            f["arm"] + (" (FAILED)" if f["failed"] else ""), str(f["complete_trials"]),
            fmt(f["wall_s"]), fmt(f["trials_per_hour"], ".0f"),
            fmt(f["trials_per_hour_in_sweep"], ".0f"), str(f["most_at_once"]),
        ]
        for f in figures
    ]  # fmt: skip
    table = markdown_table(header, rows)
    if len(figures) == 2 and figures[0]["trials_per_hour"] and figures[1]["trials_per_hour"]:
        table += (
            "\n\nn_jobs=2 / n_jobs=1, trials per hour: "
            f"x{figures[1]['trials_per_hour'] / figures[0]['trials_per_hour']:.2f} (wall)"
        )
        if figures[0]["trials_per_hour_in_sweep"] and figures[1]["trials_per_hour_in_sweep"]:
            ratio = figures[1]["trials_per_hour_in_sweep"] / figures[0]["trials_per_hour_in_sweep"]
            table += f", x{ratio:.2f} (sweep span)"
    return table, figures


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="3k/1k events, at most 3 epochs (CI)")
    parser.add_argument(
        "--workdir", type=Path, help="folder for data and runs (default: a temporary one, removed)"
    )
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--seed", type=int, default=0, help="data and split seed")
    parser.add_argument(
        "--arms", default=",".join(COMPARE_ARMS), help="comma-separated arms to run (default: all)"
    )
    parser.add_argument("--with-tpe", action="store_true", help="also run hepsweep with TPE")
    parser.add_argument(
        "--hepsweep-override", action="append", default=[], metavar="KEY=VALUE",
        help="extra override for the hepsweep arms (repeatable)",
    )  # fmt: skip
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--memory", action="store_true", help="RSS growth over a long study")
    mode.add_argument("--parallel", action="store_true", help="trials per hour, n_jobs=1 vs 2")
    parser.add_argument("--trials", type=int, default=60, help="trials of the --memory run")
    parser.add_argument(
        "--timeout", type=float, help="stop an arm after this many seconds (default: 600 with "
        "--quick, none otherwise); what it finished is still reported",
    )  # fmt: skip
    parser.add_argument("--arm", choices=ALL_ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.arm and not (options.workdir and options.json):
        parser.error("--arm needs --workdir and --json")
    return options


def prepare(options: argparse.Namespace, workdir: Path) -> Setup:
    sizes = QUICK if options.quick else FULL
    setup = Setup(
        workdir=str(workdir),
        epochs=sizes.epochs,
        quick=options.quick,
        seed=options.seed,
        trials=options.trials,
        hepsweep_overrides=list(options.hepsweep_override),
        timeout_s=options.timeout or (600.0 if options.quick else None),
    )
    progress(f"writing data to {workdir}")
    if options.memory:
        setup.memory_csv = write_hepmass_csv(workdir / "memory.csv", 500, options.seed + 3)
    else:
        setup.train_csv = write_hepmass_csv(workdir / "train.csv", sizes.train, options.seed + 1)
        setup.test_csv = write_hepmass_csv(workdir / "test.csv", sizes.test, options.seed + 2)
    setup.save()
    return setup


def chosen_arms(options: argparse.Namespace) -> list[str]:
    if options.memory:
        return list(MEMORY_ARMS)
    if options.parallel:
        return list(PARALLEL_ARMS)
    arms = [a.strip() for a in options.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in COMPARE_ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {', '.join(COMPARE_ARMS)}")
    return arms + (["hepsweep-tpe"] if options.with_tpe else [])


def report(options: argparse.Namespace, setup: Setup, runs: list[ArmRun]) -> dict[str, Any]:
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine: {machine_description()}")
    figures: dict[str, Any] = {}
    if options.memory:
        print(f"mode: memory, {setup.trials} trials of 1 epoch on 500 events\n")
        print(memory_table(runs))
    elif options.parallel:
        print(f"mode: parallel, hepsweep hepmass_mlp without pruning, {setup.epochs} epochs\n")
        table, figures["parallel"] = parallel_table(runs)
        print(table)
    else:
        sizes = QUICK if options.quick else FULL
        print(
            f"data: {sizes.train} train events (70/30 train/val), {sizes.test} test events; "
            f"at most {setup.epochs} epochs\n"
        )
        print(comparison_table(runs))
        print("\nwhere the wall time goes:\n")
        print(phases_table(runs))
        figures["ratios"] = ratios(runs)
        print_ratios(figures["ratios"])
    print_details(runs)
    return figures


def parent_main(options: argparse.Namespace) -> int:
    arms = chosen_arms(options)
    with tempfile.TemporaryDirectory(prefix="bench_sweeps-") as scratch:
        workdir = (options.workdir or Path(scratch)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        setup = prepare(options, workdir)
        runs = [run_child(arm, setup) for arm in arms]
        figures = report(options, setup, runs)
    if options.out:
        document = {
            "command": [sys.executable, *sys.argv],
            "machine": machine_description(),
            "mode": "memory" if options.memory else "parallel" if options.parallel else "compare",
            "setup": asdict(setup),
            **figures,
            "arms": [run.to_json() for run in runs],
        }
        options.out.write_text(json.dumps(document, indent=1, default=str))
        print(f"\nwrote {options.out}")
    return 1 if any(run.failed for run in runs) else 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(argv)
    if options.arm:
        return child_main(options.arm, options.workdir.resolve(), options.json)
    return parent_main(options)


if __name__ == "__main__":
    sys.exit(main())
