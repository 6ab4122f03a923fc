"""Benchmark suite: which pruning holds on studies nobody tuned it for.

Why: a pruner chosen on one search space can throw away the eventual winner on another (early
rankings are not final rankings when learning curves cross). This suite runs several problems
that differ in kind, over several seeds, with hepsweep's pruning candidates and the anchors a
physicist would use instead, all in one invocation, and judges each candidate by its WORST case
over the suite.

Problems (built-in generators, nothing downloaded; each with a space a user would write: a few
integers, a log-uniform learning rate, a continuous regulariser):

  hepmass      HEPMASS-like generator, signal vs background, MLP, 20 epochs
  4l_cross     X -> ZZ -> 4 leptons against two backgrounds, few events and nuisance columns:
               wide networks at a high learning rate lead early and overfit, small ones overtake
               them (learning curves cross), MLP, 20 epochs
  pixels_cnn   Belle II pixel clusters (9x9 images), pion against proton, CNN, 15 epochs
  4l_3class    the 4-lepton toy with its three classes (softmax, macro one-vs-rest AUC), MLP, 20 epochs

Arms (every arm trains the same Keras models on the same splits; a trial's model is its best
validation epoch, so every arm is scored the same way):

  reference      random search, every trial trained in full (the quality reference)
  optuna_hb      Optuna TPE + HyperbandPruner(1, epochs, 3) with a pruning callback (anchor)
  kerastuner_hb  keras_tuner.Hyperband(max_epochs=epochs, factor=3) (anchor)
  hs:<name>      hepsweep's own sampler, pruner and callbacks (study_sampler, make_pruner,
                 PruningCallback that never prunes the last epoch, EarlyStopping with restored
                 weights) with one candidate setting; hs:default is what a sweep file that
                 names no pruner gets (hepsweep.sweep.settings.DEFAULT_PRUNER)

Reported per problem and seed: wall time (the arm's own, test scoring excluded), epochs
trained, the test AUC of the trial the arm selects (best validation AUC), and the time at which
the arm first held a selection within --tolerance (0.002) of the best test AUC any arm found.
The summary gives, per arm, the worst case over the suite: the largest AUC shortfall and the
largest ratio of its wall time to the fastest anchor's.

    python scripts/bench_pruning.py                       # 4 problems x 3 seeds, default + anchors
                                                          # (about 40 min on 2 cores, half the events)
    python scripts/bench_pruning.py --candidates          # also every hs: candidate (longer)
    python scripts/bench_pruning.py --arms hs:default,hs:median --problems 4l_cross --seeds 0
    python scripts/bench_pruning.py --quick               # one tiny problem and seed (CI smoke)
    python scripts/bench_pruning.py --out results.json    # rows as JSON too
    python scripts/bench_pruning.py --problems hepmass --threads 1 --out a.json &   # split over two
    python scripts/bench_pruning.py --problems 4l_cross --threads 1 --out b.json     # invocations,
    python scripts/bench_pruning.py --tables a.json b.json                          # one table

Needs the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")  # Optuna's experimental pruners, keras-tuner's checkpoint notes

import numpy as np  # noqa: E402

# --------------------------------------------------------------------------------------------
# Problems


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class Param:
    """One searched value: an int or float range (log or not)."""

    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False


@dataclass
class Problem:
    name: str
    make: Callable[[int, float], Splits]  # (seed, size scale) -> splits
    family: str  # mlp | cnn
    space: tuple[Param, ...]
    epochs: int
    batch_size: int = 256


MLP_SPACE = (
    Param("n_layers", 1, 4, integer=True),
    Param("units", 16, 256, integer=True, log=True),
    Param("lr", 1e-4, 3e-2, log=True),
    Param("dropout", 0.0, 0.5),
)
CNN_SPACE = (
    Param("conv_blocks", 1, 2, integer=True),
    Param("filters", 4, 32, integer=True, log=True),
    Param("dense_units", 16, 128, integer=True, log=True),
    Param("lr", 1e-4, 3e-2, log=True),
    Param("dropout", 0.0, 0.5),
)


def _split(x: np.ndarray, y: np.ndarray, n_train: int, n_val: int, n_classes: int, rng: np.random.Generator) -> Splits:
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    tr, va = slice(0, n_train), slice(n_train, n_train + n_val)
    te = slice(n_train + n_val, None)
    if x.ndim == 2:  # standardise with the training split
        mean, std = x[tr].mean(axis=0), x[tr].std(axis=0) + 1e-6
        x = (x - mean) / std
    return Splits(x[tr], y[tr], x[va], y[va], x[te], y[te], n_classes)


def hepmass(seed: int, scale: float) -> Splits:
    from hepsweep.data.hepmass import generate_hepmass

    n_train, n_val, n_test = int(6000 * scale), int(3000 * scale), int(30000 * scale)
    rng = np.random.default_rng(1000 + seed)
    arrays = generate_hepmass(n_train + n_val + n_test, [500.0, 750.0, 1000.0, 1250.0, 1500.0], rng)
    return _split(np.asarray(arrays.x, np.float32), np.asarray(arrays.y), n_train, n_val, 2, rng)


def four_leptons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """X(300) -> ZZ -> 4l (class 0), continuum qq -> ZZ (class 1), Z + fake leptons (class 2):
    masses, decay angles, lepton momenta and isolation, plus eight nuisance columns."""
    label = rng.integers(0, 3, n)
    sig, zz, fake = label == 0, label == 1, label == 2
    z1 = np.where(fake, rng.normal(91.2, 3.0, n), 91.2 + 2.5 * rng.standard_cauchy(n).clip(-8, 8))
    z2 = np.where(sig, 91.2 + 2.5 * rng.standard_cauchy(n).clip(-8, 8), np.where(zz, rng.normal(88, 6, n), rng.uniform(12, 80, n)))
    m4l = np.where(sig, rng.normal(300, 12, n), np.where(zz, 190 + rng.gamma(2.0, 60.0, n), 150 + rng.gamma(2.0, 80.0, n)))
    cos_star = np.where(sig, rng.uniform(-1, 1, n), np.tanh(rng.normal(0, 1.3, n)))  # spin-0 is flat
    phi = np.where(sig, rng.normal(0, 1.6, n) % (2 * np.pi) - np.pi, rng.uniform(-np.pi, np.pi, n))
    cos1 = np.where(sig, 1 - 2 * rng.beta(2.0, 2.0, n), rng.uniform(-1, 1, n))
    cos2 = np.where(sig, 1 - 2 * rng.beta(2.0, 2.0, n), rng.uniform(-1, 1, n))
    pt4l = np.where(sig, rng.gamma(2.0, 25.0, n), rng.gamma(1.5, 20.0, n))
    eta4l = rng.normal(0, np.where(sig, 1.6, 2.2), n)
    share = rng.dirichlet([3, 2.5, 2, 1.5], n)
    pts = share * (m4l / 2.2)[:, None] * rng.lognormal(0, 0.15, (n, 4))
    iso = np.abs(rng.normal(0, np.where(fake, 0.25, 0.08)[:, None], (n, 4)))
    nuisance = rng.normal(0, 1, (n, 8)) + 0.05 * (label == 0)[:, None]  # almost useless columns
    x = np.column_stack([m4l, z1, z2, cos_star, phi, cos1, cos2, pt4l, eta4l, pts, iso, nuisance])
    return x.astype(np.float32), label.astype(np.int64)


def four_lepton_cross(seed: int, scale: float) -> Splits:
    n_train, n_val, n_test = int(2500 * scale), int(2500 * scale), int(30000 * scale)
    rng = np.random.default_rng(2000 + seed)
    x, label = four_leptons(n_train + n_val + n_test, rng)
    flip = rng.random(len(label)) < 0.06  # mis-measured events: what a wide network memorises
    y = np.where(flip, label != 0, label == 0).astype(np.int64)
    return _split(x, y, n_train, n_val, 2, rng)


def four_lepton_classes(seed: int, scale: float) -> Splits:
    n_train, n_val, n_test = int(6000 * scale), int(3000 * scale), int(30000 * scale)
    rng = np.random.default_rng(3000 + seed)
    x, label = four_leptons(n_train + n_val + n_test, rng)
    return _split(x, label, n_train, n_val, 3, rng)


def pixels(seed: int, scale: float) -> Splits:
    from hepsweep.data.belle2 import generate_clusters

    n_train, n_val, n_test = int(4000 * scale), int(2000 * scale), int(12000 * scale)
    rng = np.random.default_rng(4000 + seed)
    arrays = generate_clusters(n_train + n_val + n_test, ["pion", "proton"], rng)
    x = np.log1p(np.asarray(arrays.x, np.float32))
    return _split(x, np.asarray(arrays.y), n_train, n_val, 2, rng)


PROBLEMS = {
    p.name: p
    for p in (
        Problem("hepmass", hepmass, "mlp", MLP_SPACE, 20),
        Problem("4l_cross", four_lepton_cross, "mlp", MLP_SPACE, 20, batch_size=128),
        Problem("pixels_cnn", pixels, "cnn", CNN_SPACE, 15),
        Problem("4l_3class", four_lepton_classes, "mlp", MLP_SPACE, 20),
    )
}

# --------------------------------------------------------------------------------------------
# Training: one harness for every arm


@dataclass
class TrialRecord:
    params: dict[str, Any]
    epochs: int = 0
    best_val: float = float("nan")
    test_auc: float = float("nan")
    selectable: bool = True  # False for a pruned trial: no arm selects those
    ended_s: float = 0.0  # arm time when the trial ended (test scoring excluded)
    curve: list[float] = field(default_factory=list)  # validation AUC per epoch
    epoch_s: list[float] = field(default_factory=list)  # each epoch's time, its validation included
    overhead_s: float = 0.0  # the trial's time outside its epochs (building, compiling, tracing)
    test_at: dict[int, float] = field(default_factory=dict)  # new best epoch -> test AUC (reference)


@dataclass
class ArmRun:
    arm: str
    problem: str
    seed: int
    trials: list[TrialRecord] = field(default_factory=list)
    wall_s: float = 0.0
    scoring_s: float = 0.0  # time spent scoring test sets, taken out of the arm's time

    @property
    def epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    def pick(self, upto: int | None = None) -> TrialRecord | None:
        candidates = [t for t in self.trials[:upto] if t.selectable and math.isfinite(t.best_val)]
        return max(candidates, key=lambda t: t.best_val) if candidates else None


def build_model(problem: Problem, params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> Any:
    """The model through hepsweep's own builders, compiled as hepsweep compiles it."""
    import keras
    from omegaconf import OmegaConf

    from hepsweep.models import build_model as hepsweep_model

    from hepsweep.config import CNNConfig, MLPConfig

    if problem.family == "mlp":
        schema, values = MLPConfig, {"n_layers": int(params["n_layers"]), "units": int(params["units"]),
                                     "dropout": float(params["dropout"])}
    else:
        schema, values = CNNConfig, {"conv_blocks": int(params["conv_blocks"]), "filters": int(params["filters"]),
                                     "dense_units": [int(params["dense_units"])], "dropout": float(params["dropout"])}
    model = hepsweep_model(OmegaConf.merge(OmegaConf.structured(schema), values), input_shape, n_classes)
    loss = "binary_crossentropy" if n_classes == 2 else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(float(params["lr"])), loss=loss, steps_per_execution=16)
    return model


