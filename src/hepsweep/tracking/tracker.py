"""Where a run's params, metrics, tags and artifacts go: MLflow, or nowhere.

:class:`MlflowTracker` logs to one existing MLflow run through ``MlflowClient`` (no global
active-run state, so threads and processes can share a tracking store). Like MLflow's own Keras
callback it never lets a logging failure end the training: the first failure is reported in one
clear line and logging stops for that run, so a tracking server that is down costs no time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping, Protocol

from hepsweep.errors import first_line
from hepsweep.redaction import mask
from hepsweep.tracking import spool
from hepsweep.tracking.background import defer
from hepsweep.tracking.store import client

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def set_tags(self, tags: Mapping[str, Any]) -> None: ...

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None: ...

    def log_text(self, text: str, name: str) -> None: ...


class NullTracker:
    """Tracking switched off: every call does nothing."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        pass

    def log_text(self, text: str, name: str) -> None:
        pass


class MlflowTracker:
    """Logs to the MLflow run ``run_id`` at ``tracking_uri``; failures are reported, not raised.

    With ``background=True`` every call returns at once and is sent, in order, by the background
    thread of :mod:`hepsweep.tracking.background` (a sweep's trials: the next trial trains while
    this one's records are written). With a ``spool`` file, what cannot be sent (MLflow is away,
    or there is no run yet: ``run_id=None``) is kept there for the sweeper to replay later
    (:mod:`hepsweep.tracking.spool`).
    """

    def __init__(
        self, tracking_uri: str, run_id: str | None, background: bool = False, spool: Path | None = None
    ) -> None:
        self.tracking_uri, self.run_id = tracking_uri, run_id
        self.failed: str | None = None if run_id is not None else "no MLflow run yet"
        self._spool_failed = False
        self.background = background
        self.spool = spool

    def _safely(self, what: str, record: dict[str, Any]) -> None:
        if self.background:
            defer(lambda: self._send(what, record))
        else:
            self._send(what, record)

    def _send(self, what: str, record: dict[str, Any]) -> None:
        if self.failed is None:
            try:
                # the client (MLflow's import, seconds in a fresh process) is made by the first
                # record sent: on the background thread for a sweep's trial, while it trains
                spool.send(client(self.tracking_uri), self.run_id or "", record)
                return
            except Exception as exc:  # MLflow raises many types: server down, DB locked, bad value
                self.failed = first_line(exc)
                later = f"its records are kept in {self.spool} and sent when MLflow answers" if self.spool else "the run goes on without tracking"
                log.warning(
                    "MLflow logging failed while %s (%s); %s. Check that the tracking store %s is reachable (tracking.uri).",
                    what,
                    mask(self.failed),
                    later,
                    mask(self.tracking_uri),
                )
        if self.spool is not None:
            try:
                spool.append(self.spool, record)
            except OSError as exc:
                if not self._spool_failed:  # once: a full disk would say it for every record
                    self._spool_failed = True
                    log.warning("could not keep MLflow records in %s (%s); later ones are dropped too", self.spool, exc)

    def log_params(self, params: Mapping[str, Any]) -> None:
        values = {str(k): mask(str(v)) for k, v in params.items()}
        self._safely("logging params", {"kind": "params", "values": values})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {str(k): float(v) for k, v in metrics.items() if v is not None}
        record = {"kind": "metrics", "values": values, "step": step or 0, "timestamp": int(time.time() * 1000)}
        self._safely("logging metrics", record)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        values = {str(k): mask(str(v)) for k, v in tags.items()}
        self._safely("setting tags", {"kind": "tags", "values": values})

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        record = {"kind": "artifacts", "folder": str(folder), "artifact_path": artifact_path}
        self._safely(f"uploading {folder}", record)

    def log_text(self, text: str, name: str) -> None:
        self._safely(f"uploading {name}", {"kind": "text", "text": mask(text), "name": name})


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"units": 64}}`` -> ``{"model.units": 64}``; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
