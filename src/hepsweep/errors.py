"""One exception root for everything hepsweep refuses, each with a one-line message that names the fix."""

from __future__ import annotations

import errno


class HepsweepError(Exception):
    """Base class of hepsweep's errors: the message is one line that says what is wrong and how to fix it."""


class ConfigError(HepsweepError):
    """A configuration value is missing, out of range or inconsistent with another one."""


class InvalidArchitectureError(ConfigError):
    """The model configuration cannot build a valid network for the input shape."""


class DataError(HepsweepError):
    """A data file is missing, unreadable or not in the expected format."""


class DeviceError(HepsweepError):
    """The requested compute device is not available."""


class TrainingError(HepsweepError):
    """Training diverged (NaN loss) or could not run."""


class StudyError(HepsweepError):
    """A study cannot be created, loaded or resumed as asked."""


class SearchSpaceError(StudyError):
    """A search-space expression in ``hydra.sweeper.params`` cannot be parsed."""


class ExportError(HepsweepError):
    """A model cannot be exported as asked (no checkpoint, a layer a format cannot hold, a
    converted model that disagrees with Keras)."""


class JobLostError(HepsweepError):
    """A trial's job was ended from outside before it finished: cancelled, over its time limit,
    its node lost, or vanished from the cluster. The trial is run again (up to ``max_retry``)."""


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EEXIST)


def message_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def first_line(exc: BaseException) -> str:
    """``exc`` in one line: its type's name and the first line of its message (``ValueError: bad``)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def filesystem_error_line(exc: OSError) -> str | None:
    """One line for a folder or file hepsweep cannot write (or a full disk); None otherwise."""
    where = exc.filename
    if exc.errno in _NO_SPACE:  # a write() into an open file names no file
        place = f"the filesystem holding {where}" if where is not None else "a filesystem hepsweep writes to"
        return f"no space left on {place}; free some space or write elsewhere (output_root=..., HEPSWEEP_OUTPUT, HEPSWEEP_CACHE)"
    if where is None or exc.errno not in _NOT_WRITABLE:
        return None
    return (
        f"cannot write {where} ({exc.strerror}); choose a folder you can write: output_root=... "
        "(or HEPSWEEP_OUTPUT), HEPSWEEP_CACHE for the data cache, -o for a report"
    )


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception behind it, says a disk or quota is full (an ``OSError``,
    or a database that could not grow: SQLite's "database or disk is full")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        text = str(current)
        if "database or disk is full" in text or "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