class BestEpoch:
    """Scores the validation split after each epoch (hepsweep's exact AUC), records the learning
    curve and each epoch's duration, and keeps the weights of the best epoch in memory;
    ``test_auc`` scores them on the test split at the end. With ``every_best`` it also scores
    the test split at every new best epoch (what a replay needs; that time is kept apart)."""

    def __init__(self, model: Any, data: Splits, every_best: bool = False) -> None:
        self.model, self.data, self.every_best = model, data, every_best
        self.best_val, self.best_weights = -math.inf, None
        self.curve: list[float] = []
        self.epoch_s: list[float] = []
        self.test_at: dict[int, float] = {}  # epoch (from 0) of a new best -> test AUC
        self.scoring_s = 0.0

    @property
    def epochs(self) -> int:
        return len(self.curve)

    def callback(self) -> list[Any]:
        import keras

        from hepsweep.train.callbacks import ValidationScores

        outer = self

        class Keeper(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                value = float((logs or {}).get("val_auc", float("nan")))
                outer.curve.append(value)
                if math.isfinite(value) and value > outer.best_val:
                    outer.best_val, outer.best_weights = value, outer.model.get_weights()
                    if outer.every_best:
                        started = time.perf_counter()
                        outer.test_at[len(outer.curve) - 1] = outer.score_test()
                        outer.scoring_s += time.perf_counter() - started
                scored = outer.scoring_s - getattr(self, "scored_before", 0.0)
                self.scored_before = outer.scoring_s
                outer.epoch_s.append(time.perf_counter() - self.started - scored)

        scores = ValidationScores(lambda: np.asarray(self.model(self.data.x_val, training=False)),
                                  self.data.y_val, self.data.n_classes)
        return [scores, Keeper()]

    def score_test(self) -> float:
        from hepsweep.metrics import roc_auc
        from hepsweep.train.evaluate import class_probabilities

        chunks = np.array_split(self.data.x_test, max(1, len(self.data.x_test) // 8192))
        raw = np.concatenate([np.asarray(self.model(chunk, training=False)) for chunk in chunks])
        return roc_auc(self.data.y_test, class_probabilities(raw))

    def test_auc(self) -> float:
        if self.best_weights is None:
            return float("nan")
        self.model.set_weights(self.best_weights)
        return self.score_test()


class Clock:
    """The arm's own time: wall time minus what test scoring took."""

    def __init__(self, run: ArmRun) -> None:
        self.run, self.start = run, time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start - self.run.scoring_s

    def record(self, keeper: BestEpoch, params: dict[str, Any], selectable: bool, started: float) -> TrialRecord:
        """The finished trial, its selected model scored on the test split (time kept apart)."""
        start = time.perf_counter()
        test_auc = keeper.test_auc()
        self.run.scoring_s += time.perf_counter() - start + keeper.scoring_s
        ended = self.now()
        return TrialRecord(dict(params), keeper.epochs, keeper.best_val, test_auc, selectable, ended,
                           keeper.curve, keeper.epoch_s, max(0.0, ended - started - sum(keeper.epoch_s)),
                           keeper.test_at)


def fit(problem: Problem, data: Splits, params: dict[str, Any], seed: int, callbacks: list[Any],
        epochs: int, initial_epoch: int = 0, model: Any = None, every_best: bool = False) -> tuple[Any, BestEpoch]:
    import keras

    keras.utils.set_random_seed(seed)
    model = model or build_model(problem, params, data.x_train.shape[1:], data.n_classes)
    keeper = BestEpoch(model, data, every_best)
    own = keeper.callback()
    model.fit(data.x_train, data.y_train, batch_size=problem.batch_size, epochs=epochs, initial_epoch=initial_epoch,
              callbacks=[own[0], *callbacks, own[1]], verbose=0, shuffle=True)
    return model, keeper


# --------------------------------------------------------------------------------------------
# Arms


def optuna_distributions(space: tuple[Param, ...]) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {p.name: (IntDistribution(int(p.low), int(p.high), log=p.log) if p.integer
                     else FloatDistribution(p.low, p.high, log=p.log)) for p in space}


# hepsweep candidates: (sampler spec, pruner spec, early-stopping patience; 0 = none)
CANDIDATES: dict[str, tuple[Any, Any, int]] = {
    "hs:none": ("tpe", None, 3),  # no pruner, early stopping only (the default before this suite)
    "hs:readme_median": ("tpe", {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 2}, 3),
    "hs:hepmass_mlp": ("tpe", {"name": "percentile", "percentile": 25, "n_startup_trials": 1, "n_warmup_steps": 0}, 2),
    "hs:median_warm5": ("tpe", {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 5}, 3),
    "hs:hyperband": ("tpe", {"name": "hyperband", "min_resource": 1, "reduction_factor": 3}, 3),
    "hs:hyperband_min3": ("tpe", {"name": "hyperband", "min_resource": 3, "reduction_factor": 3}, 3),
    "hs:halving_min3": ("tpe", {"name": "successive_halving", "min_resource": 3, "reduction_factor": 3}, 3),
    "hs:patient_median": ("tpe", {"name": "patient", "patience": 2, "wrapped_pruner": {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}}, 3),
    "hs:median_warm3": ("tpe", {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 3}, 3),
    "hs:lenient_warm2": ("tpe", {"name": "percentile", "percentile": 75, "n_startup_trials": 5, "n_warmup_steps": 2}, 3),
    "hs:percentile25_warm5": ("tpe", {"name": "percentile", "percentile": 25, "n_startup_trials": 5, "n_warmup_steps": 5}, 3),
    "hs:hyperband_min2": ("tpe", {"name": "hyperband", "min_resource": 2, "reduction_factor": 3}, 3),
    "hs:halving_min2": ("tpe", {"name": "successive_halving", "min_resource": 2, "reduction_factor": 3}, 3),
    "hs:halving_min5": ("tpe", {"name": "successive_halving", "min_resource": 5, "reduction_factor": 2}, 3),
    "hs:es2": ("tpe", None, 2),
    "hs:es5": ("tpe", None, 5),
    "hs:tpe5_median_warm5": ({"name": "tpe", "n_startup_trials": 5}, {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 5}, 3),
}


def hepsweep_default() -> tuple[Any, Any, int]:
    """What a study whose sweep file names no sampler or pruner gets, with train's defaults."""
    from hepsweep.sweep.samplers import pruner_spec
    from hepsweep.sweep.settings import SweepSettings

    settings = SweepSettings()
    return settings.sampler, pruner_spec(settings.pruner, 1), 3


def arm_hepsweep(name: str, problem: Problem, data: Splits, seed: int, n_trials: int) -> ArmRun:
    import keras
    import optuna

    from hepsweep.sweep.samplers import make_pruner, study_sampler
    from hepsweep.sweep.search_space import Parameter, SearchSpace
    from hepsweep.train.callbacks import PruningCallback

    sampler_spec, pruner_spec, patience = hepsweep_default() if name == "hs:default" else CANDIDATES[name]
    space = SearchSpace({k: Parameter(k, d) for k, d in optuna_distributions(problem.space).items()})
    study = optuna.create_study(direction="maximize", sampler=study_sampler(sampler_spec, seed, space),
                                pruner=make_pruner(pruner_spec))
    run = ArmRun(name, problem.name, seed)
    clock = Clock(run)
    for _ in range(n_trials):
        trial = study.ask(space.distributions)
        keras.backend.clear_session()
        callbacks: list[Any] = []
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=patience,
                                                           restore_best_weights=True))
        pruning = PruningCallback(trial, "val_auc", last_epoch=problem.epochs - 1)
        callbacks.append(pruning)
        started = clock.now()
        _, keeper = fit(problem, data, trial.params, seed * 1000 + trial.number, callbacks, problem.epochs)
        pruned = pruning.pruned_at_epoch is not None
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, keeper.best_val)
        run.trials.append(clock.record(keeper, trial.params, not pruned, started))
    run.wall_s = clock.now()
    return run


