"""One background thread for the outputs that do not decide the next trial: MLflow logging,
PNG plots and artifact uploads are written, in order, while the next trial trains.

A trial's value, summary and checkpoint are written before the trial returns; the rest is
deferred here. :func:`finish_background_work` waits for it; it runs before a worker process
exits, after a single run, and through ``atexit`` before any process that deferred work exits.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)

_queue: "queue.Queue[Callable[[], None] | None]" = queue.Queue()
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _drain() -> None:
    while True:
        task = _queue.get()
        try:
            if task is None:
                return
            task()
        except Exception as exc:  # an output that could not be written never fails a trial
            log.warning("background output failed: %s", exc)
        finally:
            _queue.task_done()


def defer(task: Callable[[], None]) -> None:
    """Run ``task`` on the background thread, after the tasks deferred before it."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_drain, name="hepsweep-outputs", daemon=True)
            _thread.start()
            atexit.register(finish_background_work)
    _queue.put(task)


def finish_background_work() -> None:
    """Wait until every deferred output is written."""
    if _thread is not None and _thread.is_alive():
        _queue.join()
