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

from hepsweep.config import default_output_root
from hepsweep.errors import StudyError
from hepsweep.redaction import MASK, mask
from hepsweep.sweep.storage import open_storage
from hepsweep.sweep.records import StudyRecord
from hepsweep.sweep.study_index import needs_password, stored_at


def default_storage() -> str:
    """The embedded storage: ``sqlite:///<HEPSWEEP_OUTPUT or ./outputs>/optuna.db``."""
    return f"sqlite:///{default_output_root() / 'optuna.db'}"


def load_study(study_name: str, storage: str | None = None) -> optuna.Study:
    """Load ``study_name`` from ``storage``; without one, from the embedded storage of this
    folder (or HEPSWEEP_OUTPUT), else from wherever the user's study index says it is."""
    return locate_study(study_name, storage)[0]


def locate_study(study_name: str, storage: str | None = None) -> tuple[optuna.Study, str]:
    """The study and the storage URL it was found in (see ``load_study``)."""
    if storage is not None:
        return _load(study_name, storage), storage
    local = default_storage()
    if _sqlite_exists(local):
        try:
            return optuna.load_study(study_name=study_name, storage=open_storage(local)), local
        except KeyError:
            pass
    indexed = stored_at(study_name)
    if indexed is not None:
        if needs_password(indexed):
            raise StudyError(
                f"study '{study_name}' is stored at {indexed}, whose password hepsweep does not keep; "
                "pass --storage with the full URL"
            )
        return _load(study_name, indexed), indexed
    if not _sqlite_exists(local):
        raise StudyError(
            f"no study '{study_name}' known to hepsweep and no study storage at {local}; run from the folder "
            "that holds outputs/, set HEPSWEEP_OUTPUT, or pass --storage"
        )
    return _load(study_name, local), local


def _sqlite_exists(url: str) -> bool:
    return Path(url[len("sqlite:///") :]).exists()


def _load(study_name: str, url: str) -> optuna.Study:
    if url.startswith("sqlite:///") and not _sqlite_exists(url):
        raise StudyError(f"no study storage at {url}; pass --storage with the study's storage URL")
    backend = open_storage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = optuna.get_all_study_names(backend)
        raise StudyError(
            f"no study named '{study_name}' in {mask(url)}; it holds: {', '.join(names) or 'no studies'}"
        ) from None


def _key(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


# Saved arguments that could name code to run (a ``_target_``, a config folder, a search path,
# Hydra callbacks) are refused: whoever can write the study's store must not choose what runs.
_UNSAFE_KEYS = ("_target_", "hydra.searchpath", "hydra.callbacks", "custom_search_space")
_SAFE_FLAGS = ("-m", "--multirun")


def _unsafe(argument: str) -> bool:
    if argument.startswith("-"):
        return argument not in _SAFE_FLAGS
    return any(part in _key(argument) for part in _UNSAFE_KEYS)


def resume_command(study: optuna.Study, storage_url: str, n_trials: int | None = None) -> tuple[list[str], str]:
    """The command line (and the folder to run it in) that continues ``study``: always
    ``python -m hepsweep`` with the saved overrides, whatever program the store names."""
    record = StudyRecord.of(study).command
    name = study.study_name
    if not record:
        raise StudyError(f"study '{name}' was not started by the hepsweep sweeper, so no command is saved to resume it")
    program, *arguments = [str(a) for a in record.get("argv", [])]
    if Path(program).name != "hepsweep":
        raise StudyError(
            f"study '{name}' was started by {Path(program).name}, not hepsweep; run that command again to continue it"
        )
    refused = [a for a in arguments if _unsafe(a)]
    if refused:
        raise StudyError(
            f"study '{name}': the saved command has arguments that resume does not run ({' '.join(refused)}); "
            "run the sweep's command again yourself to continue it"
        )
    arguments = [a for a in arguments if _key(a) != "hydra.sweeper.storage"]
    arguments.append(f"hydra.sweeper.storage={_quote(storage_url)}")
    masked = [a for a in arguments if MASK in a and _key(a) != "hydra.sweeper.storage"]
    if masked:
        raise StudyError(
            f"study '{name}': the saved command held a password, saved masked ({' '.join(masked)}); run the "
            "sweep's command again, or keep credentials out of URLs (MLFLOW_TRACKING_USERNAME/PASSWORD, ~/.pgpass)"
        )
    if n_trials is not None:
        arguments = [a for a in arguments if _key(a) != "hydra.sweeper.n_trials"]
        arguments.append(f"hydra.sweeper.n_trials={n_trials}")
    if not any(a in _SAFE_FLAGS for a in arguments):
        arguments.insert(0, "--multirun")
    return [sys.executable, "-m", "hepsweep", *arguments], str(record.get("cwd") or os.getcwd())


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def resume(study_name: str, storage: str | None = None, n_trials: int | None = None) -> optuna.Study:
    """Re-create the sweep of ``study_name`` from the command saved with it and run what is missing.

    Args:
        study_name: The study (``hydra.sweeper.study_name``).
        storage: Its storage URL; default ``sqlite:///outputs/optuna.db`` under ``HEPSWEEP_OUTPUT``,
            else the store the user's study index remembers for ``study_name``.
        n_trials: A new total budget; default the one the study was started with.

    Returns:
        The study, loaded again after the sweep ended.

    Example:
        >>> study = hepsweep.resume("quickstart")  # doctest: +SKIP
        >>> len(study.trials)  # doctest: +SKIP
        12
    """
    study, url = locate_study(study_name, storage)
    command, cwd = resume_command(study, url, n_trials)
    if not Path(cwd).is_dir():
        print(f"hepsweep: the study was started in {cwd}, which is not here; resuming from {os.getcwd()}")
        cwd = os.getcwd()
    completed = subprocess.run(command, cwd=cwd, check=False)
    if completed.returncode != 0:
        raise StudyError(f"resuming study '{study_name}' failed (exit {completed.returncode}); see the output above")
    return load_study(study_name, url)