def arm_optuna(name: str, problem: Problem, data: Splits, seed: int, n_trials: int) -> ArmRun:
    """Optuna as its documentation shows it: TPE, HyperbandPruner, a pruning callback."""
    import keras
    import optuna

    class Report(keras.callbacks.Callback):
        def __init__(self, trial: optuna.Trial) -> None:
            super().__init__()
            self.trial, self.pruned = trial, False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.trial.report(float((logs or {})["val_auc"]), epoch)
            if self.trial.should_prune():
                self.pruned, self.model.stop_training = True, True

    sampler = optuna.samplers.TPESampler(seed=seed) if name == "optuna_hb" else optuna.samplers.RandomSampler(seed=seed)
    pruner = (optuna.pruners.HyperbandPruner(min_resource=1, max_resource=problem.epochs, reduction_factor=3)
              if name == "optuna_hb" else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    distributions = optuna_distributions(problem.space)
    run = ArmRun(name, problem.name, seed)
    clock = Clock(run)
    for _ in range(n_trials):
        trial = study.ask(distributions)
        keras.backend.clear_session()
        report = Report(trial)
        started = clock.now()
        _, keeper = fit(problem, data, trial.params, seed * 1000 + trial.number, [report], problem.epochs,
                        every_best=name == "reference")
        if report.pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, keeper.best_val)
        run.trials.append(clock.record(keeper, trial.params, not report.pruned, started))
    run.wall_s = clock.now()
    return run


