"""What a worker of ``hydra/launcher=hepsweep`` runs: one job, composed and run as Hydra's basic
launcher runs it in-process (``run_job``: output folder, ``.hydra/`` files, job logging,
``env_set``).

Its name starts with "_" so that Hydra's plugin scan skips it: the scan runs each plugin module
again (a worker restoring Hydra's state runs it), which would define :class:`JobContext` anew
under the instances already sent to the worker, and forget the job composers kept here.
"""

from dataclasses import dataclass
from typing import Any, Dict, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hydra_plugins.hepsweep_sweeper.compose import JobComposer, composer_for


@dataclass
class JobContext:
    """What every job of a sweep shares: sent once to each worker."""

    hydra_context: HydraContext
    config: DictConfig
    task_function: TaskFunction
    singleton_state: Dict[Any, Any]


# the job composers of this process (a worker serves one sweep; the sweeper's own retrain job too)
_COMPOSERS: Dict[int, JobComposer] = {}


def execute_job(context: JobContext, idx: int, overrides: Sequence[str]) -> JobReturn:
    """Compose and run one job inside a worker, as the basic launcher does in-process."""
    hydra_context, config = context.hydra_context, context.config
    setup_globals()
    Singleton.set_state(context.singleton_state)
    sweep_config = composer_for(hydra_context.config_loader, config, _COMPOSERS).compose(overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = idx
        sweep_config.hydra.job.num = idx
    return run_job(
        hydra_context=hydra_context,
        task_function=context.task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
