"""``hydra/launcher=hepsweep``: each job runs in a warm worker process that is reused and recycled.

The worker pool (:mod:`hepsweep.sweep.workers`) starts its processes in ``setup``, so they run the
app's warm-up (:mod:`~hydra_plugins.hepsweep_sweeper._app_hooks`: hepsweep's imports TensorFlow) while
the sweeper opens the study. Each job is composed and run inside its worker
exactly as Hydra's basic launcher would run it in-process
(:mod:`~hydra_plugins.hepsweep_sweeper._worker_jobs`), and its ``JobReturn`` comes back through a
pipe. Its config node is :class:`~hydra_plugins.hepsweep_sweeper._config_nodes.HepsweepLauncherConf`.
"""


import atexit
import logging
import os
import re
from pathlib import Path
from typing import List, Optional, Protocol, Sequence, runtime_checkable

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hepsweep.redaction import rewrite_log_records
from hepsweep.sweep.trial_link import ENV_VAR
import hydra_plugins.hepsweep_sweeper.config  # noqa: F401  (registers the config nodes)
from hydra_plugins.hepsweep_sweeper._app_hooks import installed
from hydra_plugins.hepsweep_sweeper._hydra_private import failed_job
from hydra_plugins.hepsweep_sweeper._worker_jobs import JobContext, execute_job
from hepsweep.sweep.workers import WorkerDiedError, WorkerPool
from hepsweep.tracking.background import finish_background_work

log = logging.getLogger(__name__)

# The override that hands a job its trial (the sweeper adds it); plumbing, not something to print.
TRIAL_LINK_OVERRIDE = f"++hydra.job.env_set.{ENV_VAR}="


_LINK_IN_TEXT = re.compile(r" ?" + re.escape(TRIAL_LINK_OVERRIDE) + r"[A-Za-z0-9_=-]*")  # the link is URL-safe base64


def shown_overrides(overrides: Sequence[str]) -> str:
    """The overrides of a job as a user reads them (without the trial link)."""
    return " ".join(o for o in filter_overrides(overrides) if not o.startswith(TRIAL_LINK_OVERRIDE))


def hide_trial_links_in_logs() -> None:
    """Leave the trial link out of every log line of this process: the launch lines of Hydra's
    other launchers (joblib, submitit) print each job's overrides, the link's long base64 text
    among them, which buries the trial's values."""
    rewrite_log_records("hide trial links", lambda text: _LINK_IN_TEXT.sub("", text) if TRIAL_LINK_OVERRIDE in text else text)


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
