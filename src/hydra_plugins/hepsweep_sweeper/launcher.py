"""``hydra/launcher=hepsweep``: each job runs in a warm worker process that is reused and recycled.

The worker pool (:mod:`hepsweep.sweep.workers`) starts its processes in ``setup``, so they run the
app's warm-up (:mod:`~hydra_plugins.hepsweep_sweeper._app_hooks`: hepsweep's imports TensorFlow) while
the sweeper opens the study. Each job is composed and run inside its worker
exactly as Hydra's basic launcher would run it in-process (``run_job``: output folder,
``.hydra/`` files, job logging, ``env_set``), and its ``JobReturn`` comes back through a pipe.
"""


import atexit
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, runtime_checkable

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hepsweep.sweep.trial_link import ENV_VAR
from hydra_plugins.hepsweep_sweeper._hydra_private import failed_job
from hydra_plugins.hepsweep_sweeper.compose import JobComposer, composer_for
from hydra_plugins.hepsweep_sweeper._app_hooks import installed
from hepsweep.sweep.workers import WorkerDiedError, WorkerPool
from hepsweep.tracking.background import finish_background_work

log = logging.getLogger(__name__)

# The override that hands a job its trial (the sweeper adds it); plumbing, not something to print.
TRIAL_LINK_OVERRIDE = f"++hydra.job.env_set.{ENV_VAR}="


@dataclass
class HepsweepLauncherConf:
    _target_: str = "hydra_plugins.hepsweep_sweeper.launcher.HepsweepLauncher"
    # worker processes: one per trial that may run at once (the sweeper's n_jobs)
    workers: int = "${oc.select:hydra.sweeper.n_jobs,1}"  # type: ignore[assignment]
    # CPU threads of each worker's TensorFlow; null: all cores for one worker, else cores / workers
    threads: Optional[int] = None
    # replace a worker by a fresh one once its memory grew this much (MiB) since its first trial
    recycle_mb: float = 1024.0


ConfigStore.instance().store(group="hydra/launcher", name="hepsweep", node=HepsweepLauncherConf, provider="hepsweep")


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
    singleton_state = context.singleton_state
    setup_globals()
    Singleton.set_state(singleton_state)
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


def shown_overrides(overrides: Sequence[str]) -> str:
    """The overrides of a job as a user reads them (without the trial link)."""
    return " ".join(o for o in filter_overrides(overrides) if not o.startswith(TRIAL_LINK_OVERRIDE))


@runtime_checkable
class PooledLauncher(Protocol):
    """A launcher that keeps worker processes across a sweep's jobs (``hydra/launcher=hepsweep``):
    the sweeper tells it when the study launches no more jobs, and when to stop its workers."""

    def release(self) -> None:
        """The study launches no more jobs: the workers may finish their work and exit."""

    def close(self) -> None:
        """Stop the workers."""


class HepsweepLauncher(Launcher):  # a PooledLauncher
    def __init__(self, workers: int = 1, threads: Optional[int] = None, recycle_mb: float = 1024.0) -> None:
        self.workers, self.threads, self.recycle_mb = int(workers), threads, float(recycle_mb)
        self.pool: Optional[WorkerPool] = None
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        threads = self.threads
        if threads is None and self.workers > 1:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
        context = JobContext(hydra_context, config, task_function, Singleton.get_state())
        self.pool = WorkerPool(
            self.workers, warm_up=installed().warm_up, threads=threads, recycle_mb=self.recycle_mb, context=context
        )
        self.pool.start()
        atexit.register(self.close)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.pool is not None and self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        returns: List[JobReturn] = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {shown_overrides(overrides)}")
            try:
                result = self.pool.run(execute_job, idx, list(overrides), after=finish_background_work)
            except WorkerDiedError as exc:
                result = failed_job(overrides, exc)
            returns.append(result)
        return returns

    def release(self) -> None:
        """The study launches no more jobs: the workers finish their uploads and exit meanwhile."""
        if self.pool is not None:
            self.pool.release()

    def close(self) -> None:
        """Stop the workers (each finishes its background uploads first)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
