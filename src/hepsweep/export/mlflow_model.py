"""A trained run as an MLflow *logged model* on its MLflow run: the model that takes raw events
(:func:`~hepsweep.export.serving.serving_model`) in MLflow's TensorFlow flavour, with a
signature and an input example, so that ``mlflow.pyfunc.load_model(uri).predict(df)`` takes a
pandas DataFrame of raw feature columns, by name (an array of raw pixels for images), and
answers one probability per class. MLflow 3's Model Registry registers logged models only; see ``hepsweep.sweep.registry``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from hepsweep.tracking import store

if TYPE_CHECKING:
    from hepsweep.export.serving import TrainedRun

ARTIFACT_NAME = "model"
EXAMPLE_EVENTS = 5


@dataclass
class LoggedModel:
    """A logged model: its id and its ``models:/<id>`` URI."""

    model_id: str
    uri: str
    seconds: float  # what logging it cost


def by_name(names: list[str] | None) -> bool:
    """Whether the MLflow model can take its columns by name: Keras names every input, and
    refuses names with ``/`` (a feature expression such as ``a/b``)."""
    return bool(names) and len(set(names)) == len(names) and not any("/" in n for n in names)  # type: ignore[union-attr]


def mlflow_ready(run: TrainedRun) -> Any:
    """The model MLflow logs: for named feature columns, one input per column, so that a
    DataFrame is read by column name (any order; a missing column is refused); else the
    serving model, which reads a tensor (images, or columns by position)."""
    import keras  # heavy: TensorFlow

    from hepsweep.export.serving import serving_model  # heavy: TensorFlow

    serving = serving_model(run.network, run.preprocessing)
    names = run.preprocessing.features
    if not by_name(names):
        return serving
    assert names is not None
    columns = [keras.Input(shape=(1,), dtype="float32", name=name) for name in names]
    return keras.Model(columns, serving(keras.layers.Concatenate(name="columns")(columns)), name=serving.name)


def signature_and_example(run: TrainedRun, raw: np.ndarray) -> tuple[Any, Any]:
    """MLflow's Keras and TensorFlow flavours take tensors only: one (-1, 1) tensor per named
    column, else one tensor of events; and a few raw events (a DataFrame for feature vectors)."""
    from mlflow.models import ModelSignature  # heavy: MLflow
    from mlflow.types import Schema, TensorSpec  # heavy: MLflow

    names = run.preprocessing.features
    outputs = Schema([TensorSpec(np.dtype(np.float64), (-1, len(run.class_names)))])
    if by_name(names):
        assert names is not None
        inputs = Schema([TensorSpec(np.dtype(np.float64), (-1, 1), name) for name in names])
    else:
        inputs = Schema([TensorSpec(np.dtype(np.float64), (-1, *run.input_shape))])
    example_events = np.asarray(raw[:EXAMPLE_EVENTS], np.float64)
    example: Any = pd.DataFrame(example_events, columns=names) if names else example_events
    return ModelSignature(inputs=inputs, outputs=outputs), example


@contextlib.contextmanager
def _on_run(tracking_uri: str, run_id: str) -> Iterator[None]:
    """MLflow's fluent API pointed at ``run_id`` of ``tracking_uri``; the run keeps its status."""
    import mlflow  # heavy: MLflow

    client = store.client(tracking_uri)
    status = client.get_run(run_id).info.status
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):
            yield
    finally:
        client.update_run(run_id, status=status)  # start_run/end_run would leave it FINISHED
        mlflow.set_tracking_uri(previous)


def log_model(run: TrainedRun, raw: np.ndarray, tracking_uri: str, run_id: str, tags: dict[str, str] | None = None) -> LoggedModel:
    """Log ``run`` (with its preprocessing) as a logged model of MLflow run ``run_id``;
    ``raw`` holds a few raw events for the input example."""
    import keras  # heavy: TensorFlow
    import mlflow.tensorflow  # heavy: MLflow's TensorFlow flavour (its Keras one cannot save an input example)
    import tensorflow as tf  # heavy: its version, for the model's requirements

    started = time.perf_counter()
    signature, example = signature_and_example(run, raw)
    model = mlflow_ready(run)
    quiet = keras.config.is_interactive_logging_enabled()
    if quiet:  # MLflow predicts on the input example: no progress bar on the sweep's console
        keras.config.disable_interactive_logging()
    # nor the bar Keras then sends to absl's logger, nor TensorFlow's retracing notes (each logged model is new)
    quieted = [logging.getLogger(name) for name in ("absl", "tensorflow")]
    levels = [logger.level for logger in quieted]
    for logger in quieted:
        logger.setLevel(logging.ERROR)
    try:
        with _on_run(tracking_uri, run_id):
            info = mlflow.tensorflow.log_model(
                model,
                name=ARTIFACT_NAME,
                signature=signature,
                input_example=example,
                # named outright: inferring them loads the model again in a subprocess (seconds)
                pip_requirements=[f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}", "pandas"],
                tags=tags,
                metadata={"features": run.preprocessing.features, "class_names": run.class_names,
                          "signal_class": run.preprocessing.signal_class},
            )
    finally:
        for logger, level in zip(quieted, levels):
            logger.setLevel(level)
        if quiet:
            keras.config.enable_interactive_logging()
    return LoggedModel(str(info.model_id), f"models:/{info.model_id}", time.perf_counter() - started)


def logged_models(tracking_uri: str, run_id: str) -> list[Any]:
    """MLflow's logged models of run ``run_id`` that hepsweep logged, newest first."""
    client = store.client(tracking_uri)
    experiment = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models(
        experiment_ids=[experiment], filter_string=f"source_run_id = '{run_id}' AND name = '{ARTIFACT_NAME}'"
    )
    return sorted(found, key=lambda m: m.creation_timestamp, reverse=True)
