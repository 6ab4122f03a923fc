"""Serialising the creation of an SQLite database's schema between processes.

Sweepers (and their workers) that start together on a fresh ``optuna.db`` or ``mlflow.db``
would race to create the same tables (``table ... already exists``, ``UNIQUE constraint failed:
alembic_version``). Each takes this lock while it opens the database for the first time.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ContextManager

from filelock import FileLock


def schema_lock(url: str) -> ContextManager[object]:
    """An exclusive lock file next to an SQLite database; nothing for server databases."""
    if not url.startswith("sqlite:///"):
        return contextlib.nullcontext()
    lock = Path(url[len("sqlite:///") :] + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock))
