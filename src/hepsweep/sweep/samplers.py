"""Optuna samplers and pruners from the sweeper config.

Each accepts a short name (``tpe``), a dict with ``name`` plus keyword arguments
(``{name: median, n_startup_trials: 3}``), or, as in hydra-optuna-sweeper, a dict with
``_target_`` naming the class (``{_target_: optuna.samplers.TPESampler, seed: 1}``).

Why not ``hydra.utils.instantiate`` for the ``_target_`` nodes: a sampler or pruner must be an
Optuna class, checked here *before* anything is called (instantiate calls whatever it is
given); hydra-optuna-sweeper's grid node is ``_partial_`` with the grid filled in by the
sweeper; and the study rebuilds its sampler with a new seed for every trial
(:mod:`hepsweep.sweep.distinct`).
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

import optuna
from omegaconf import DictConfig, OmegaConf

from hepsweep.errors import ConfigError
from hepsweep.sweep.distinct import DistinctSampler
from hepsweep.sweep.search_space import SearchSpace
from hepsweep.sweep.settings import DEFAULT_PRUNER
from hepsweep.train.objective import prunable

SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "nsgaii": "NSGAIISampler",
    "nsgaiii": "NSGAIIISampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
    "bruteforce": "BruteForceSampler",
    "motpe": "MOTPESampler",
}
MOTPE_REMOVED = (
    "The 'motpe' sampler was removed in Optuna 4.0. Use 'hydra/sweeper/sampler=tpe' instead. "
    "TPESampler now handles multi-objective optimization."
)
PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
    "patient": "PatientPruner",
    "wilcoxon": "WilcoxonPruner",
}


def plain(spec: Any) -> Any:
    """A sampler or pruner spec as plain Python (a Hydra node resolved)."""
    if isinstance(spec, DictConfig):
        return OmegaConf.to_container(spec, resolve=True)
    return spec


def _split(spec: Any, kind: str, names: Mapping[str, str], default: str) -> tuple[str | None, str, dict[str, Any]]:
    """(module path or None, class name, kwargs) from a name, a {name: ...} or a {_target_: ...}."""
    spec = plain(spec)
    if spec is None:
        spec = default
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"hydra.sweeper.{kind}={spec!r} is not a name or a mapping; e.g. {kind}: {default}")
    kwargs = dict(spec)
    target = kwargs.pop("_target_", None)
    kwargs.pop("_partial_", None)  # hydra-optuna-sweeper's grid node: the sweeper adds the grid
    if target is not None:
        module, _, cls = str(target).rpartition(".")
        # an unset argument of a sampler group node keeps Optuna's default
        return module, cls, {k: v for k, v in kwargs.items() if v is not None or k == "seed"}
    name = str(kwargs.pop("name", default)).lower()
    if name not in names:
        raise ConfigError(f"hydra.sweeper.{kind}={name!r} is unknown; use one of {sorted(names)}")
    return None, names[name], kwargs


def _instantiate(module: str | None, cls: str, kwargs: dict[str, Any], kind: str, package: Any, base: type) -> Any:
    """``cls(**kwargs)``; a ``_target_`` (which only the sweeper's own config can give: jobs never
    build samplers or pruners from stored data) must name a subclass of Optuna's ``base``."""
    try:
        factory = getattr(importlib.import_module(module), cls) if module else getattr(package, cls)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"hydra.sweeper.{kind}: cannot import {module + '.' if module else ''}{cls} ({exc})") from None
    if not (isinstance(factory, type) and issubclass(factory, base)):
        raise ConfigError(
            f"hydra.sweeper.{kind}: {module}.{cls} is not an Optuna {kind} (a subclass of {base.__module__}.{base.__name__})"
        )
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"hydra.sweeper.{kind}: {cls} refused its arguments ({exc}); check the keys under {kind}") from None


def make_sampler(
    spec: Any, seed: int | None = None, grid: dict[str, list[Any]] | None = None, replace_seed: bool = False
) -> optuna.samplers.BaseSampler:
    """A sampler; ``grid`` is the search space a GridSampler enumerates. ``seed`` fills in a spec
    without one, or replaces the spec's own with ``replace_seed``."""
    module, cls, kwargs = _split(spec, "sampler", SAMPLERS, "tpe")
    if cls == "MOTPESampler":
        raise ConfigError(MOTPE_REMOVED)
    if replace_seed and "seed" in kwargs:
        kwargs["seed"] = seed
    elif seed is not None and cls not in ("BruteForceSampler",):
        kwargs.setdefault("seed", seed)
    if cls == "GridSampler":
        if grid is None:
            raise ConfigError(
                "hydra.sweeper.sampler=grid needs every parameter to be choice(...) or range(...); "
                "replace interval(...) with a list of values"
            )
        kwargs.setdefault("search_space", grid)
    if cls == "PatientPruner":
        raise ConfigError("PatientPruner is a pruner, not a sampler")
    return _instantiate(module, cls, kwargs, "sampler", optuna.samplers, optuna.samplers.BaseSampler)


def study_sampler(spec: Any, seed: int | None, space: SearchSpace) -> DistinctSampler:
    """The study's sampler: ``spec`` wrapped so that every trial has its own seeded stream and a
    finite space never repeats a configuration (see :mod:`hepsweep.sweep.distinct`)."""
    spec = plain(spec)
    base = spec.get("seed", seed) if isinstance(spec, dict) else seed
    if isinstance(spec, dict) or isinstance(spec, str):
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        spec["seed"] = base
    grid = space.grid()
    return DistinctSampler(lambda s: make_sampler(spec, s, grid, replace_seed=True), base, space.distributions)


def make_pruner(spec: Any) -> optuna.pruners.BasePruner:
    """A pruner; ``None`` or ``none`` means no pruning. ``patient`` wraps a median pruner by
    default (``{name: patient, patience: 2, wrapped_pruner: median}``)."""
    module, cls, kwargs = _split(spec, "pruner", PRUNERS, "none")
    if cls == "PatientPruner":
        kwargs["wrapped_pruner"] = make_pruner(kwargs.get("wrapped_pruner") or "median")
        kwargs.setdefault("patience", 1)
    return _instantiate(module, cls, kwargs, "pruner", optuna.pruners, optuna.pruners.BasePruner)


def pruner_spec(spec: Any, n_objectives: int) -> Any:
    """The pruner spec a study of ``n_objectives`` objectives runs with: ``spec`` (the sweeper's
    ``pruner``; unset: :data:`~hepsweep.sweep.settings.DEFAULT_PRUNER`), or None (no pruning)
    for several objectives, which Optuna cannot prune."""
    if not prunable(n_objectives):
        return None
    spec = plain(spec)
    return dict(DEFAULT_PRUNER) if spec is None else spec


def study_pruner(spec: Any, n_objectives: int) -> optuna.pruners.BasePruner:
    """The pruner of a study of ``n_objectives`` objectives, built from the sweeper's ``pruner``
    spec (by the sweeper for its study, and by each job for the study it reports to)."""
    return make_pruner(pruner_spec(spec, n_objectives))


def describe(spec: Any, default: str) -> str:
    """A short human name for a sampler/pruner spec, for logs and MLflow params."""
    spec = plain(spec)
    if spec is None:
        return default
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        name = spec.get("name") or str(spec.get("_target_", default)).rpartition(".")[2]
        extra = ",".join(f"{k}={v}" for k, v in spec.items() if k not in ("name", "_target_", "_partial_") and v is not None)
        return f"{name}({extra})" if extra else str(name)
    return str(spec)