def arm_kerastuner(name: str, problem: Problem, data: Splits, seed: int, n_trials: int) -> ArmRun:
    """keras_tuner.Hyperband as its documentation shows it (its own schedule decides the trials)."""
    import keras
    import keras_tuner as kt

    run = ArmRun(name, problem.name, seed)
    clock = Clock(run)

    class Model(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            params = {}
            for p in problem.space:
                if p.integer:
                    params[p.name] = hp.Int(p.name, int(p.low), int(p.high), sampling="log" if p.log else "linear")
                else:
                    params[p.name] = hp.Float(p.name, p.low, p.high, sampling="log" if p.log else "linear")
            return build_model(problem, params, data.x_train.shape[1:], data.n_classes)

        def fit(self, hp: Any, model: Any, *args: Any, callbacks: list[Any] | None = None, **kwargs: Any) -> Any:
            epochs, initial = int(kwargs.get("epochs", problem.epochs)), int(kwargs.get("initial_epoch", 0))
            params = {p.name: hp.get(p.name) for p in problem.space}
            started = clock.now()
            _, keeper = fit(problem, data, params, seed, list(callbacks or []), epochs, initial, model=model)
            run.trials.append(clock.record(keeper, params, True, started))
            return {"val_auc": keeper.best_val}

    with tempfile.TemporaryDirectory(prefix="kerastuner-") as folder:
        tuner = kt.Hyperband(Model(), objective=kt.Objective("val_auc", "max"), max_epochs=problem.epochs, factor=3,
                             seed=seed, directory=folder, project_name=problem.name, overwrite=True)
        tuner.search(epochs=problem.epochs, verbose=0)
        keras.backend.clear_session()
    run.wall_s = clock.now()
    return run


def run_arm(name: str, problem: Problem, data: Splits, seed: int, n_trials: int) -> ArmRun:
    if name.startswith("hs:"):
        return arm_hepsweep(name, problem, data, seed, n_trials)
    if name in ("optuna_hb", "reference"):
        return arm_optuna(name, problem, data, seed, n_trials)
    if name == "kerastuner_hb":
        return arm_kerastuner(name, problem, data, seed, n_trials)
    raise SystemExit(f"bench_pruning: error: unknown arm {name!r}")


def replay(name: str, reference: ArmRun, problem: Problem) -> ArmRun:
    """The hepsweep candidate ``name``'s pruner and early stopping replayed on the reference
    arm's trials: the same random configurations and the same recorded learning curves, each cut
    where the candidate would have cut it (a real Optuna study with the real pruner decides).
    The sampler does not enter: this measures what the pruning alone costs and saves."""
    import optuna

    from hepsweep.sweep.samplers import make_pruner

    _, pruner_spec, patience = hepsweep_default() if name == "hs:default" else CANDIDATES[name]
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner_spec))
    run, elapsed = ArmRun(f"replay {name}", reference.problem, reference.seed), 0.0
    last = problem.epochs - 1
    for full in reference.trials:
        trial = study.ask()
        best, best_epoch, wait, pruned, n = -math.inf, -1, 0, False, 0
        for epoch, value in enumerate(full.curve):
            n = epoch + 1
            if value > best:
                best, best_epoch, wait = value, epoch, 0
            else:
                wait += 1
            trial.report(value, epoch + 1)
            if epoch != last and trial.should_prune():
                pruned = True
                break
            if patience and wait >= patience and epoch > 0:
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, best)
        elapsed += full.overhead_s + sum(full.epoch_s[:n])
        run.trials.append(TrialRecord(full.params, n, best, full.test_at.get(best_epoch, float("nan")), not pruned, elapsed))
    run.wall_s = elapsed
    return run


