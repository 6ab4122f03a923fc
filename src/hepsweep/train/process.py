"""What a long-lived training process needs: warm-up imports, and a queue for the outputs that do
not decide the next trial (plots, artifact uploads), written while the next trial trains.

A trial's value, summary and checkpoint are written before the trial returns; its ROC and
confusion-matrix PNGs and its MLflow artifact upload are deferred to one background thread.
:func:`finish_background_work` waits for them; it runs before a worker process exits and, through
``atexit``, before any process that deferred work exits.
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


def warm_up() -> None:
    """Import the heavy libraries a trial needs (TensorFlow, Keras, MLflow, scikit-learn)."""
    from hepsweep.app import quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401  (heavy: imported here, once per worker, before the first trial)
    import mlflow.tracking  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import hepsweep.train.training  # noqa: F401


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
