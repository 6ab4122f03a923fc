"""The Hydra application behind ``hepsweep``: config composition, the task, one-line errors."""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import sys
from typing import Any, Iterator

import hydra
import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from hepsweep._resources import config_dir
from hepsweep.config import check_known_keys, register_configs
from hepsweep.config_checks import LAUNCHER_RULES, check_values
from hepsweep.errors import ConfigError, HepsweepError, filesystem_error_line, out_of_space
from hepsweep.hydra_errors import explain_hydra_error, unknown_key
from hepsweep.job import TrialJob, trial_result
from hepsweep.quiet import quiet_libraries
from hepsweep.redaction import mask_logs, scrub_hydra_files
from hepsweep.sweep.outcome import carry
from hepsweep.sweep.settings import SweepSettings
from hepsweep.train.benchmark import RunSummary
from hepsweep.train.warm import import_tensorflow, warm_up
from hydra_plugins.hepsweep_sweeper import _app_hooks as hooks
from hydra_plugins.hepsweep_sweeper._config_nodes import HepsweepLauncherConf, HepsweepSweeperConf
from hydra_plugins.hepsweep_sweeper._hydra_private import command_line_flags

log = logging.getLogger("hepsweep")

CONFIG_NAME = "config"


def split_command_line(argv: list[str]) -> tuple[list[str], list[str]]:
    """Hydra flags (with their values) and overrides, in the order given; the flags that take a
    value are those of Hydra's own parser."""
    _, with_value = command_line_flags()
    flags, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in with_value and i + 1 < len(argv):
            flags += [arg, argv[i + 1]]
            i += 2
            continue
        (flags if arg.startswith("-") else overrides).append(arg)
        i += 1
    return flags, overrides


def _validate_overrides(overrides: list[str]) -> None:
    """Compose once with the non-sweep overrides so a bad one fails here, in one line."""
    # hydra.main composes the config again (about 0.2 s of a 1.3 s refusal). Checking Hydra's own
    # composition instead needs a hook Hydra 1.3 lacks: its callbacks are named in the config (a
    # line in every run's hydra.yaml), skip --cfg, and run inside run_and_report, which under
    # HYDRA_FULL_ERROR=0 prints its own traceback instead of the one line.
    parser = OverridesParser.create()
    plain, swept = [], []
    for text in overrides:
        try:
            parsed = parser.parse_override(text)
        except Exception as exc:  # OverrideParseException
            raise ConfigError(explain_hydra_error(exc)) from None
        if parsed.is_sweep_override():
            swept.append(parsed.key_or_group)
        else:
            plain.append(text)
    check_composed(compose_config(plain, with_hydra=True), swept)


def check_composed(cfg: DictConfig, swept: list[str] | None = None) -> None:
    """Refuse, in one line, a value out of its range, an unknown objective, a network the
    dataset cannot feed and, when the sweeper and launcher are hepsweep's, a bad setting of
    theirs: before Hydra starts a launcher or a trial. ``swept``: the keys the command line
    sweeps; with the sweeper's ``params``, what a trial may change of the fixed config."""
    hydra_node = cfg.get("hydra")
    sweeper = hydra_node.get("sweeper") if hydra_node is not None else None
    if sweeper is not None and sweeper.get("_target_") == HepsweepSweeperConf._target_:
        try:
            SweepSettings.from_config(sweeper)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"hydra.sweeper: {exc}") from None
    launcher = hydra_node.get("launcher") if hydra_node is not None else None
    if launcher is not None and launcher.get("_target_") == HepsweepLauncherConf._target_:
        # after the sweeper's: the launcher's workers follow hydra.sweeper.n_jobs
        check_values(OmegaConf.create({"hydra": {"launcher": OmegaConf.to_container(launcher, resolve=True)}}), LAUNCHER_RULES)
    params = sweeper.get("params") if sweeper is not None else None
    searched: list[str] | None = [*(swept or ()), *(str(key) for key in (params or {}))]
    if sweeper is not None and sweeper.get("custom_search_space"):
        searched = None  # a function of the user's suggests keys the config cannot tell
    with open_dict(cfg):
        cfg.pop("hydra", None)
    from hepsweep.train.preflight import check_config  # heavy: the data readers (a third of a second)

    check_config(cfg, searched)


