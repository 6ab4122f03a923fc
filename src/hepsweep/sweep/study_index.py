"""A small index of the studies this user ran and where their stores are, so that
``hepsweep resume STUDY`` and ``hepsweep report STUDY`` work from any folder.

It lives in the user's data folder (``$XDG_DATA_HOME/hepsweep/studies.json`` on Linux). Storage
URLs are kept with their passwords masked: a study whose store needs one is found, and the
user is asked for ``--storage``. Writing the index is best effort; a study never fails for it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from filelock import FileLock
from platformdirs import user_data_dir

from hepsweep.redaction import MASK, mask

log = logging.getLogger(__name__)

INDEX_NAME = "studies.json"


def index_path() -> Path:
    return Path(user_data_dir("hepsweep", appauthor=False)) / INDEX_NAME


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {str(k): v for k, v in entries.items() if isinstance(v, dict) and isinstance(v.get("storage"), str)}


def remember(study_name: str, storage_url: str, study_dir: Path) -> str | None:
    """Record where ``study_name`` is stored (the latest start wins). Returns the storage the
    index held for the name before when that was another (masked): the name now points at
    another study, which the caller says aloud; else None."""
    path = index_path()
    before = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=10):
            entries = _read(path)
            before = (entries.get(study_name) or {}).get("storage")
            entries[study_name] = {"storage": mask(storage_url), "study_dir": str(study_dir)}
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
                json.dump(entries, handle, indent=1, sort_keys=True)
            os.replace(handle.name, path)
    except Exception as exc:  # a read-only home, a full disk: the study goes on
        log.debug("could not update the study index %s: %s", path, exc)
        return None
    return before if before is not None and before != mask(storage_url) else None


def stored_at(study_name: str) -> str | None:
    """The storage URL the index holds for ``study_name`` (possibly masked), or None."""
    entry = _read(index_path()).get(study_name)
    return entry["storage"] if entry else None


def output_root_of(study_name: str) -> Path | None:
    """The output folder that holds ``study_name``'s folder (``<root>/studies/<name>``), from the
    user's own index; None when the index does not say."""
    entry = _read(index_path()).get(study_name) or {}
    folder = Path(str(entry.get("study_dir") or ""))
    if folder.is_absolute() and folder.parent.name == "studies" and folder.parent.parent.is_dir():
        return folder.parent.parent
    return None


def needs_password(url: str) -> bool:
    return MASK in url
