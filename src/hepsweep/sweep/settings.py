"""The ``hydra/sweeper=hepsweep`` config: search space, sampler, pruner, budget, storage, tracking.

Keys shared with hydra-optuna-sweeper (``sampler`` with ``_target_``, ``direction``,
``study_name``, ``storage``, ``n_trials``, ``n_jobs``, ``params``, ``max_failure_rate``) mean
the same here, so an existing sweep switches by changing its ``override hydra/sweeper`` line.
This module imports nothing heavy: Hydra reads it while it scans its plugins.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from hepsweep.config import check_plain_name
from hepsweep.config_checks import LOG_MODELS, tracking_uri
from hepsweep.errors import ConfigError
from hepsweep.metrics import is_metric, metric

DIRECTIONS = ("maximize", "minimize")

# The pruner of a study whose sweep file names none (``pruner: none`` turns pruning off). Chosen
# by its worst case over a suite of problems and seeds (scripts/bench_pruning.py; the table is in
# docs/performance.md): a median pruner that lets the first three trials run to their end and
# decides nothing before the end of epoch 3. With the default early stopping (3 epochs without
# improvement, best weights restored) it never lost any test AUC against training the same
# trials in full, at about half their time; the more aggressive pruners (successive halving,
# Hyperband, the top quarter from epoch 1) lost 0.006-0.024 on problems whose curves cross.
DEFAULT_PRUNER: dict[str, Any] = {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 2}


@dataclass(frozen=True)
class TrackingSettings:
    """MLflow tracking of the study: a parent run per study, a child run per trial."""

    enabled: bool = True
    # null: mlflow.db beside the study's default storage (sqlite:///<output_root>/mlflow.db for hepsweep's app)
    uri: Optional[str] = None
    # null: the study name
    experiment: Optional[str] = None
    # while MLflow does not answer, calls are skipped and tried again after this many seconds;
    # the runs it missed are back-filled from the study's storage
    retry_after_s: float = 30.0
    # which trials log an MLflow model: best | all | none (the task's tracking.log_models)
    log_models: str = "best"
    # the Model Registry name of the study's best trial (the task's tracking.register_as)
    register_as: Optional[str] = None


@dataclass(frozen=True)
class SweepSettings:
    """Everything a study needs besides the search space's launcher; frozen: a changed setting
    is a new object (:func:`study_settings` builds the one a study runs with)."""

    # tpe | random | grid | cmaes | nsgaii | qmc | gp, a dict {name: tpe, ...kwargs}, or {_target_: ...}
    sampler: Any = "tpe"
    # none | median | percentile | successive_halving | hyperband | threshold | patient, a dict, or
    # {_target_: ...}; null: DEFAULT_PRUNER
    pruner: Any = None
    # maximize | minimize, or a list of them for a multi-objective study; null: what hepsweep's
    # objective wants (val_auc: maximize), or minimize (hydra-optuna-sweeper's default)
    direction: Any = None
    study_name: str = "hepsweep"
    # SQLAlchemy URL or a journal file (*.log); null: sqlite:///<output_root>/optuna.db for
    # hepsweep's app, <hydra.sweep.dir above its dated folders>/optuna.db for any other
    storage: Optional[str] = None
    # the study's TOTAL budget: re-running a finished or crashed study runs only what is missing
    n_trials: int = 20
    # trials running at once (with hydra/launcher=joblib or submitit)
    n_jobs: int = 1
    # stop starting trials when, after 3 or more trials, more than this fraction crashed (0: at
    # the first crash); trials refused for their config (an impossible architecture) do not count
    max_failure_rate: float = 0.0
    seed: Optional[int] = None
    params: Dict[str, Any] = field(default_factory=dict)
    # module.function(cfg, trial) that suggests more parameters on each trial (as in
    # hydra-optuna-sweeper); a leading dot names a module next to the app's script
    custom_search_space: Optional[str] = None
    # a trial whose process died is failed after grace_period s without heartbeat, then retried
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 2
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    # after the study, train the best parameters once more (outside the budget, with these extra
    # overrides) in <sweep dir>/best_retrained and report its test figures
    retrain_best: bool = False
    retrain_overrides: List[str] = field(default_factory=list)

    @property
    def directions(self) -> List[str]:
        direction = "minimize" if self.direction is None else self.direction
        values = direction if isinstance(direction, (list, tuple)) else [direction]
        return [str(d).lower() for d in values]

    def with_directions(self, objective_names: Optional[Sequence[str]]) -> "SweepSettings":
        """The settings with directions for hepsweep's objectives (``objective=...``): derived
        when not given, else checked against each objective's own; another app's objectives
        leave them as they are."""
        names = list(objective_names or [])
        if not names or not all(is_metric(n) for n in names):
            return self
        if self.direction is None:
            derived = [metric(n).direction for n in names]
            return dataclasses.replace(self, direction=derived if len(names) > 1 else derived[0])
        if len(names) != len(self.directions):
            raise ConfigError(
                f"objective lists {len(names)} metric(s) but hydra.sweeper.direction gives {len(self.directions)}; "
                "give one direction per objective"
            )
        for name, direction in zip(names, self.directions):
            expected = metric(name).direction
            if expected != direction:
                raise ConfigError(
                    f"objective={name} should be {expected}d but hydra.sweeper.direction says "
                    f"{direction}; set hydra.sweeper.direction={expected}"
                )
        return self

    def with_task_tracking(self, task: Optional[Mapping[str, Any]]) -> "SweepSettings":
        """The settings under a task config's ``tracking`` group (hepsweep's), which also governs
        the study's MLflow runs: ``tracking=off`` switches them off, ``tracking.uri``,
        ``experiment`` and ``register_as`` fill unset sweeper keys, ``log_models`` replaces it."""
        if task is None:
            return self
        tracking = self.tracking
        return dataclasses.replace(
            self,
            tracking=dataclasses.replace(
                tracking,
                enabled=tracking.enabled and bool(task.get("enabled", True)),
                uri=tracking.uri or task.get("uri"),
                experiment=tracking.experiment or task.get("experiment"),
                log_models=str(task.get("log_models") or tracking.log_models),
                register_as=tracking.register_as or task.get("register_as"),
            ),
        )

    @classmethod
    def from_config(cls, raw: "Mapping[str, Any] | DictConfig") -> "SweepSettings":
        """Settings from the sweeper's config node (or a dict): its plumbing keys dropped, an
        unknown key refused."""
        node = raw if isinstance(raw, DictConfig) else OmegaConf.create(dict(raw))
        data = OmegaConf.to_container(node, resolve=True)
        assert isinstance(data, dict)
        for plumbing in ("_target_", "_recursive_", "defaults"):
            data.pop(plumbing, None)
        if isinstance(data.get("sampler"), dict):
            data["sampler"].pop("_partial_", None)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"hydra.sweeper has no key(s) {unknown}; check their spelling")
        tracking_keys = data.pop("tracking", None) or {}
        unknown = sorted(set(tracking_keys) - set(TrackingSettings.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"hydra.sweeper.tracking has no key(s) {unknown}; use {', '.join(TrackingSettings.__dataclass_fields__)}"
            )
        tracking = TrackingSettings(**tracking_keys)
        return cls(tracking=tracking, **data)

    def __post_init__(self) -> None:
        """Every value in range, as one line naming the key and the fix: checked here only, so a
        settings object (and each one derived from it) is always a valid one."""
        for d in self.directions:
            if d not in DIRECTIONS:
                raise ConfigError(f"hydra.sweeper.direction={d!r} is unknown; use maximize or minimize (or a list)")
        if self.n_trials < 1:
            raise ConfigError(f"hydra.sweeper.n_trials={self.n_trials} must be at least 1 (it is the study's total budget)")
        if self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_jobs={self.n_jobs} must be at least 1")
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be within [0, 1]")
        if self.heartbeat_interval < 1 or self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                "hydra.sweeper.grace_period must exceed heartbeat_interval (both in seconds, at least 1); "
                f"got heartbeat_interval={self.heartbeat_interval}, grace_period={self.grace_period}"
            )
        check_plain_name(self.study_name, "hydra.sweeper.study_name")
        for key in ("storage", "custom_search_space"):
            value = getattr(self, key)
            if value is not None and not str(value).strip():
                raise ConfigError(f"hydra.sweeper.{key}='' must not be empty; leave it unset (null) for the default")
        if self.tracking.experiment is not None:
            check_plain_name(self.tracking.experiment, "hydra.sweeper.tracking.experiment")
        problem = tracking_uri(self.tracking.uri) if self.tracking.uri is not None else None
        if problem:
            raise ConfigError(f"hydra.sweeper.tracking.uri={self.tracking.uri} {problem}")
        if self.tracking.log_models not in LOG_MODELS:
            raise ConfigError(
                f"hydra.sweeper.tracking.log_models={self.tracking.log_models!r} is unknown; use one of {', '.join(LOG_MODELS)}"
            )
        if self.tracking.register_as is not None and not str(self.tracking.register_as).strip():
            raise ConfigError("hydra.sweeper.tracking.register_as='' must not be empty; leave it unset (null) to register nothing")
        if not 0 <= self.tracking.retry_after_s < float("inf"):
            raise ConfigError(f"hydra.sweeper.tracking.retry_after_s={self.tracking.retry_after_s} cannot be negative; e.g. 30")
        if self.max_retry < 0:
            raise ConfigError(f"hydra.sweeper.max_retry={self.max_retry} cannot be negative; 0 retries no trial")



def study_settings(
    raw: "Mapping[str, Any] | DictConfig",
    *,
    objective_names: Optional[Sequence[str]] = None,
    task_tracking: Optional[Mapping[str, Any]] = None,
    one_trial_at_a_time: bool = False,
) -> SweepSettings:
    """The settings a study runs with, built once: the sweeper's keys (``raw``) checked, the
    directions settled for hepsweep's objectives, the task's ``tracking`` group followed, and
    ``n_jobs`` brought to 1 where the launcher runs one trial at a time."""
    settings = SweepSettings.from_config(raw).with_directions(objective_names).with_task_tracking(task_tracking)
    return dataclasses.replace(settings, n_jobs=1) if one_trial_at_a_time else settings
