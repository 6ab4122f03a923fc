"""Warm, recycled worker processes that run a study's trials.

Why not train in the sweeper's own process: TensorFlow never hands back the memory of a model
it has traced (about 8 MiB per new architecture, however the model is dropped), so a long study
in one process grows without bound, and a crash in native code (an out-of-memory kill, a driver
fault) would take the study down with the trial. A worker process instead

- is started as soon as the sweeper is set up, and imports TensorFlow, Keras and MLflow while
  the sweeper opens the study, so start-up costs are paid side by side, not one after another;
- stays alive from trial to trial, so data, compiled models and traced functions are reused;
- is replaced by a fresh one when its memory has grown by ``recycle_mb`` since its first trial,
  or when it dies (the trial it was running fails with a one-line reason, the study goes on).

The pool knows nothing of Hydra or Optuna: it runs callables that cloudpickle can send (Hydra's
job state holds closures, as it does for the joblib launcher).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from queue import Empty, SimpleQueue
from typing import Any, Callable

import cloudpickle
import psutil

from hepsweep.errors import first_line

log = logging.getLogger(__name__)

STOP = b"stop"
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


class WorkerDiedError(RuntimeError):
    """The worker process ended while it ran a job (killed, out of memory, native crash)."""


@dataclass
class Outcome:
    """What a worker sends back for one job: its value or its exception, and its memory."""

    value: Any = None
    error: BaseException | None = None
    rss_mb: float = 0.0


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc, else psutil)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float(psutil.Process().memory_info().rss) / 2**20


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError with its first line."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(first_line(error))


PARENT_CHECK_S = 1.0


def _stop_with_parent(parent: int) -> None:
    """End this worker as soon as its sweeper is gone (kill -9, a lost node): the worker is then
    re-parented, and nothing should go on training for a study whose sweeper cannot record it.
    The rerun of the command retries the trial (from its last saved epoch)."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(1)


def _serve(connection: Connection, warm_up: Callable[[], None] | None, threads: int | None, context: bytes | None) -> None:
    """A worker's life: set thread counts, warm up, read the jobs' shared context once, then run
    jobs (``function(context, *args)``) until told to stop, or until its sweeper is gone."""
    threading.Thread(target=_stop_with_parent, args=(os.getppid(),), name="hepsweep-parent-watch", daemon=True).start()
    if threads:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
    if warm_up is not None:
        try:
            warm_up()
        except Exception as exc:  # a job will meet the same problem and report it
            log.warning("worker warm-up failed: %s", exc)
    shared = pickle.loads(context) if context is not None else None
    flush = None
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, KeyboardInterrupt):
            break
        if message == STOP:
            break
        function, args, after = pickle.loads(message)
        flush = after or flush
        try:
            outcome = Outcome(value=function(shared, *args) if context is not None else function(*args))
        except BaseException as exc:  # noqa: BLE001 - every job ending is reported, not raised
            outcome = Outcome(error=_portable(exc))
        outcome.rss_mb = resident_mb()
        try:
            connection.send(outcome)
        except Exception as exc:  # the value does not pickle
            connection.send(Outcome(error=_portable(exc), rss_mb=outcome.rss_mb))
    if flush is not None:
        flush()
    _exit_now()


def _exit_now() -> None:
    """End the worker without the interpreter's teardown: its work is written, and unloading
    TensorFlow's native libraries cost the sweeper ~2 s of waiting at the end of every study."""
    logging.shutdown()  # the job's log files
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


