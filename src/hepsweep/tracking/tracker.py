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
from typing import Any, Callable, Mapping, Protocol

from hepsweep.redaction import mask

log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000
BATCH = 100


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
    this one's records are written).
    """

    def __init__(self, tracking_uri: str, run_id: str, background: bool = False) -> None:
        from hepsweep.tracking.store import client

        self.tracking_uri, self.run_id = tracking_uri, run_id
        self.client = client(tracking_uri)
        self.failed: str | None = None
        self.background = background

    def _safely(self, what: str, action: Callable[[], Any]) -> None:
        if self.background:
            from hepsweep.tracking.background import defer

            defer(lambda: self._send(what, action))
        else:
            self._send(what, action)

    def _send(self, what: str, action: Callable[[], Any]) -> None:
        if self.failed is not None:
            return
        try:
            action()
        except Exception as exc:  # MLflow raises many types: server down, DB locked, bad value
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning(
                "MLflow logging failed while %s (%s); the run goes on without tracking. "
                "Check that the tracking store %s is reachable (tracking.uri).",
                what,
                mask(self.failed),
                mask(self.tracking_uri),
            )

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), mask(str(v))[:MAX_PARAM_LENGTH]) for k, v in params.items()]

        def send() -> None:
            for i in range(0, len(items), BATCH):
                self.client.log_batch(self.run_id, params=items[i : i + BATCH])

        self._safely("logging params", send)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step or 0) for k, v in metrics.items() if v is not None]

        def send() -> None:
            for i in range(0, len(items), BATCH):
                self.client.log_batch(self.run_id, metrics=items[i : i + BATCH])

        self._safely("logging metrics", send)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(str(k), mask(str(v))[:MAX_PARAM_LENGTH]) for k, v in tags.items()]
        self._safely("setting tags", lambda: self.client.log_batch(self.run_id, tags=items))

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        self._safely(
            f"uploading {folder}", lambda: self.client.log_artifacts(self.run_id, str(folder), artifact_path)
        )

    def log_text(self, text: str, name: str) -> None:
        self._safely(f"uploading {name}", lambda: self.client.log_text(self.run_id, mask(text), name))


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
