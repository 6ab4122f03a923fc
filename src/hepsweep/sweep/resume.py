"""Continuing a study from its storage: the command it was started with is saved in the study.

A crashed or interrupted study also continues when its command is simply run again; this module
does it from Python (``hepsweep.resume``) or with ``hepsweep resume STUDY`` from anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna

from hepsweep.errors import StudyError
from hepsweep.sweep.storage import open_storage, redact
from hepsweep.sweep.study import COMMAND_ATTR


def default_storage() -> str:
    """The embedded storage: ``sqlite:///<HEPSWEEP_OUTPUT or ./outputs>/optuna.db``."""
    root = Path(os.environ.get("HEPSWEEP_OUTPUT", "outputs")).expanduser().resolve()
    return f"sqlite:///{root / 'optuna.db'}"


def load_study(study_name: str, storage: str | None = None) -> optuna.Study:
    """Load ``study_name`` from ``storage`` (default: the embedded one), with a clear error."""
    url = storage or default_storage()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise StudyError(
            f"no study storage at {url}; run from the folder that holds outputs/, set HEPSWEEP_OUTPUT, or pass --storage"
        )
    backend = open_storage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = optuna.get_all_study_names(backend)
        raise StudyError(
            f"no study named '{study_name}' in {redact(url)}; it holds: {', '.join(names) or 'no studies'}"
        ) from None


def _key(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


def resume_command(study: optuna.Study, storage_url: str, n_trials: int | None = None) -> tuple[list[str], str]:
    """The command line (and the folder to run it in) that continues ``study``."""
    record = study.user_attrs.get(COMMAND_ATTR)
    if not record:
        raise StudyError(
            f"study '{study.study_name}' was not started by the hepsweep sweeper, so no command is saved to resume it"
        )
    program, *arguments = record["argv"]
    if n_trials is not None:
        arguments = [a for a in arguments if _key(a) != "hydra.sweeper.n_trials"]
        arguments.append(f"hydra.sweeper.n_trials={n_trials}")
    if not any(_key(a) == "hydra.sweeper.storage" for a in arguments):
        arguments.append(f"hydra.sweeper.storage={_quote(storage_url)}")
    if not any(a in ("-m", "--multirun") for a in arguments):
        arguments.insert(0, "--multirun")
    if Path(program).name == "hepsweep":
        prefix = [sys.executable, "-m", "hepsweep"]
    else:
        prefix = [sys.executable, program]
    return prefix + arguments, str(record.get("cwd") or os.getcwd())


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def resume(study_name: str, storage: str | None = None, n_trials: int | None = None) -> optuna.Study:
    """Re-create the sweep of ``study_name`` from the command saved with it and run what is missing.

    Args:
        study_name: The study (``hydra.sweeper.study_name``).
        storage: Its storage URL; default ``sqlite:///outputs/optuna.db`` under ``HEPSWEEP_OUTPUT``.
        n_trials: A new total budget; default the one the study was started with.

    Returns:
        The study, loaded again after the sweep ended.

    Example:
        >>> study = hepsweep.resume("quickstart")  # doctest: +SKIP
        >>> len(study.trials)  # doctest: +SKIP
        12
    """
    url = storage or default_storage()
    command, cwd = resume_command(load_study(study_name, url), url, n_trials)
    if not Path(cwd).is_dir():
        print(f"hepsweep: the study was started in {cwd}, which is not here; resuming from {os.getcwd()}")
        cwd = os.getcwd()
    completed = subprocess.run(command, cwd=cwd, check=False)
    if completed.returncode != 0:
        raise StudyError(f"resuming study '{study_name}' failed (exit {completed.returncode}); see the output above")
    return load_study(study_name, url)
