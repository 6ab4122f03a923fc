"""Trials as submitit jobs (``hydra/launcher=submitit_slurm`` or ``submitit_local``).

Hydra's submitit launcher pickles itself, with the sweep's whole config, into every job folder,
then blocks in ``job.results()``: passwords land in ``.submitit/<job>/*.pkl`` and a job that
SLURM cancels, times out or loses can leave the sweeper waiting for ever. hepsweep submits the
same jobs through submitit's public API instead, with the launcher's own settings:

- the pickled job carries every URL with its password masked; the real strings travel in the
  job's environment (``sbatch`` passes the submitter's, readable only by its owner and root),
  and the job puts them back into its config before composing it. Its result goes back masked.
- the sweeper polls the job (its result file, and ``sacct`` through submitit): a job that ends
  without a result fails its trial with SLURM's state (CANCELLED, TIMEOUT, NODE_FAIL, ...) as a
  :class:`~hepsweep.errors.JobLostError`, which the study retries; a job whose state stays
  unknown for ``LOST_AFTER_S`` is cancelled and fails the same way.
- :meth:`SubmititTrials.cancel_all` cancels every job still running (the sweeper stopping), and
  :class:`CancelDeadTrialJobs` the SLURM job of a trial found dead (its sweeper was killed), so
  that it stops training while its retry runs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict

import optuna
from optuna.trial import FrozenTrial

from hepsweep.errors import JobLostError, message_line
from hepsweep.redaction import has_secret, mask, mask_data, restore
from hepsweep.sweep.observers import StudyObserver
from hepsweep.sweep.outcome import TrialResult, carried, carry
from hepsweep.sweep.records import TrialRecord
from hydra_plugins.hepsweep_sweeper._hydra_private import failed_job, job_value, submitit_cluster

log = logging.getLogger(__name__)

SECRETS_ENV_VAR = "HEPSWEEP_JOB_SECRETS"  # the real strings of the masked ones, for the job only
POLL_S = 2.0  # how often the sweeper looks for a job's result file
STATE_CHECK_S = 10.0  # how often it asks the cluster (sacct) for the job's state
LOST_AFTER_S = 300.0  # a job whose state stays unknown this long is cancelled and its trial failed
GONE_WITHIN_S = 90.0  # how long a cancelled job of a dead trial may take to end (SLURM's KillWait)
RESULT_GRACE_S = 10.0  # after the job ended, how long its result file may take to appear (shared disks)
_PENDING = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "PREEMPTED", "READY", "CONFIGURING", "RESIZING", "SUSPENDED"}


def is_submitit(launcher: Launcher) -> bool:
    """Whether ``launcher`` is one of hydra-submitit-launcher's (SLURM or local)."""
    # a launcher of that plugin exists only once its module is imported: no import needed here
    plugin = sys.modules.get("hydra_plugins.hydra_submitit_launcher.submitit_launcher")
    return plugin is not None and isinstance(launcher, plugin.BaseSubmititLauncher)


# --- secrets out of what is pickled, back in the job ------------------------------------------
def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path, string) of every string in a plain container."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _string_paths(item, (*path, key))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _string_paths(item, (*path, i))]
    return []


def _rewrite_strings(config: DictConfig, change: Any) -> tuple[DictConfig, list[str]]:
    """A copy of ``config`` (interpolations kept unresolved) with each string ``s`` replaced by
    ``change(s)`` where that differs; also the strings that were replaced."""
    result = copy.deepcopy(config)  # keeps the resolver cache (the sweep's ${now:} values)
    replaced = []
    for path, text in _string_paths(OmegaConf.to_container(config, resolve=False)):
        new = change(text)
        if new == text:
            continue
        node: Any = result
        for key in path[:-1]:
            node = node[key]
        with flag_override(node, ["readonly", "struct"], [False, False]):
            node[path[-1]] = new
        replaced.append(text)
    return result, replaced


def _hydra_state_without_config() -> Dict[Any, Any]:
    """Hydra's singletons for the job, without the sweep's config held by ``HydraConfig`` (the
    job composes and sets its own)."""
    state = dict(Singleton.get_state())
    instances = dict(state["instances"])
    if HydraConfig in instances:
        empty = object.__new__(HydraConfig)
        empty.cfg = None
        instances[HydraConfig] = empty
    state["instances"] = instances
    return state


