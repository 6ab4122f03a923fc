"""The Hydra application behind ``hepsweep``: config composition, the task, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import hydra
import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from hepsweep._resources import config_dir
from hepsweep.config import register_configs
from hepsweep.errors import ConfigError, HepsweepError
from hepsweep.hydra_errors import explain_hydra_error
from hepsweep.job import TrialJob
from hepsweep.redaction import mask_logs, scrub_hydra_files
from hepsweep.train.warm import import_tensorflow

log = logging.getLogger("hepsweep")

CONFIG_NAME = "config"
# Hydra's own flags that take no value, and those that take one.
_FLAGS = {"-m", "--multirun", "--info", "-i", "--shell-completion", "-sc", "--resolve", "--help", "-h", "--hydra-help", "--version"}
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up chatter and retracing notes unless the user asked for them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def split_command_line(argv: list[str]) -> tuple[list[str], list[str]]:
    """Hydra flags (with their values) and overrides, in the order given."""
    flags, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in _FLAGS_WITH_VALUE and i + 1 < len(argv):
            flags += [arg, argv[i + 1]]
            i += 2
            continue
        (flags if arg in _FLAGS or arg.startswith("-") else overrides).append(arg)
        i += 1
    return flags, overrides


def _validate_overrides(overrides: list[str]) -> None:
    """Compose once with the non-sweep overrides so a bad one fails here, in one line."""
    parser = OverridesParser.create()
    plain = []
    for text in overrides:
        try:
            parsed = parser.parse_override(text)
        except Exception as exc:  # OverrideParseException
            raise ConfigError(explain_hydra_error(exc)) from None
        if not parsed.is_sweep_override():
            plain.append(text)
    compose_config(plain)


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose hepsweep's config as the command line would, with one-line errors."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name=CONFIG_NAME, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(explain_hydra_error(exc)) from None
    finally:
        GlobalHydra.instance().clear()


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
        try:
            result = run(
                cfg, trial=job.trial(), tracker=tracker, output_dir=output_dir, defer_outputs=sweep, on_summary=job.record_summary
            )
        except (HepsweepError, optuna.TrialPruned):
            raise
        except Exception:
            log.exception("the run failed")  # the full traceback goes to the job's log file
            raise
    if not sweep:
        print(f"run folder: {output_dir}", flush=True)
    return result.value


def main(argv: list[str]) -> None:
    """Run the Hydra app with ``argv`` (everything after ``hepsweep``)."""
    quiet_tensorflow()
    # MLflow sets its own loggers' level when it is imported, from this variable
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    flags, overrides = split_command_line(argv)
    if not any(f in flags for f in ("--help", "-h", "--hydra-help", "--version", "--info", "-i", "--shell-completion", "-sc")):
        _validate_overrides(overrides)
    register_configs()
    sys.argv = ["hepsweep", *argv]
    # Let errors reach hepsweep's command line, which prints them as one line.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=CONFIG_NAME)(task)()
