"""Keeping secrets out of everything hepsweep writes: files, MLflow, the study store, logs.

A password may reach hepsweep inside a URL (``postgresql+psycopg://user:pw@host/db``,
``http://user:pw@mlflow:5000``) or a query string (``?token=...``). Every value that leaves the
process (a log line, a param, a study attribute, the ``.hydra`` files of a job, the link a job
gets in its environment) goes through :func:`mask` first. A job that needs the real URL gets it
back from its own config with :func:`restore`, never from what was written. A SLURM or submitit
job's config travels pickled, masked too; its real strings travel in the job's environment
(``hydra_plugins.hepsweep_sweeper._submitit_jobs``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Iterable

MASK = "***"

# scheme://user:password@  (the password may hold '@' or ':', not '/', whitespace or quotes)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<secret>[^\s/'\"]+)(?=@)")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|secret|sslpassword)=)(?P<secret>[^&;\s'\"]+)",
    re.IGNORECASE,
)


def mask(text: str) -> str:
    """``text`` with every URL password and secret query value replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, text)


def mask_data(value: Any) -> Any:
    """A copy of ``value`` (nested dicts, lists, strings) with every string masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: mask_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_data(item) for item in value)
    return value


def has_secret(text: str) -> bool:
    return mask(text) != text


def restore(masked: str | None, candidates: Iterable[str | None]) -> str | None:
    """The candidate whose masked form is ``masked`` (the real URL a job finds in its own
    config), else ``masked`` itself."""
    if masked is None or MASK not in masked:
        return masked
    for candidate in candidates:
        if candidate and mask(candidate) == masked:
            return candidate
    return masked


def scrub_files(paths: Iterable[Path]) -> None:
    """Rewrite each existing text file with its secrets masked (e.g. Hydra's ``.hydra/*.yaml``,
    which hold the whole config, storage and tracking URLs included)."""
    for path in paths:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        masked = mask(text)
        if masked != text:
            path.write_text(masked)


def scrub_hydra_files(job_dir: str | Path) -> None:
    """Mask the config files Hydra saved for a job (``.hydra/*.yaml``) or a multirun."""
    folder = Path(job_dir)
    scrub_files([*sorted((folder / ".hydra").glob("*.yaml")), folder / "multirun.yaml"])


def rewrite_log_records(name: str, rewrite: Callable[[str], str]) -> None:
    """Pass the message of every log record this process creates through ``rewrite``, whichever
    logger or handler (Hydra's logging set-up per job replaces handlers, not the record
    factory). Installed once per ``name``, however often it is asked for."""
    factory = logging.getLogRecordFactory()
    installed: tuple[str, ...] = getattr(factory, "rewrites", ())
    if name in installed:
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's to report, not ours
            return record
        rewritten = rewrite(message)
        if rewritten != message:
            record.msg, record.args = rewritten, None
        return record

    make.rewrites = (*installed, name)  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


def mask_logs() -> None:
    """Mask secrets in every log record this process creates (Hydra's launch lines, MLflow's
    warnings, job log files)."""
    rewrite_log_records("mask secrets", mask)
