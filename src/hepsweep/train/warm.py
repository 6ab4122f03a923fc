"""What a worker process imports once, before its first trial (see ``hepsweep.sweep.workers``)."""

from __future__ import annotations


def warm_up() -> None:
    """Import the heavy libraries a trial needs (TensorFlow, Keras, MLflow, scikit-learn)."""
    import logging
    import os

    # the sweeper passed TF_CPP_MIN_LOG_LEVEL down; Python's logger is per process
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") == "3":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import keras  # noqa: F401  (heavy: imported here, once per worker, before the first trial)
    import mlflow.tracking  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import hepsweep.train.training  # noqa: F401