# --------------------------------------------------------------------------------------------
# Figures


ANCHORS = ("optuna_hb", "kerastuner_hb")


def time_to_within(run: ArmRun, target: float) -> float | None:
    """When the arm's running selection first scored at least ``target`` on the test split."""
    for i, trial in enumerate(run.trials, start=1):
        pick = run.pick(i)
        if pick is not None and pick.test_auc >= target:
            return trial.ended_s
    return None


def rows_for(runs: list[ArmRun], tolerance: float) -> list[dict[str, Any]]:
    """One row per arm of one problem and seed."""
    best = max((r.pick().test_auc for r in runs if r.pick() is not None), default=float("nan"))
    anchors = [r.wall_s for r in runs if r.arm in ANCHORS]
    fastest_anchor = min(anchors) if anchors else float("nan")
    rows = []
    for r in runs:
        pick = r.pick()
        auc = pick.test_auc if pick else float("nan")
        reached = time_to_within(r, best - tolerance)
        rows.append({
            "problem": r.problem, "seed": r.seed, "arm": r.arm, "wall_s": round(r.wall_s, 2), "epochs": r.epochs,
            "trials": len(r.trials), "test_auc": round(auc, 5), "shortfall": round(best - auc, 5),
            "within_s": None if reached is None else round(reached, 2),
            "vs_fastest_anchor": round(r.wall_s / fastest_anchor, 3) if anchors else None,
            "pick": pick.params if pick else None,
        })
    return rows


