"""Heartbeats of in-flight trials, recorded by the sweeper so that a dead sweeper's trials go stale."""

from __future__ import annotations

import logging
import threading
from typing import Any

from datetime import datetime, timedelta

import optuna

from hepsweep.sweep._optuna_private import running_without_heartbeat

log = logging.getLogger(__name__)


class Heartbeat:
    """Records a heartbeat for every in-flight trial so that a dead sweeper's trials go stale."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: int) -> None:
        self.storage, self.interval = storage, interval
        self.trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hepsweep-heartbeat", daemon=True)

    def _beat(self, trial_id: int) -> None:
        if hasattr(self.storage, "record_heartbeat"):
            try:
                self.storage.record_heartbeat(trial_id)
            except Exception as exc:
                log.debug("heartbeat of trial %d failed: %s", trial_id, exc)

    def add(self, trial_id: int) -> None:
        with self._lock:
            self.trial_ids.add(trial_id)
        self._beat(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self.trial_ids.discard(trial_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                self._beat(trial_id)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)


def beat_orphans(storage: optuna.storages.BaseStorage, study_name: str, grace_period: float) -> None:
    """Give one heartbeat to every RUNNING trial that has none and started more than
    ``grace_period`` seconds ago: its sweeper died between asking for it and its first heartbeat.
    Optuna never finds such a trial stale; with this beat it does, after the grace period, and
    the trial is failed and retried like any dead one."""
    cutoff = datetime.now() - timedelta(seconds=grace_period)
    try:
        for trial_id in running_without_heartbeat(storage, study_name, cutoff):
            storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    except Exception as exc:  # a safety net: never the study's end
        log.debug("looking for trials without heartbeats failed: %s", exc)
