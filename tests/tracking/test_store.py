"""MLflow stores that several sweepers open at the same instant."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest


def _open_and_log(uri: str, barrier: "multiprocessing.synchronize.Barrier", name: str) -> None:
    from hepsweep.tracking import store

    barrier.wait(timeout=120)
    run_id = store.create_run(uri, "together", name)
    store.end_run(uri, run_id)


@pytest.mark.slow
def test_sweepers_starting_together_on_a_fresh_mlflow_store_all_track(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_open_and_log, args=(uri, barrier, f"sweeper-{i}")) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("together").experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"sweeper-{i}" for i in range(4)]
