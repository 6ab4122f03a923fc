"""The ``hydra/sweeper=hepsweep`` config: search space, sampler, pruner, budget, storage, tracking.

Keys shared with hydra-optuna-sweeper (``sampler`` with ``_target_``, ``direction``,
``study_name``, ``storage``, ``n_trials``, ``n_jobs``, ``params``, ``max_failure_rate``) mean
the same here, so an existing sweep switches by changing its ``override hydra/sweeper`` line.
"""


from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class TrackingConf:
    """MLflow tracking of the study: a parent run per study, a child run per trial."""

    enabled: bool = True
    # null: sqlite:///<sweep dir>/../../mlflow.db, i.e. <output_root>/mlflow.db for hepsweep
    uri: Optional[str] = None
    # null: the study name
    experiment: Optional[str] = None


@dataclass
class HepsweepSweeperConf:
    _target_: str = "hydra_plugins.hepsweep_sweeper.sweeper.HepsweepSweeper"
    # tpe | random | grid | cmaes | nsgaii | qmc | gp, a dict {name: tpe, ...kwargs}, or {_target_: ...}
    sampler: Any = "tpe"
    # none | median | percentile | successive_halving | hyperband | threshold | patient, a dict, or {_target_: ...}
    pruner: Any = None
    # maximize | minimize, or a list of them for a multi-objective study
    direction: Any = "maximize"
    study_name: str = "hepsweep"
    # SQLAlchemy URL or a journal file (*.log); null: sqlite:///<sweep dir>/../../optuna.db
    storage: Optional[str] = None
    # the study's TOTAL budget: re-running a finished or crashed study runs only what is missing
    n_trials: int = 20
    # trials running at once (with hydra/launcher=joblib or submitit)
    n_jobs: int = 1
    # stop starting trials when, after 3 or more trials, more than this fraction crashed
    # (trials refused for their config, e.g. an impossible architecture, do not count)
    max_failure_rate: float = 0.5
    seed: Optional[int] = None
    params: Dict[str, Any] = field(default_factory=dict)
    # a trial whose process died is failed after grace_period s without heartbeat, then retried
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 2
    tracking: TrackingConf = field(default_factory=TrackingConf)
    # after the study, train the best parameters once more (outside the budget, with these extra
    # overrides) in <sweep dir>/best_retrained and report its test figures
    retrain_best: bool = False
    retrain_overrides: List[str] = field(default_factory=list)


ConfigStore.instance().store(group="hydra/sweeper", name="hepsweep", node=HepsweepSweeperConf, provider="hepsweep")