def replay_rows(reference: ArmRun, replays: list[ArmRun]) -> list[dict[str, Any]]:
    """One row per replayed candidate: its loss against training every trial in full."""
    full = reference.pick()
    rows = []
    for r in replays:
        pick = r.pick()
        rows.append({
            "problem": r.problem, "seed": r.seed, "arm": r.arm, "wall_s": round(r.wall_s, 2), "epochs": r.epochs,
            "test_auc": round(pick.test_auc, 5) if pick else float("nan"),
            "shortfall": round(full.test_auc - pick.test_auc, 5) if pick and full else float("nan"),
            "time_fraction": round(r.wall_s / reference.wall_s, 3), "epoch_fraction": round(r.epochs / reference.epochs, 3),
        })
    return rows


def print_replays(rows: list[dict[str, Any]], tolerance: float) -> None:
    print(f"\nPruning alone, replayed on the reference's random trials (shortfall against training them all in "
          f"full; time as a fraction of that):")
    print(f"{'arm':<30} {'max short':>9} {'runs ok':>7} {'max time':>8} {'mean time':>9} {'epochs':>7}")
    for arm in dict.fromkeys(r["arm"] for r in rows):
        mine = [r for r in rows if r["arm"] == arm]
        ok = sum(r["shortfall"] <= tolerance for r in mine)
        print(f"{arm:<30} {max(r['shortfall'] for r in mine):>9.4f} {ok:>3}/{len(mine):<3} "
              f"{max(r['time_fraction'] for r in mine):>8.2f} {np.mean([r['time_fraction'] for r in mine]):>9.2f} "
              f"{sum(r['epochs'] for r in mine):>7}")


