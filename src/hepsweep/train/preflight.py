"""The checks a run's config passes before anything heavy starts: no TensorFlow, no data read.

A mistake the config alone shows (an unknown objective, a working point that is no whole
percent, a dataset without files, an expression that does not parse, negative epochs) is
refused here in one line, before TensorFlow's seconds of start-up; the command line runs it
first, and :func:`hepsweep.train.training.run` again for callers from Python.
"""

from __future__ import annotations

from omegaconf import DictConfig

from hepsweep.data import check_dataset
from hepsweep.errors import ConfigError
from hepsweep.metrics import figures_of_merit
from hepsweep.train.objective import Objective


def check_config(cfg: DictConfig) -> None:
    """Refuse, in one line, what ``cfg`` gets wrong on its own."""
    objective = Objective.parse(cfg.objective)
    figures_of_merit(cfg.metrics.signal_efficiencies, also=objective.names)
    _check_train(cfg)
    check_dataset(cfg.dataset)


def _check_train(cfg: DictConfig) -> None:
    if cfg.train.epochs < 1:
        raise ConfigError(f"train.epochs={cfg.train.epochs} must be at least 1")
    if cfg.train.batch_size < 1:
        raise ConfigError(f"train.batch_size={cfg.train.batch_size} must be at least 1")
    if cfg.train.early_stopping_patience < 0:
        raise ConfigError("train.early_stopping_patience cannot be negative; 0 switches it off")
    if cfg.tracking.utilisation_interval_s <= 0:
        raise ConfigError(
            f"tracking.utilisation_interval_s={cfg.tracking.utilisation_interval_s} must be positive; e.g. 1.0"
        )
