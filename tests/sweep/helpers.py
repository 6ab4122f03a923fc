"""A launcher stand-in that runs a Python objective as the 'job', through the real trial link."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from hepsweep.sweep.outcome import JobOutcome, JobRequest
from hepsweep.sweep.storage import open_trial
from hepsweep.sweep.trial_link import TrialLink

Objective = Callable[[dict[str, Any], Any], Any]


class PythonLauncher:
    """Calls ``objective(params, trial)`` where ``trial`` is rebuilt from the storage like a job does."""

    def __init__(
        self, objective: Objective, delay: Callable[[dict[str, Any]], float] | None = None, pruner: Any = None
    ) -> None:
        """``pruner`` stands for the job's own ``hydra.sweeper.pruner`` (jobs never read it from the store)."""
        self.objective, self.delay, self.pruner = objective, delay, pruner
        self.calls: list[tuple[int, dict[str, Any]]] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def __call__(self, job: JobRequest) -> JobOutcome:
        params = dict(job.params)
        with self._lock:
            self.calls.append((job.index, params))
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.delay is not None:
                time.sleep(self.delay(params))
            link = TrialLink.decode(job.link.encode())  # as the job receives it
            assert link.storage is not None and link.trial_id is not None
            trial = open_trial(link.storage, link.study or "", link.trial_id, self.pruner)
            return JobOutcome(value=self.objective(params, trial))
        except BaseException as exc:  # noqa: BLE001 - a job's exception is its outcome
            return JobOutcome(error=exc)
        finally:
            with self._lock:
                self.running -= 1


def age_heartbeats(db: Path, seconds: int = 60) -> None:
    """Move every recorded heartbeat ``seconds`` into the past: staleness without waiting on the clock."""
    import sqlite3  # the test's own view of Optuna's table

    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, ?)", (f"-{seconds} seconds",))