def print_table(rows: list[dict[str, Any]], tolerance: float) -> None:
    print(f"\n{'problem':<11} {'seed':>4} {'arm':<22} {'wall s':>7} {'epochs':>6} {'test AUC':>8} "
          f"{'short':>7} {'within s':>8} {'x anchor':>8}")
    for r in rows:
        within = "-" if r["within_s"] is None else f"{r['within_s']:.1f}"
        ratio = "-" if r["vs_fastest_anchor"] is None else f"{r['vs_fastest_anchor']:.2f}"
        print(f"{r['problem']:<11} {r['seed']:>4} {r['arm']:<22} {r['wall_s']:>7.1f} {r['epochs']:>6} "
              f"{r['test_auc']:>8.4f} {r['shortfall']:>7.4f} {within:>8} {ratio:>8}")
    print(f"\nWorst case over the suite (shortfall: best test AUC of any arm minus the arm's; "
          f"tolerance {tolerance}):")
    print(f"{'arm':<22} {'max short':>9} {'runs ok':>7} {'max x anchor':>12} {'mean x anchor':>13} {'epochs':>7}")
    for arm in dict.fromkeys(r["arm"] for r in rows):
        mine = [r for r in rows if r["arm"] == arm]
        ratios = [r["vs_fastest_anchor"] for r in mine if r["vs_fastest_anchor"] is not None]
        ok = sum(r["shortfall"] <= tolerance for r in mine)
        print(f"{arm:<22} {max(r['shortfall'] for r in mine):>9.4f} {ok:>3}/{len(mine):<3} "
              f"{(max(ratios) if ratios else float('nan')):>12.2f} {(np.mean(ratios) if ratios else float('nan')):>13.2f} "
              f"{sum(r['epochs'] for r in mine):>7}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--arms", default="hs:default,optuna_hb,kerastuner_hb,reference")
    parser.add_argument("--candidates", action="store_true", help="add every hs: candidate to --arms")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.5, help="event counts x this (1: the sizes below)")
    parser.add_argument("--epochs", type=int, default=0, help="override every problem's epochs")
    parser.add_argument("--tolerance", type=float, default=0.002)
    parser.add_argument("--quick", action="store_true", help="4l_cross, seed 0, 4 trials of 4 epochs, small data")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (0: its default); 1 lets two invocations share 2 cores evenly")
    parser.add_argument("--out", help="write the rows as JSON")
    parser.add_argument("--tables", nargs="+", metavar="JSON",
                        help="print the tables of earlier --out files together (a suite split over invocations)")
    args = parser.parse_args(argv)
    if args.tables:
        rows, replayed = [], []
        for path in args.tables:
            with open(path) as stored:
                figures = json.load(stored)
            rows += figures["rows"]
            replayed += figures.get("replayed", [])
        print_table(rows, args.tolerance)
        if replayed:
            print_replays(replayed, args.tolerance)
        return 0
    if args.quick:
        args.problems, args.seeds, args.trials, args.scale, args.epochs = "4l_cross", "0", 4, 0.3, 4
    arms = args.arms.split(",") + ([a for a in CANDIDATES if a not in args.arms.split(",")] if args.candidates else [])
    unknown = [p for p in args.problems.split(",") if p not in PROBLEMS]
    if unknown:
        print(f"bench_pruning: error: unknown problem {unknown[0]!r}; choose from {', '.join(PROBLEMS)}", file=sys.stderr)
        return 2
    import tensorflow as tf

    import optuna

    tf.get_logger().setLevel("ERROR")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"bench_pruning: {args.problems} x seeds {args.seeds} x {len(arms)} arms, {args.trials} trials, "
          f"hs:default = {hepsweep_default()}", flush=True)
    rows: list[dict[str, Any]] = []
    replayed: list[dict[str, Any]] = []
    replay_arms = ["hs:default", *CANDIDATES]
    for name in args.problems.split(","):
        problem = PROBLEMS[name]
        if args.epochs:
            problem = Problem(problem.name, problem.make, problem.family, problem.space, args.epochs, problem.batch_size)
        for seed in (int(s) for s in args.seeds.split(",")):
            data = problem.make(seed, args.scale)
            runs = []
            for arm in arms:
                run = run_arm(arm, problem, data, seed, args.trials)
                pick = run.pick()
                print(f"  {name} seed {seed} {arm}: {run.wall_s:.1f} s, {run.epochs} epochs, "
                      f"test AUC {pick.test_auc if pick else float('nan'):.4f}", flush=True)
                runs.append(run)
            rows += rows_for(runs, args.tolerance)
            reference = next((r for r in runs if r.arm == "reference"), None)
            if reference is not None:
                replayed += replay_rows(reference, [replay(a, reference, problem) for a in replay_arms])
            if args.out:
                with open(args.out, "w") as out:
                    json.dump({"args": vars(args), "rows": rows, "replayed": replayed}, out, indent=1)
    print_table(rows, args.tolerance)
    if replayed:
        print_replays(replayed, args.tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
