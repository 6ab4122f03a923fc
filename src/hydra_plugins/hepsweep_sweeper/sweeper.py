"""A thin Hydra ``Sweeper`` that hands the work to :class:`~hydra_plugins.hepsweep_sweeper._runner.HydraStudyRunner`."""

from __future__ import annotations

from typing import Any, List

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

import hydra_plugins.hepsweep_sweeper.config  # noqa: F401  (registers the config nodes)


class HepsweepSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self._runner: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # The launcher first: hepsweep's starts its worker processes, which import TensorFlow
        # while this process goes on with the imports and the study below.
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        # heavy: Optuna, pandas and the study views. Hydra imports every plugin module at
        # start-up, in every Hydra app, but skips names starting with "_" (as hydra-optuna-
        # sweeper's _impl): the runner is imported only when this sweeper is chosen, and outside
        # the scan's catch_warnings, which would drop the study's warning filters
        from hydra_plugins.hepsweep_sweeper._runner import HydraStudyRunner

        self._runner = HydraStudyRunner(
            self.settings, hydra_context=hydra_context, task_function=task_function, config=config, launcher=launcher
        )

    def sweep(self, arguments: List[str]) -> None:
        """Run the study (its results: the storage, ``optimization_results.yaml``, MLflow)."""
        assert self._runner is not None, "setup() must run before sweep()"
        self._runner.sweep(arguments)
