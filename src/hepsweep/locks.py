"""Creating a database's schema once, whoever else opens it at the same moment.

Sweepers (and their workers) that start together on a fresh ``optuna.db`` or ``mlflow.db``
would race to create the same tables (``table ... already exists``, ``UNIQUE constraint failed:
alembic_version``). Each takes a lock file while it opens an SQLite database for the first time.
A process that takes no lock (optuna-dashboard, ``mlflow ui``, a user's script) can still create
the tables in between; that collision is retried, and the next attempt finds them in place.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, ContextManager, TypeVar

from filelock import FileLock

T = TypeVar("T")

SCHEMA_ATTEMPTS = 5
# what SQLite and PostgreSQL say when another connection created the same table or row first
COLLISIONS = ("already exists", "UNIQUE constraint failed", "duplicate key value violates unique constraint")


def schema_lock(url: str) -> ContextManager[object]:
    """An exclusive lock file next to an SQLite database; nothing for server databases."""
    if not url.startswith("sqlite:///"):
        return contextlib.nullcontext()
    lock = Path(url[len("sqlite:///") :] + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock))


def created_concurrently(exc: BaseException) -> bool:
    """Whether ``exc`` says another process created the same table or row first."""
    return any(marker in str(exc) for marker in COLLISIONS)


def open_database(url: str, open_store: Callable[[], T]) -> T:
    """``open_store()`` (which may create the schema at ``url``) under the schema lock, tried
    again after a collision with a process that takes no lock."""
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with schema_lock(url):
                return open_store()
        except Exception as exc:
            if not created_concurrently(exc) or attempt == SCHEMA_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
