"""The checks a run's config passes before anything heavy starts: no TensorFlow, no data read.

A mistake the config alone shows (an unknown objective, a working point that is no whole
percent, a dataset without files, an expression that does not parse, negative epochs) is
refused here in one line, before TensorFlow's seconds of start-up; the command line runs it
first, and :func:`hepsweep.train.training.run` again for callers from Python.
"""

from __future__ import annotations

from omegaconf import DictConfig

from hepsweep.config_checks import check_values
from hepsweep.data import check_dataset
from hepsweep.metrics import figures_of_merit
from hepsweep.train.objective import Objective


def check_config(cfg: DictConfig) -> None:
    """Refuse, in one line, what ``cfg`` (a composed config without Hydra's node) gets wrong
    on its own: a value out of its range (:mod:`hepsweep.config_checks`), the objective, the
    working points, the dataset's own keys."""
    check_values(cfg)
    objective = Objective.parse(cfg.objective)
    figures_of_merit(cfg.metrics.signal_efficiencies, also=objective.names)
    check_dataset(cfg.dataset)
