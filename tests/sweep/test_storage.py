"""Opening a study storage: a fresh database whose schema another process creates at the same
moment (optuna-dashboard, a user's ``optuna.load_study``, which take no lock) still opens."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from hepsweep.errors import StudyError
from hepsweep import locks
from hepsweep.sweep.storage import open_storage
from tests.conftest import stamp_the_schema_version_again

PLAIN_RDB_STORAGE = optuna.storages.RDBStorage


def lose_the_race_to_an_outsider(url: str, **kwargs) -> optuna.storages.RDBStorage:
    """What the loser of the race sees: another process creates the tables and stamps the schema
    version between this one's check and its insert, and the insert fails on the unique key."""
    PLAIN_RDB_STORAGE(url)
    stamp_the_schema_version_again(url)
    raise AssertionError("unreachable")


def test_a_schema_created_by_an_outside_process_in_between_is_opened(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    attempts: list[str] = []

    def first_attempt_loses(url: str, **kwargs) -> optuna.storages.RDBStorage:
        attempts.append(url)
        if len(attempts) == 1:
            return lose_the_race_to_an_outsider(url, **kwargs)
        return PLAIN_RDB_STORAGE(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", first_attempt_loses)
    storage = open_storage(url)
    monkeypatch.undo()
    assert len(attempts) == 2
    assert optuna.create_study(study_name="after-the-race", storage=storage).study_name == "after-the-race"


def test_a_collision_that_keeps_happening_ends_in_one_line(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setattr(optuna.storages, "RDBStorage", lose_the_race_to_an_outsider)
    monkeypatch.setattr(locks.time, "sleep", lambda seconds: None)
    with pytest.raises(StudyError, match=r"cannot open storage .*UNIQUE constraint failed") as raised:
        open_storage(url)
    assert "\n" not in str(raised.value)


def test_an_error_that_is_not_a_collision_is_not_retried(tmp_path: Path, monkeypatch) -> None:
    attempts: list[str] = []

    def unreachable_server(url: str, **kwargs) -> optuna.storages.RDBStorage:
        attempts.append(url)
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", unreachable_server)
    with pytest.raises(StudyError, match="connection refused"):
        open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(attempts) == 1