def compose_config(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """Compose hepsweep's config as the command line would, with one-line errors (``with_hydra``:
    keep the ``hydra`` node, as a job sees it)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=with_hydra)
        check_known_keys(cfg)
        return cfg
    except (HydraException, OmegaConfBaseException) as exc:
        message, near = explain_hydra_error(exc), _closest_key(exc, overrides)
        if near is not None:
            message = message.replace("check its spelling", f"did you mean {near}?")
        raise ConfigError(message) from None
    finally:
        GlobalHydra.instance().clear()


def _closest_key(exc: BaseException, overrides: list[str]) -> str | None:
    """The key the config does have that a misspelt one was meant to be (``model.units`` for
    ``model.unitz``), or None."""
    bad = unknown_key(exc)
    if bad is None or "." not in bad:
        return None
    parent, _, leaf = bad.rpartition(".")
    others = [o for o in overrides if not o.lstrip("+~").startswith(bad)]
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            node = OmegaConf.select(compose(config_name=CONFIG_NAME, overrides=others), parent)
    except Exception:  # the other overrides do not compose either: no suggestion
        return None
    finally:
        GlobalHydra.instance().clear()
    if not isinstance(node, DictConfig):
        return None
    near = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1)
    return f"{parent}.{near[0]}" if near else None


def task(cfg: DictConfig) -> Any:
    """The Hydra task: one training run; inside a sweep, linked to its Optuna trial and MLflow run."""
    import_tensorflow()  # first, so that its native start-up lines stay off the terminal
    from hepsweep.train.objective import Objective  # heavy: with the run, in the job that trains
    from hepsweep.train.training import run  # heavy: TensorFlow, imported by the job that trains

    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    mask_logs()
    scrub_hydra_files(output_dir)  # before anything uploads the job's folder
    job = TrialJob.from_environment(cfg)
    job.record_folder(output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    with job.tracker(cfg, sweep=sweep, output_dir=output_dir) as tracker:
        objective = cfg.get("objective")
        single = isinstance(objective, str)  # pruning reports only a single objective
        job.continue_lost_trial(output_dir, tracker, Objective.parse(objective).monitor if single else None)
        handed: list[RunSummary] = []  # the run's final summary (complete, pruned or diverged)
        try:
            result = run(cfg, trial=job.trial(), tracker=tracker, output_dir=output_dir, defer_outputs=sweep, on_summary=handed.append)
        except (HepsweepError, optuna.TrialPruned) as exc:
            # a pruned or diverged run's figures go back to the sweeper on its exception
            error = carry(exc, trial_result(handed[-1]) if handed else None)
            if error is exc:
                raise
            raise error from None
        except Exception as exc:
            # a folder that cannot be written, a full disk (h5py's too): the one line says it
            quiet = out_of_space(exc) or (isinstance(exc, OSError) and filesystem_error_line(exc) is not None)
            if not quiet:
                log.exception("the run failed")  # the full traceback goes to the job's log file
            raise
        if sweep:
            job.log_model(cfg, output_dir, result.value)
    if not sweep:
        print(f"run folder: {output_dir}", flush=True)
    if sweep and job.hands_back_record:  # the one route of the trial's result to hepsweep's sweeper
        return trial_result(result.summary, result.value)
    return result.value


def sweep_hooks() -> hooks.AppHooks:
    """What hepsweep's app adds to its sweeps: the reference studies' views, and TensorFlow
    imported by each worker of ``hydra/launcher=hepsweep`` before its first trial."""
    from hepsweep.studies import VIEWS, render  # heavy: pandas and the views' figures, for a sweep only

    return hooks.AppHooks(views=tuple(VIEWS), render=render, warm_up=warm_up)


def main(argv: list[str]) -> None:
    """Run the Hydra app with ``argv`` (everything after ``hepsweep``)."""
    quiet_libraries()
    # a log file that cannot be written (a full disk) must not print a traceback per record
    logging.raiseExceptions = False
    flags, overrides = split_command_line(argv)
    if not any(f in flags for f in ("--help", "-h", "--hydra-help", "--version", "--info", "-i", "--shell-completion", "-sc")):
        _validate_overrides(overrides)
    register_configs()
    hooks.install(sweep_hooks)
    sys.argv = ["hepsweep", *argv]
    # Let errors reach hepsweep's command line, which prints them as one line.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    with _without_job_error_echo():
        hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=CONFIG_NAME)(task)()


class _EchoFilter:
    """``sys.stderr`` less Hydra's "Error executing job with overrides: [...]", which it writes
    before re-raising a failed single run's error: hepsweep's command line prints that error
    itself, in one line (a bug keeps its traceback). Everything else passes through."""

    PREFIX = "Error executing job with overrides"

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return len(text) if text.startswith(self.PREFIX) else self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def _without_job_error_echo() -> Iterator[None]:
    original = sys.stderr
    sys.stderr = _EchoFilter(original)
    try:
        yield
    finally:
        sys.stderr = original
