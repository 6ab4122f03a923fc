"""Shared fixtures: hepsweep's real config composed for tiny, fast runs under a temporary folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest
from omegaconf import DictConfig, open_dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


def _nvml_counts_a_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU: the driver's NVML library starts and counts one.

    Asked of pynvml directly (not through hepsweep), so tests of what hepsweep records about the
    GPU hold on a laptop, a CPU runner and a GPU node alike.
    """
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no pynvml, no driver, no device
        return False
    try:
        return int(pynvml.nvmlDeviceGetCount()) > 0
    except Exception:
        return False
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


GPU_PRESENT = _nvml_counts_a_gpu()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` check the GPU paths for real; on a machine without one they are skipped."""
    if GPU_PRESENT:
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (NVML counts none here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Generated datasets are cached in a folder of this test session, not in ~/.cache, and the
    study index is kept in one too, not in ~/.local/share."""
    os.environ["HEPSWEEP_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data_home"))


@pytest.fixture
def compose(tmp_path: Path) -> Callable[..., DictConfig]:
    """``compose("dataset=ntd_pits", "model=cnn")``: the real config, shrunk for tests.

    Outputs go below ``tmp_path``, tracking is off, TensorBoard off, two epochs on few events.
    """
    from hepsweep.app import compose_config

    def make(*overrides: str) -> DictConfig:
        defaults = [
            "tracking=off",
            "train.epochs=2",
            "train.batch_size=64",
            "train.tensorboard=false",
            "train.progress=false",
            "device=cpu",
        ]
        cfg = compose_config([*defaults, *overrides])
        with open_dict(cfg):
            cfg.output_root = str(tmp_path / "outputs")
            if not any(o.startswith("dataset.n_events") for o in overrides) and not cfg.dataset.path:
                cfg.dataset.n_events = min(int(cfg.dataset.n_events), 1200)
        return cfg

    return make


def stamp_the_schema_version_again(url: str) -> None:
    """Insert the database's schema version row a second time: the unique-key failure that the
    loser of a race to create a fresh store meets (a real ``IntegrityError``, raised here)."""
    import sqlalchemy  # the test's own view of the store's tables

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            version = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar_one()
            connection.execute(sqlalchemy.text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})
    finally:
        engine.dispose()
    raise AssertionError("the duplicate version row was accepted")


def run_hepsweep(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    """Run the ``hepsweep`` command in a subprocess, as a user would."""
    import subprocess

    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hepsweep", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
