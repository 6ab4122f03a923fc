"""The Optuna internals hepsweep relies on, in one place.

Optuna offers no public way to do what these functions do; each says what it reads and why.
Every other module uses Optuna's public API. ``tests/compat/test_private_apis.py`` checks that
each name used here still exists with the expected signature, and fails naming this module when
an Optuna release changes one; ``pyproject.toml`` pins the range of Optuna versions tested.
"""

from __future__ import annotations

from datetime import datetime

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import orm


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a live trial: what a storage's per-trial calls take (``get_trial``,
    ``record_heartbeat``) and what a launched job opens its trial by. Optuna exposes only the
    trial's number, which is unique within its study, not within the storage."""
    return trial._trial_id


def cached_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials as Optuna's own samplers read them inside ``ask``: from the study's
    per-ask cache, not copied. ``Study.get_trials`` queries the storage on every call, once per
    proposal of a sampler that keeps asking until it finds an untried configuration."""
    return study._get_trials(deepcopy=False, use_cache=True)


def keeps_heartbeats(storage: optuna.storages.BaseStorage) -> bool:
    """Whether ``storage`` records heartbeats (an SQL storage opened with a heartbeat interval),
    so that a trial whose process died can be told from a live one."""
    return is_heartbeat_enabled(storage)


def running_without_heartbeat(storage: optuna.storages.BaseStorage, study_name: str, started_before: datetime) -> list[int]:
    """The ids of the study's RUNNING trials that started before ``started_before`` and have never
    had a heartbeat (none for a storage that is not SQL). Optuna keeps its heartbeat rows to
    itself; its own stale-trial check reads them through the same models and session."""
    backend = getattr(storage, "_backend", storage)  # Optuna wraps an SQL storage in a cache
    if not isinstance(backend, optuna.storages.RDBStorage):
        return []
    study_id = backend.get_study_id_from_name(study_name)
    with _create_scoped_session(backend.scoped_session) as session:
        running = (
            session.query(models.TrialModel)
            .options(orm.selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study_id)
            .all()
        )
        return [t.trial_id for t in running if not t.heartbeats and t.datetime_start and t.datetime_start < started_before]