class TrialJobCall:
    """What a trial's job runs (pickled by submitit): compose the job's config from the sweep's
    (its secrets restored from the environment) and run the task as Hydra's launchers do."""

    def __init__(
        self,
        hydra_context: HydraContext,
        config: DictConfig,
        task_function: TaskFunction,
        singleton_state: Dict[Any, Any],
        overrides: Sequence[str],
        idx: int,
    ) -> None:
        self.hydra_context, self.config, self.task_function = hydra_context, config, task_function
        self.singleton_state, self.overrides, self.idx = singleton_state, list(overrides), idx

    def __call__(self) -> JobReturn:
        import submitit  # optional: hydra-submitit-launcher's dependency, present in a submitit job

        secrets = json.loads(os.environ.pop(SECRETS_ENV_VAR, "[]") or "[]")
        config, _ = _rewrite_strings(self.config, lambda s: restore(s, secrets) or s)
        overrides = [restore(o, secrets) or o for o in self.overrides]
        Singleton.set_state(self.singleton_state)
        setup_globals()
        sweep_config = self.hydra_context.config_loader.load_sweep_config(config, overrides)
        with open_dict(sweep_config.hydra.job) as job:
            job.id = submitit.JobEnvironment().job_id
            sweep_config.hydra.job.num = self.idx
        result = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        return _masked_return(result)

    def checkpoint(self) -> Any:
        """Requeued before its time limit or on preemption (up to ``max_num_timeout``): the same
        call again; training continues from the trial's last finished epoch."""
        import submitit  # optional: see __call__

        return submitit.helpers.DelayedSubmission(self)


def _signal_answer(error: BaseException) -> BaseException:
    """submitit's answer to SLURM's signal before the time limit, where the job raised it as the
    cause of another error (a signal that arrives while TensorFlow binds a traced function's
    inputs comes back wrapped in its TypeError): the cause chain is not pickled to the sweeper."""
    from submitit.core.utils import UncompletedJobError  # optional: hydra-submitit-launcher's dependency

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UncompletedJobError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return error


def _masked_return(result: JobReturn) -> JobReturn:
    """The job's return as the sweeper needs it (status, value or exception, folder), written
    to the result file without the job's config or any secret."""
    value = job_value(result)
    if isinstance(value, BaseException):
        value = _signal_answer(value)
    if isinstance(value, BaseException) and has_secret(str(value)):
        record = masked_record(carried(value))  # a pruned or diverged run's figures stay with its error
        try:
            value = carry(type(value)(mask(str(value))), record)
        except Exception:
            value = carry(RuntimeError(f"{type(value).__name__}: {mask(str(value))}"), record)
    elif isinstance(value, BaseException) and carried(value) is not None:
        value = carry(value, masked_record(carried(value)))
    elif isinstance(value, TrialResult):  # hepsweep's task: the trial's record
        value = masked_record(value)
    elif isinstance(value, str):
        value = mask(value)
    masked = JobReturn(
        overrides=mask_data(list(result.overrides or [])),
        cfg=OmegaConf.create(),
        hydra_cfg=None,
        working_dir=result.working_dir,
        task_name=result.task_name,
        status=result.status,
    )
    masked.return_value = value
    return masked


def masked_record(record: Optional[TrialResult]) -> Optional[TrialResult]:
    """``record`` with every string of its facts and figures masked (its figures are numbers but
    for the GPU's name and indices)."""
    if record is None:
        return None
    return dataclasses.replace(record, facts=mask_data(dict(record.facts)), figures=mask_data(dict(record.figures)))


def _not_requeued(error: Any) -> Optional[str]:
    """What happened, when ``error`` is submitit's answer to SLURM's signal before the time limit
    (or a preemption) on a job it would not requeue (``max_num_timeout`` spent); else None."""
    from submitit.core.utils import UncompletedJobError  # optional: hydra-submitit-launcher's dependency

    if not isinstance(error, UncompletedJobError) or "not requeued" not in str(error):
        return None
    state = "TIMEOUT" if "timed-out" in str(error) else "PREEMPTED"
    because = str(error).split("because:", 1)[-1].strip().rstrip(".")
    return f"it ended {state}: signalled before its time limit or preemption and not requeued ({because}; see hydra.launcher.max_num_timeout)"


