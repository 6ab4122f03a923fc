"""hepsweep's worker processes stop when their sweeper is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

SWEEPER = r"""
import sys, time
from hepsweep.sweep.workers import WorkerPool

def train_for_a_long_time(path):
    import os
    open(path, "w").write(str(os.getpid()))
    time.sleep(600)

if __name__ == "__main__":
    pool = WorkerPool(1)
    pool.start()
    pool.run(train_for_a_long_time, sys.argv[1])
"""


def test_a_worker_stops_when_its_sweeper_is_killed(tmp_path: Path) -> None:
    """kill -9 of the sweeper: its worker, mid-job, notices within seconds and ends (no orphan
    keeps training for a study that can no longer record it)."""
    script = tmp_path / "sweeper.py"
    script.write_text(SWEEPER)
    pid_file = tmp_path / "worker.pid"
    sweeper = subprocess.Popen([sys.executable, str(script), str(pid_file)], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = psutil.Process(int(pid_file.read_text()))
        assert worker.is_running()
        sweeper.send_signal(signal.SIGKILL)
        sweeper.wait(timeout=30)
        worker.wait(timeout=30)  # raises psutil.TimeoutExpired if the orphan went on
    finally:
        if sweeper.poll() is None:
            sweeper.kill()
