"""Records for an MLflow run that could not be sent, kept next to the run's outputs.

A trial's job writes its params, per-epoch metrics, tags and artifact uploads to MLflow as it
trains. While MLflow is away (or before the sweeper could create the trial's run), each record
goes instead to ``mlflow_spool.jsonl`` in the trial's folder, one JSON object per line, with
the time it was made. The sweeper replays the spool into the trial's run once MLflow answers
again (:meth:`hepsweep.sweep.study_tracking.StudyTracking.backfill`), so the run ends up as if
MLflow had never gone away.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from hepsweep.tracking.store import limit

SPOOL_NAME = "mlflow_spool.jsonl"
BATCH = 100  # MLflow's limit of params per log_batch call


def append(spool: Path, record: Mapping[str, Any]) -> None:
    """Add one record to the spool file."""
    spool.parent.mkdir(parents=True, exist_ok=True)
    with open(spool, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def send(client: Any, run_id: str, record: Mapping[str, Any]) -> None:
    """Send one record (``kind``: params, metrics, tags, artifacts or text) to run ``run_id``;
    values longer than MLflow takes are cut to its limits here, where MLflow is imported."""
    from mlflow.entities import Metric, Param, RunTag  # heavy: MLflow, imported when something is sent

    kind = record["kind"]
    if kind == "params":
        items = [Param(k, v[: limit("param")]) for k, v in record["values"].items()]
        for i in range(0, len(items), BATCH):
            client.log_batch(run_id, params=items[i : i + BATCH])
    elif kind == "metrics":
        metrics = [Metric(k, v, record["timestamp"], record["step"]) for k, v in record["values"].items()]
        for i in range(0, len(metrics), BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + BATCH])
    elif kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v[: limit("tag")]) for k, v in record["values"].items()])
    elif kind == "artifacts":
        client.log_artifacts(run_id, record["folder"], record.get("artifact_path"))
    elif kind == "text":
        client.log_text(run_id, record["text"], record["name"])
    else:
        raise ValueError(f"unknown spool record kind {kind!r}")


def replay(client: Any, run_id: str, spool: Path) -> int:
    """Send every record of ``spool`` to run ``run_id``, in order, then retire the file (renamed
    ``*.sent``). Returns how many records were sent; 0 without a spool."""
    if not spool.is_file():
        return 0
    lines = [line for line in spool.read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in lines:
        send(client, run_id, json.loads(line))
    spool.rename(spool.with_name(spool.name + ".sent"))
    return len(lines)
