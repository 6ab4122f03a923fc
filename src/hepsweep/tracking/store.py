"""MLflow tracking stores: the embedded default (SQLite + a local artifact folder) or any URI."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

from hepsweep.config import check_plain_name
from hepsweep.locks import open_database

log = logging.getLogger(__name__)

RUNS_EXPERIMENT = "hepsweep-runs"


def default_tracking_uri(output_root: str | Path) -> str:
    """``sqlite:///<output_root>/mlflow.db`` (absolute), the store that needs no server."""
    root = Path(output_root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


# MLflow's UI opens an experiment of this kind on its runs table (model training), not on the
# GenAI views it picks for experiments of unknown kind
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """For a local SQLite store, a folder next to the database; servers choose their own."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    check_plain_name(experiment, "tracking.experiment")  # the name becomes a folder
    db = Path(tracking_uri[len("sqlite:///") :])
    return (db.parent / "mlartifacts" / experiment).resolve().as_uri()


@functools.lru_cache(maxsize=8)
def client(tracking_uri: str) -> Any:
    """One ``MlflowClient`` per tracking URI and process (creating one costs tens of ms)."""
    from mlflow.tracking import MlflowClient  # heavy: MLflow (seconds), imported by the first process that logs

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    # MLflow prints each ended run's address, credentials included; hepsweep says where runs went
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # MLflow logs a database error with its traceback and raises it; hepsweep says it in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    return open_database(tracking_uri, lambda: MlflowClient(tracking_uri=tracking_uri))  # creates a fresh store


def existing_experiment(tracking_uri: str, name: str) -> tuple[str | None, list[str]]:
    """The id of experiment ``name`` (None when it does not exist) and the names the store holds."""
    mlflow_client = client(tracking_uri)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id), []
    return None, sorted(e.name for e in mlflow_client.search_experiments())


def experiment_id(tracking_uri: str, name: str) -> str:
    """The id of experiment ``name``, created (with a local artifact folder) if needed."""
    mlflow_client = client(tracking_uri)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    try:
        return str(
            mlflow_client.create_experiment(
                name, artifact_location=artifact_location(tracking_uri, name), tags=EXPERIMENT_TAGS
            )
        )
    except Exception:  # created meanwhile by another process
        existing = mlflow_client.get_experiment_by_name(name)
        if existing is None:
            raise
        return str(existing.experiment_id)


def create_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Start a run (nested under ``parent_run_id`` when given) and return its id."""
    all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client(tracking_uri).create_run(experiment_id(tracking_uri, experiment), run_name=run_name, tags=all_tags)
    return str(run.info.run_id)


def end_run(tracking_uri: str, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run FINISHED, FAILED or KILLED."""
    client(tracking_uri).set_terminated(run_id, status)


# MLflow's web UI (3.x) opens a runs table saved in the experiment tag
# ``mlflow.sharedViewState.<key>`` when its address carries ``?viewStateShareKey=<key>``.
SHARED_VIEW_KEY = "hepsweep"
SHARED_VIEW_TAG = f"mlflow.sharedViewState.{SHARED_VIEW_KEY}"
DESCRIPTION_TAG = "mlflow.note.content"  # an experiment's (or run's) description in the UI


def runs_view_path(experiment_id: str) -> str:
    """The address, below the server's root, of an experiment's runs table in MLflow's web UI,
    opened on the view :func:`share_runs_view` saved (MLflow's default table without one)."""
    return f"/#/experiments/{experiment_id}/runs?viewStateShareKey={SHARED_VIEW_KEY}&compareRunsMode=TABLE"


def share_runs_view(
    tracking_uri: str,
    experiment: str,
    objective: str,
    minimize: bool,
    columns: Mapping[str, list[str]],
    description: str | None = None,
) -> None:
    """Save the runs table a study opens on: its runs ranked by the metric ``objective`` (best
    first), showing it and ``columns`` (``{"metrics": [...], "tags": [...], "params": [...]}``);
    and the experiment's description."""
    from mlflow.utils.validation import MAX_EXPERIMENT_TAG_VAL_LENGTH  # heavy: MLflow

    def column(kind: str, name: str) -> str:
        return f"{kind}.`{name}`"

    shown = [column("metrics", objective)]
    shown += [column(kind, name) for kind, names in columns.items() for name in names if column(kind, name) not in shown]
    state = {"orderByKey": column("metrics", objective), "orderByAsc": minimize, "selectedColumns": shown}
    view = {"name": f"hepsweep: trials by {objective}", "createdAt": int(time.time() * 1000), "state": json.dumps(state)}
    mlflow_client = client(tracking_uri)
    experiment_key = experiment_id(tracking_uri, experiment)
    mlflow_client.set_experiment_tag(experiment_key, SHARED_VIEW_TAG, json.dumps(view))
    if description:
        mlflow_client.set_experiment_tag(experiment_key, DESCRIPTION_TAG, description[:MAX_EXPERIMENT_TAG_VAL_LENGTH])


def limit(kind: str) -> int:
    """MLflow's longest value for a run's ``param`` or ``tag`` (longer ones are cut to it)."""
    from mlflow.utils import validation  # heavy: MLflow, imported when something is logged

    return {"param": validation.MAX_PARAM_VAL_LENGTH, "tag": validation.MAX_TAG_VAL_LENGTH}[kind]
