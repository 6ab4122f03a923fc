"""What a worker process imports once, before its first trial (see ``hepsweep.sweep.workers``)."""

from __future__ import annotations


def warm_up() -> None:
    """Import the heavy libraries a trial needs (TensorFlow, Keras, MLflow, scikit-learn)."""
    from hepsweep.app import quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401  (heavy: imported here, once per worker, before the first trial)
    import mlflow.tracking  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import hepsweep.train.training  # noqa: F401
