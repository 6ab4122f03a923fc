"""Continuing a study from its storage: the command it was started with is saved in the study.

A crashed or interrupted study also continues when its command is simply run again; this module
does it from Python (``hepsweep.resume``) or with ``hepsweep resume STUDY`` from anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import optuna

from hepsweep.config import OUTPUT_ENV, default_output_root
from hepsweep.errors import StudyError
from hepsweep.redaction import MASK, mask
from hepsweep.sweep.storage import open_storage
from hepsweep.sweep.records import StudyRecord
from hepsweep.sweep.saved_command import key_of, split_saved
from hepsweep.sweep.study_index import needs_password, output_root_of, stored_at


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


def resume_command(
    study: optuna.Study, storage_url: str, n_trials: int | None = None, overrides: Sequence[str] = ()
) -> list[str]:
    """The command line that continues ``study`` in the current folder: always this interpreter's
    ``python -m hepsweep --multirun``, the saved arguments that :mod:`~hepsweep.sweep.saved_command`
    allows, then the user's own ``overrides`` (which replace saved ones of the same key). The
    saved program, interpreter and folder are never used."""
    record = StudyRecord.of(study).command
    name = study.study_name
    if not record:
        raise StudyError(
            f"study '{name}' holds no command saved by the hepsweep sweeper; run the sweep's command again to continue it"
        )
    program, *saved = record["argv"]
    if Path(program).name != "hepsweep":
        raise StudyError(
            f"study '{name}' was started by {Path(program).name!r}, not hepsweep; run that command again to continue it"
        )
    given = {key_of(o) for o in overrides}
    replaced = given | {"hydra.sweeper.storage"} | ({"hydra.sweeper.n_trials"} if n_trials is not None else set())
    saved = [a for a in saved if a.startswith("-") or key_of(a) not in replaced]
    masked = [a for a in saved if MASK in a]
    if masked:
        raise StudyError(
            f"study '{name}': the saved command held a password, saved masked ({' '.join(masked)}); give the "
            f"value yourself (hepsweep resume {name} KEY=VALUE), or keep credentials out of URLs "
            "(MLFLOW_TRACKING_USERNAME/PASSWORD, ~/.pgpass)"
        )
    kept, refused = split_saved(saved)
    if refused:
        shown = " ".join(repr(a) if not a.isprintable() else a for a in refused)
        raise StudyError(
            f"study '{name}': resume does not take these saved arguments from the study storage ({shown}): they "
            f"could name code or a path; give the ones you want yourself (hepsweep resume {name} KEY=VALUE ...) "
            "or run the sweep's command again"
        )
    arguments = [a for a in kept if not a.startswith("-")]
    arguments += [*overrides, f"hydra.sweeper.storage={_quote(storage_url)}"]
    if n_trials is not None:
        arguments.append(f"hydra.sweeper.n_trials={n_trials}")
    # -P (Python 3.11+): the current folder is not put on the module path, so a ./hepsweep/ there is not run
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *safe_path, "-m", "hepsweep", "--multirun", *arguments]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def resume(
    study_name: str, storage: str | None = None, n_trials: int | None = None, overrides: Sequence[str] = ()
) -> optuna.Study:
    """Continue the sweep of ``study_name`` in the current folder and run what is missing.

    Only the saved arguments that name no code and no path are taken from the study's storage
    (see :mod:`hepsweep.sweep.saved_command`); data paths, URLs, launcher setup and the like are
    given again in ``overrides``.

    Args:
        study_name: The study (``hydra.sweeper.study_name``).
        storage: Its storage URL; default ``sqlite:///outputs/optuna.db`` under ``HEPSWEEP_OUTPUT``,
            else the store the user's study index remembers for ``study_name``.
        n_trials: A new total budget; default the one the study was started with.
        overrides: More overrides (``dataset.path=...``); they replace saved ones of the same key.

    Returns:
        The study, loaded again after the sweep ended.

    Example:
        >>> study = hepsweep.resume("quickstart")  # doctest: +SKIP
        >>> len(study.trials)  # doctest: +SKIP
        12
    """
    study, url = locate_study(study_name, storage)
    command = resume_command(study, url, n_trials, overrides)
    env = dict(os.environ)
    root = output_root_of(study_name) if url == stored_at(study_name) else None
    if root is not None and OUTPUT_ENV not in env:  # the study's folders and MLflow store, from the user's index
        env[OUTPUT_ENV] = str(root)
    completed = subprocess.run(command, env=env, check=False)
    if completed.returncode != 0:
        raise StudyError(f"resuming study '{study_name}' failed (exit {completed.returncode}); see the output above")
    return load_study(study_name, url)