class Worker:
    """One spawned process and the pipe to it."""

    def __init__(self, mp: Any, warm_up: Callable[[], None] | None, threads: int | None, context: bytes | None) -> None:
        self.connection, child = mp.Pipe()
        self.process = mp.Process(
            target=_serve, args=(child, warm_up, threads, context), name="hepsweep-worker", daemon=True
        )
        self.process.start()
        child.close()
        self.first_rss_mb: float | None = None
        self.rss_mb = 0.0
        self.jobs = 0
        self.stopping = False

    def run(self, function: Callable[..., Any], args: tuple[Any, ...], after: Callable[[], None] | None) -> Outcome:
        message = cloudpickle.dumps((function, args, after))
        try:
            self.connection.send_bytes(message)
            outcome: Outcome = self.connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(timeout=5)
            code = self.process.exitcode
            raise WorkerDiedError(
                f"the worker process running this trial died (exit code {code}); "
                "if it ran out of memory, lower train.batch_size or the model size"
            ) from None
        self.jobs += 1
        self.rss_mb = outcome.rss_mb
        if self.first_rss_mb is None:
            self.first_rss_mb = outcome.rss_mb
        return outcome

    @property
    def growth_mb(self) -> float:
        return 0.0 if self.first_rss_mb is None else self.rss_mb - self.first_rss_mb

    def ask_to_stop(self) -> None:
        """Tell the worker to finish its background work and exit; do not wait."""
        if not self.stopping:
            self.stopping = True
            try:
                self.connection.send_bytes(STOP)
            except (OSError, BrokenPipeError):
                pass

    def stop(self, timeout: float = 60.0) -> None:
        self.ask_to_stop()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.connection.close()


class WorkerPool:
    """Up to ``size`` warm workers; :meth:`run` hands a job to a free one (thread-safe).

    Args:
        size: Workers, one per trial that may run at once.
        warm_up: Runs once in each new worker before its first job (import heavy libraries).
        threads: CPU threads for each worker's TensorFlow (None: TensorFlow's default).
        recycle_mb: Replace a worker once its memory grew this much since its first job.
        context: What every job needs and never changes (sent once to each worker, and passed
            to each job function as its first argument).
    """

    def __init__(
        self,
        size: int,
        warm_up: Callable[[], None] | None = None,
        threads: int | None = None,
        recycle_mb: float = 1024.0,
        context: Any = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, but got {size=}.")
        self.size, self.warm_up, self.threads, self.recycle_mb = size, warm_up, threads, recycle_mb
        self._mp = multiprocessing.get_context("spawn")
        self._shared: bytes | None = None
        if context is not None:
            self._shared = cloudpickle.dumps(context)
        self._idle: SimpleQueue[Worker] = SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._all: list[Worker] = []
        self.recycled = 0

    def _spawn(self) -> Worker:
        worker = Worker(self._mp, self.warm_up, self.threads, self._shared)
        with self._lock:
            self._all.append(worker)
        return worker

    def start(self) -> None:
        """Start every worker now, so that they warm up while the caller prepares the jobs."""
        with self._lock:
            missing = self.size - self._started
            self._started = self.size
        for _ in range(missing):
            self._idle.put(self._spawn())

    def _take(self) -> Worker:
        with self._lock:
            grow = self._started < self.size
            if grow:
                self._started += 1
        if grow:
            try:
                return self._idle.get_nowait()
            except Empty:
                return self._spawn()
        return self._idle.get()

    def _retire(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        threading.Thread(target=worker.stop, name="hepsweep-worker-stop", daemon=True).start()

    def run(self, function: Callable[..., Any], *args: Any, after: Callable[[], None] | None = None) -> Any:
        """Run ``function(*args)`` in a worker and return its value (or raise its exception).

        ``after`` runs in the worker before it exits (e.g. to flush background uploads).
        """
        worker = self._take()
        try:
            outcome = worker.run(function, args, after)
        except WorkerDiedError:
            self._retire(worker)
            self._idle.put(self._spawn())
            raise
        if worker.growth_mb > self.recycle_mb:
            log.info("worker grew by %.0f MiB over %d trials: replaced by a fresh one", worker.growth_mb, worker.jobs)
            self.recycled += 1
            self._retire(worker)
            worker = self._spawn()
        self._idle.put(worker)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    def release(self) -> None:
        """No job will come any more: let every worker finish its background work and exit
        while the caller goes on (:meth:`close` waits for them)."""
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.ask_to_stop()

    def close(self) -> None:
        """Stop every worker (each finishes its background work first)."""
        with self._lock:
            workers, self._all = list(self._all), []
        for worker in workers:
            worker.stop()
