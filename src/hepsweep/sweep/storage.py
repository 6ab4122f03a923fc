"""Optuna storages: SQLite by default, any SQLAlchemy URL (PostgreSQL for many machines), or a
journal file. SQLite connections wait for locks instead of failing with "database is locked"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages.journal import JournalFileBackend

from hepsweep.errors import StudyError, message_line
from hepsweep.locks import open_database
from hepsweep.redaction import mask
from hepsweep.sweep.samplers import study_pruner

SQLITE_TIMEOUT_S = 120
_CACHE: dict[tuple[Any, ...], optuna.storages.BaseStorage] = {}


def default_storage_url(root: str | Path) -> str:
    """``sqlite:///<root>/optuna.db``: every study's embedded storage under the output root."""
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'optuna.db'}"


def open_trial(
    url: str,
    study_name: str,
    trial_id: int,
    pruner: Any = None,
    trial_type: Callable[[optuna.Study, int], optuna.Trial] = optuna.trial.Trial,
) -> optuna.Trial:
    """A live trial of ``study_name`` rebuilt from its storage (what a launched job reports to),
    pruned by the pruner spec ``pruner`` (the job's own ``hydra.sweeper.pruner``), as the study's
    sweeper prunes it (:func:`~hepsweep.sweep.samplers.study_pruner`); ``trial_type``: a subclass
    of ``optuna.Trial`` to build it as."""
    storage = open_storage(url)
    try:
        study_id = storage.get_study_id_from_name(study_name)
        number = storage.get_trial(trial_id).number
        if storage.get_trial_id_from_study_id_trial_number(study_id, number) != trial_id:
            raise KeyError(trial_id)  # a trial of another study
    except KeyError:
        raise StudyError(
            f"the job's trial link names trial {trial_id} of study '{study_name}', which {mask(url)} does not hold; "
            "launch trials with hepsweep -m (only the sweeper sets HEPSWEEP_TRIAL), or unset it"
        ) from None
    directions = storage.get_study_directions(study_id)
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=study_pruner(pruner, len(directions)))
    return trial_type(study, trial_id)


def open_storage(
    url: str,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    stale_trial_callback: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; the same arguments return the same storage object."""
    key = (url, heartbeat_interval, grace_period, stale_trial_callback)
    if key in _CACHE:
        return _CACHE[key]
    if url.endswith(".log") or url.endswith(".journal"):
        path = url[len("file://") :] if url.startswith("file://") else url
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        storage: optuna.storages.BaseStorage = optuna.storages.JournalStorage(JournalFileBackend(path))
    else:
        engine_kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
        else:
            engine_kwargs["pool_pre_ping"] = True
        try:
            storage = open_database(
                url,
                lambda: optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=stale_trial_callback,
                ),
            )
        except ImportError as exc:
            raise StudyError(
                f"no database driver for storage {mask(url)} ({exc}); for PostgreSQL: pip install 'psycopg[binary]'"
            ) from None
        except Exception as exc:
            first = message_line(exc)
            raise StudyError(
                f"cannot open storage {mask(url)} ({first}); check hydra.sweeper.storage and that the database is up"
            ) from None
    _CACHE[key] = storage
    return storage