# --- the sweeper's side ------------------------------------------------------------------------
class SubmititTrials:
    """Submits one trial at a time as a submitit job with the launcher's settings, and waits for
    it with bounds (several trials wait at once from the study's threads)."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self._jobs: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def _executor(self) -> Any:
        import submitit  # optional: hydra-submitit-launcher's dependency

        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf  # optional: as above

        launcher: Any = self.launcher
        kind = submitit_cluster(launcher)
        params = dict(launcher.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{kind}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=kind, **init)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"{kind}_{k}": v for k, v in params.items()})
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's ``Launcher.launch``: each job in turn (the study launches one per trial)."""
        return [self._run(list(overrides), initial_job_idx + i) for i, overrides in enumerate(job_overrides)]

    def _run(self, overrides: List[str], idx: int) -> JobReturn:
        launcher: Any = self.launcher
        config: DictConfig = launcher.config
        Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        masked_config, secrets = _rewrite_strings(config, mask)
        secrets += [o for o in overrides if has_secret(o)]
        call = TrialJobCall(
            launcher.hydra_context, masked_config, launcher.task_function, _hydra_state_without_config(),
            mask_data(overrides), idx,
        )
        executor = self._executor()
        with self._lock:  # sbatch copies this process's environment into the job
            if secrets:
                os.environ[SECRETS_ENV_VAR] = json.dumps(sorted(set(secrets)))
            job = executor.submit(call)
            os.environ.pop(SECRETS_ENV_VAR, None)
            self._jobs[job.job_id] = job
        log.info("trial job #%d: %s job %s", idx, submitit_cluster(launcher), job.job_id)
        try:
            return self._wait(job, overrides)
        finally:
            with self._lock:
                self._jobs.pop(job.job_id, None)

    def _wait(self, job: Any, overrides: List[str]) -> JobReturn:
        """The job's return; a failed one with a :class:`JobLostError` when it ended without one."""
        unknown_since: Optional[float] = None
        last_check = time.monotonic()
        while not job.paths.result_pickle.exists():
            time.sleep(POLL_S)
            if time.monotonic() - last_check < STATE_CHECK_S:
                continue
            last_check = time.monotonic()
            if job.done(force_check=True):
                break
            if job.state.split(" ")[0].upper() in _PENDING:
                unknown_since = None
                continue
            unknown_since = unknown_since or time.monotonic()
            if time.monotonic() - unknown_since > LOST_AFTER_S:
                job.cancel(check=False)
                return self._lost(job, overrides, f"its state stayed {job.state} for {LOST_AFTER_S:.0f} s; cancelled")
        deadline = time.monotonic() + RESULT_GRACE_S
        while not job.paths.result_pickle.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not job.paths.result_pickle.exists():
            state = job.get_info(mode="force").get("State", job.state) or "UNKNOWN"
            return self._lost(job, overrides, f"it ended {state}")
        try:
            result = job.result()
        except Exception as exc:  # the job's process failed outside the task (an import, the pickle)
            return failed_job(overrides, RuntimeError(mask(message_line(exc))))
        if not isinstance(result, JobReturn):
            return failed_job(overrides, RuntimeError(f"job returned {type(result).__name__}"))
        signalled = _not_requeued(job_value(result))
        if signalled is not None:
            return self._lost(job, overrides, signalled)
        return result

    def _lost(self, job: Any, overrides: List[str], what: str) -> JobReturn:
        kind = "SLURM" if submitit_cluster(self.launcher) == "slurm" else "submitit"
        error = JobLostError(f"{kind} job {job.job_id} did not finish: {what}")
        return failed_job(overrides, error)

    def cancel_all(self) -> List[str]:
        """Cancel every job still running; their ids."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            try:
                job.cancel(check=False)
            except Exception as exc:  # the cluster may already be gone
                log.warning("could not cancel job %s: %s", job.job_id, exc)
        return [job.job_id for job in jobs]


class CancelDeadTrialJobs(StudyObserver):
    """Cancels the SLURM job of a trial whose sweeper died (its heartbeats stopped): the job would
    otherwise train on, for nobody, beside the trial's retry."""

    def trial_died(self, study: optuna.Study, trial: FrozenTrial) -> None:
        job_id = TrialRecord.of(trial).cluster_job
        if not job_id or not job_id.replace("_", "").isdigit():  # a job id, nothing else, reaches scancel
            return
        try:
            subprocess.run(["scancel", job_id], capture_output=True, timeout=60, check=True)
            # the retry takes over the job's saved epochs: wait (bounded) until it stopped writing them
            deadline = time.monotonic() + GONE_WITHIN_S
            while time.monotonic() < deadline and _still_queued(job_id):
                time.sleep(1.0)
            log.info("trial %d: cancelled its SLURM job %s, left running by a sweeper that died", trial.number, job_id)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("trial %d: could not cancel its SLURM job %s: %s", trial.number, job_id, exc)


def _still_queued(job_id: str) -> bool:
    listed = subprocess.run(["squeue", "-h", "-j", job_id, "-t", "PD,R,CG,S,CF", "-o", "%i"], capture_output=True, text=True, timeout=30)
    return listed.returncode == 0 and bool(listed.stdout.strip())
