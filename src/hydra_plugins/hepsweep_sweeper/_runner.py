"""The glue between Hydra's sweeper interface and :class:`~hepsweep.sweep.study.StudyRunner`:
read the sweeper's settings and the task's config, check that a trial's overrides compose, and
launch each trial the runner asks for as one Hydra job (its link in ``hydra.job.env_set``). The
study runner knows nothing of Hydra; this module is all the Hydra it meets."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hepsweep._resources import sweep_description
from hepsweep.errors import ConfigError, first_line
from hepsweep.hydra_errors import explain_hydra_error
from hepsweep.redaction import mask_logs, scrub_hydra_files
from hepsweep.sweep.outcome import JobOutcome, JobRequest
from hepsweep.sweep.report import trials_view
from hepsweep.sweep.search_space import SearchSpace, parse_search_space
from hepsweep.sweep.settings import SweepSettings, study_settings
from hepsweep.sweep.study import StudyOptions, StudyRunner
from hydra_plugins.hepsweep_sweeper._hydra_private import is_basic_launcher, job_value
from hydra_plugins.hepsweep_sweeper._app_hooks import AppHooks, installed
from hydra_plugins.hepsweep_sweeper.launcher import TRIAL_LINK_OVERRIDE, PooledLauncher, hide_trial_links_in_logs
from hydra_plugins.hepsweep_sweeper._submitit_jobs import CancelDeadTrialJobs, SubmititTrials, is_submitit

log = logging.getLogger(__name__)


def _objective_names(config: DictConfig) -> list[str] | None:
    objective = config.get("objective")
    if objective is None:
        return None
    return [str(o) for o in objective] if OmegaConf.is_list(objective) else [str(objective)]


def custom_search_space(path: str, config: DictConfig, task_function: TaskFunction) -> Callable[[optuna.Trial], None]:
    """``hydra.sweeper.custom_search_space``: the function ``module.function(cfg, trial)`` that
    suggests more parameters on each trial, from the user's own config. A leading dot names a
    module in the folder of the app's script (``.my-objective.configure``)."""
    module_name, _, function_name = path.lstrip(".").rpartition(".")
    try:
        if not path.startswith("."):  # Hydra's instantiate refuses its blocklist (os.system, ...)
            function = instantiate({"_target_": path, "_partial_": True})
        else:
            app = sys.modules.get(getattr(task_function, "__module__", ""), None)
            app_file = Path(getattr(app, "__file__", "") or ".").resolve()
            file = app_file.parent / f"{module_name}.py"
            if file == app_file:
                module = app
            else:
                spec = importlib.util.spec_from_file_location(module_name.replace("-", "_"), file)
                if spec is None or spec.loader is None:
                    raise ImportError(f"no module file {file}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            function = getattr(module, function_name)
    except Exception as exc:
        raise ConfigError(
            f"hydra.sweeper.custom_search_space={path!r} cannot be loaded ({first_line(exc)}); "
            "give module.function, or .module.function for a module next to the app's script"
        ) from None
    if not callable(function):
        raise ConfigError(f"hydra.sweeper.custom_search_space={path!r} is not a function")
    return lambda trial: function(config, trial)


class HydraStudyRunner:
    """Created by the ``hepsweep`` Hydra sweeper in ``setup``; runs the study in ``sweep``."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
        launcher: Launcher,
    ) -> None:
        """``launcher``: the Hydra launcher of the sweep's config, already set up."""
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        # a submitit launcher's jobs are submitted and watched by hepsweep (masked, bounded waits)
        self.launcher: Any = SubmititTrials(launcher) if is_submitit(launcher) else launcher
        self.settings: SweepSettings = self._study_settings(settings)

    def _study_settings(self, raw: Mapping[str, Any]) -> SweepSettings:
        """The settings the study runs with, built once from the sweeper's keys, the task's
        objectives and ``tracking`` group, and the launcher."""
        one_at_a_time, node = is_basic_launcher(self.launcher), OmegaConf.create(dict(raw))
        settings = study_settings(
            node,
            objective_names=_objective_names(self.config),
            task_tracking=self.config.get("tracking"),
            one_trial_at_a_time=one_at_a_time,
        )
        if one_at_a_time and int(node.get("n_jobs", 1)) > 1:
            print(
                f"[{settings.study_name}] the basic launcher runs one trial at a time; "
                "use hydra/launcher=joblib (or submitit_local/submitit_slurm) for n_jobs > 1",
                file=sys.stderr,
            )
        return settings

    def _check_composes(self, space: SearchSpace) -> None:
        try:
            self.hydra_context.config_loader.load_sweep_config(self.config, space.example_overrides())
        except Exception as exc:
            raise ConfigError(f"hydra.sweeper.params: {explain_hydra_error(exc)}") from None

    def _launch(self, space: SearchSpace, job: JobRequest) -> JobOutcome:
        """One Hydra job: the trial's values as overrides (after the sweep's fixed ones), its link
        in the job's environment, its folder."""
        overrides = space.overrides(job.params)
        if job.retrain:
            overrides += list(self.settings.retrain_overrides)
        overrides.append(TRIAL_LINK_OVERRIDE + job.link.encode())
        if job.folder is not None:
            overrides.append(f"hydra.sweep.subdir={job.folder}")
        (result,) = self.launcher.launch([overrides], initial_job_idx=job.index)
        # Hydra saved the whole config (URLs with passwords included) for the job and the sweep
        scrub_hydra_files(str(self.config.hydra.sweep.dir))
        if result.working_dir:
            scrub_hydra_files(result.working_dir)
        if result.status == JobStatus.COMPLETED:
            return JobOutcome(value=result.return_value)
        # for a failed job JobReturn.return_value logs "Error executing job" (for every pruned
        # trial too: a TrialPruned is the job's exception) and raises; the outcome is the exception
        error = job_value(result)
        if not isinstance(error, BaseException):
            error = RuntimeError(f"job ended with status {result.status.name}")
        return JobOutcome(error=error)

    def sweep(self, arguments: list[str]) -> optuna.Study:
        settings = self.settings
        space = parse_search_space(settings.params, arguments)
        self._check_composes(space)
        mask_logs()
        hide_trial_links_in_logs()
        study_dir = Path(str(self.config.hydra.sweep.dir))
        command = {"argv": list(sys.argv), "cwd": os.getcwd(), "python": sys.executable}
        hooks = installed()
        view = _view_name(self.config, hooks)
        output_root = self.config.get("output_root")
        runner = StudyRunner(
            settings,
            space,
            functools.partial(self._launch, space),
            study_dir,
            # hepsweep's app keeps its stores under output_root; any other app in its lasting sweep folder
            state_root=Path(str(output_root)) if output_root else lasting_sweep_folder(self.config),
            options=StudyOptions(
                command=command,
                objective_names=_objective_names(self.config),
                view=view,
                extend_trial=(
                    custom_search_space(settings.custom_search_space, self.config, self.task_function)
                    if settings.custom_search_space
                    else None
                ),
                description=_sweep_description(self.config),
                render=hooks.render or trials_view,
                # hepsweep's launcher: its workers finish their uploads and exit while the results are written
                after_last_job=self.launcher.release if isinstance(self.launcher, PooledLauncher) else None,
                observers=[CancelDeadTrialJobs()] if isinstance(self.launcher, SubmititTrials) else [],
            ),
        )
        restore = self._stop_on_signals(runner, settings.study_name)
        try:
            return runner.run()
        finally:
            restore()
            if isinstance(self.launcher, PooledLauncher):  # hepsweep's launcher: stop its worker processes
                self.launcher.close()

    def _stop_on_signals(self, runner: StudyRunner, study_name: str) -> Callable[[], None]:
        """SIGTERM or Ctrl-C while trials run as SLURM (submitit) jobs: cancel the jobs, say so in
        one line, and let the study end (its lost trials are queued again for the next run, their
        MLflow runs ended); a second signal interrupts at once. The handlers to put back."""
        launcher = self.launcher
        if not isinstance(launcher, SubmititTrials) or threading.current_thread() is not threading.main_thread():
            return lambda: None
        received: list[str] = []

        def on_signal(signum: int, frame: Any) -> None:
            if received:
                raise KeyboardInterrupt
            received.append(signal.Signals(signum).name)
            runner.stop(f"{received[0]} received; run the command again to continue")
            jobs = launcher.cancel_all()
            print(
                f"[{study_name}] {received[0]}: stopping; {len(jobs)} job(s) cancelled "
                f"({' '.join(jobs) or 'none'}); their trials are queued again for the next run",
                file=sys.stderr, flush=True,
            )

        before = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(s, h) for s, h in before.items()] and None


