"""A full disk and a read-only cache, for real where the machine allows it (a small tmpfs, which
needs root), and a full disk through a fake ``OSError(ENOSPC)`` at Hydra's config writing
everywhere: one line, exit 2, and a study that continues once there is space again."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_hepsweep

pytestmark = pytest.mark.e2e

SMALL = ["dataset.n_events=3000", "train.epochs=6", "train.batch_size=64", "train.tensorboard=false"]


def test_a_full_disk_when_a_run_saves_its_config_ends_in_one_line(tmp_path: Path) -> None:
    """Hydra's config saving meets ENOSPC (a write() into an open file: no file name). Run in a
    process of its own: an in-process run would share TensorFlow's loggers with earlier tests."""
    probe = (
        "import errno, sys\n"
        "import hydra.core.utils\n"
        "def full(*args, **kwargs):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "hydra.core.utils._save_config = full\n"
        "from hepsweep.cli import main\n"
        "sys.exit(main(['train.epochs=1', 'tracking=off']))\n"
    )
    env = {**os.environ, "HEPSWEEP_OUTPUT": str(tmp_path / "outputs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert [line for line in result.stderr.splitlines() if line.startswith("hepsweep: error:")] == [
        "hepsweep: error: no space left on a filesystem hepsweep writes to; free some space or write elsewhere "
        "(output_root=..., HEPSWEEP_OUTPUT, HEPSWEEP_CACHE)"
    ]
    assert "Traceback" not in result.stderr


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``folder``; skips the test where mounting is not allowed."""
    folder.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small filesystem needs root (mount -t tmpfs)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_data_cache_ends_in_one_line(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "ro", "1m", read_only=True) as cache:
        result = run_hepsweep("train.epochs=1", "dataset.n_events=500", "tracking=off", cwd=tmp_path, env={"HEPSWEEP_CACHE": str(cache)})
    errors = [line for line in result.stderr.splitlines() if line.startswith("hepsweep: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "Read-only file system" in errors[0] and "HEPSWEEP_CACHE" in errors[0]


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as sink, contextlib.suppress(OSError):
        while True:
            sink.write(b"\0" * (1 << 20))
    return filler


def test_a_disk_that_fills_mid_study_stops_it_in_one_line_and_it_resumes(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", "40m") as disk:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HEPSWEEP_OUTPUT": str(disk / "out"), "HEPSWEEP_CACHE": str(disk / "cache")}
        command = [
            sys.executable, "-m", "hepsweep", "-m", "sweep=quickstart", *SMALL, "hydra.sweeper.n_trials=3",
            "hydra.sweeper.study_name=full", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3",
        ]  # fmt: skip
        sweeper = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        db = disk / "out" / "optuna.db"

        def training() -> bool:
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
                    return connection.execute("SELECT COUNT(*) FROM trial_intermediate_values").fetchone()[0] > 0
            except sqlite3.Error:
                return False

        deadline = time.monotonic() + 300
        while not training() and sweeper.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        filler = _fill(disk)  # trial 0 is training
        output, _ = sweeper.communicate(timeout=300)
        assert sweeper.returncode == 2, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        errors = [line for line in output.splitlines() if line.startswith("hepsweep: error:")]
        assert len(errors) == 1 and "no space left" in errors[0] and "hepsweep resume full" in errors[0], output[-3000:]

        filler.unlink()  # space again
        resumed = run_hepsweep("resume", "full", cwd=tmp_path, env={k: env[k] for k in ("HEPSWEEP_OUTPUT", "HEPSWEEP_CACHE")})
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        study = optuna.load_study(study_name="full", storage=f"sqlite:///{db}")
        states = [t.state for t in study.trials]
        assert states.count(TrialState.COMPLETE) == 3 and TrialState.RUNNING not in states, states
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{disk / 'out' / 'mlflow.db'}")
        runs = client.search_runs([client.get_experiment_by_name("full").experiment_id])
        assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
    shutil.rmtree(tmp_path / "disk", ignore_errors=True)
