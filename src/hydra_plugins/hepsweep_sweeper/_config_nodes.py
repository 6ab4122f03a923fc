"""The config nodes of ``hydra/sweeper=hepsweep``, its ``hydra/sweeper/sampler`` group (as
hydra-optuna-sweeper's) and ``hydra/launcher=hepsweep``, which
:mod:`~hydra_plugins.hepsweep_sweeper.config` registers in Hydra's ConfigStore.

Each sampler option is a ``_target_`` node naming an Optuna sampler, with the keyword arguments
hydra-optuna-sweeper's options have; an unset (null) argument keeps Optuna's own default. The
sweeper builds the sampler itself (``_recursive_: false``), so that a ``_target_`` must name an
Optuna sampler class and the grid gets its search space from ``params``.

Its name starts with "_" so that Hydra's plugin scan skips it. The scan runs each plugin module
again (in every process that restores Hydra's state: a worker of ``hydra/launcher=hepsweep``
too), which would define these classes anew; a composed config keeps its nodes' classes, and
pickling one (a job's ``JobReturn`` on its way back from a worker) needs the class its module
holds now to be the one the node was made from.
"""

from dataclasses import MISSING, Field, dataclass, field, fields, make_dataclass
from typing import Any, Dict, List, Optional

from hepsweep.sweep.settings import SweepSettings, TrackingSettings


def config_node(settings: type, name: str, nested: Optional[Dict[str, type]] = None) -> type:
    """A mutable twin of the frozen ``settings`` dataclass, with its keys, types and defaults
    (``nested``: the twins of its dataclass fields): Hydra merges overrides into a config node,
    which OmegaConf keeps read-only for a frozen dataclass."""
    nested = nested or {}
    specs = []
    for f in fields(settings):
        default: Field[Any]
        if f.name in nested:
            default = field(default_factory=nested[f.name])
        elif f.default_factory is not MISSING:
            default = field(default_factory=f.default_factory)
        else:
            default = field(default=f.default)
        specs.append((f.name, nested.get(f.name, f.type), default))
    node = make_dataclass(name, specs)
    node.__module__ = __name__
    return node


TrackingConf = config_node(TrackingSettings, "TrackingConf")


@dataclass
class HepsweepSweeperConf(config_node(SweepSettings, "SweepConf", {"tracking": TrackingConf})):  # type: ignore[misc]
    _target_: str = "hydra_plugins.hepsweep_sweeper.sweeper.HepsweepSweeper"
    _recursive_: bool = False
    # no sampler group selected: ``sampler`` (default tpe); ``override hydra/sweeper/sampler:
    # NAME`` merges one of the nodes registered here over it (after these keys: _self_ first)
    defaults: List[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])


@dataclass
class HepsweepLauncherConf:
    _target_: str = "hydra_plugins.hepsweep_sweeper.launcher.HepsweepLauncher"
    # worker processes: one per trial that may run at once (the sweeper's n_jobs)
    workers: int = "${oc.select:hydra.sweeper.n_jobs,1}"  # type: ignore[assignment]
    # CPU threads of each worker's TensorFlow; null: all cores for one worker, else cores / workers
    threads: Optional[int] = None
    # replace a worker by a fresh one once its memory grew this much (MiB) since its first trial
    recycle_mb: float = 1024.0


@dataclass
class TPESamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    consider_prior: Optional[bool] = None
    prior_weight: Optional[float] = None
    consider_magic_clip: Optional[bool] = None
    consider_endpoints: Optional[bool] = None
    n_startup_trials: Optional[int] = None
    n_ei_candidates: Optional[int] = None
    multivariate: Optional[bool] = None
    group: Optional[bool] = None
    constant_liar: Optional[bool] = None
    warn_independent_sampling: Optional[bool] = None


@dataclass
class RandomSamplerConfig:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class CmaEsSamplerConfig:
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None
    x0: Optional[Dict[str, Any]] = None
    sigma0: Optional[float] = None
    n_startup_trials: Optional[int] = None
    warn_independent_sampling: Optional[bool] = None
    consider_pruned_trials: Optional[bool] = None
    restart_strategy: Optional[str] = None
    popsize: Optional[int] = None
    inc_popsize: Optional[int] = None
    use_separable_cma: Optional[bool] = None
    with_margin: Optional[bool] = None
    lr_adapt: Optional[bool] = None


@dataclass
class NSGAIISamplerConfig:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: Optional[int] = None
    population_size: Optional[int] = None
    mutation_prob: Optional[float] = None
    crossover_prob: Optional[float] = None
    swapping_prob: Optional[float] = None


@dataclass
class NSGAIIISamplerConfig(NSGAIISamplerConfig):
    _target_: str = "optuna.samplers.NSGAIIISampler"
    dividing_parameter: Optional[int] = None


@dataclass
class MOTPESamplerConfig:
    # refused with hydra-optuna-sweeper's message: Optuna 4 removed MOTPESampler
    _target_: str = "optuna.samplers.MOTPESampler"
    seed: Optional[int] = None


@dataclass
class QMCSamplerConfig:
    _target_: str = "optuna.samplers.QMCSampler"
    seed: Optional[int] = None
    qmc_type: Optional[str] = None
    scramble: Optional[bool] = None
    warn_asynchronous_seeding: Optional[bool] = None
    warn_independent_sampling: Optional[bool] = None


@dataclass
class GPSamplerConfig:
    _target_: str = "optuna.samplers.GPSampler"
    seed: Optional[int] = None
    n_startup_trials: Optional[int] = None
    deterministic_objective: Optional[bool] = None
    warn_independent_sampling: Optional[bool] = None


@dataclass
class GridSamplerConfig:
    # the grid is every value of hydra.sweeper.params (each a choice or a range)
    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True
    seed: Optional[int] = None


@dataclass
class BruteForceSamplerConfig:
    _target_: str = "optuna.samplers.BruteForceSampler"
    seed: Optional[int] = None


SAMPLER_OPTIONS: Dict[str, type] = {
    "tpe": TPESamplerConfig,
    "random": RandomSamplerConfig,
    "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig,
    "nsgaiii": NSGAIIISamplerConfig,
    "motpe": MOTPESamplerConfig,
    "qmc": QMCSamplerConfig,
    "gp": GPSamplerConfig,
    "grid": GridSamplerConfig,
    "bruteforce": BruteForceSamplerConfig,
}