def lasting_sweep_folder(config: DictConfig) -> Path:
    """Where an app's study keeps its stores (``optuna.db``, ``mlflow.db``) when the sweeper
    names none: ``hydra.sweep.dir`` above its first folder named after the time, so that running
    the same command again continues the study. Hydra's default ``multirun/${now:%Y-%m-%d}/
    ${now:%H-%M-%S}`` gives ``multirun``; a sweep dir that names no time is its own."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    raw = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    parts = str(raw.get("dir") if isinstance(raw, dict) else "").rstrip("/").split("/")
    timed = next((i for i, part in enumerate(parts) if "${now:" in part), None)
    if timed is None:
        return sweep_dir
    return sweep_dir.parents[min(len(parts) - timed, len(sweep_dir.parents)) - 1]


def _view_name(config: DictConfig, hooks: AppHooks) -> str | None:
    """The study view named by the app's ``report`` key, checked against the views the app
    installed; an app that installed none has no ``report`` key of the sweeper's."""
    view = config.get("report") if hooks.views else None
    if view and str(view) not in hooks.views:
        raise ConfigError(f"report={view} is not a study view; use one of {', '.join(hooks.views)}")
    return str(view) if view else None


def _sweep_description(config: DictConfig) -> str | None:
    """The header comment of the ready-made study the command chose (``sweep=NAME``), if any."""
    choice = OmegaConf.select(config, "hydra.runtime.choices.sweep", default=None)
    return sweep_description(str(choice)) if choice else None
