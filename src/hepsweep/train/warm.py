"""Importing the heavy libraries once, quietly: before a worker's first trial (see
``hepsweep.sweep.workers``) and before a single run."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Keep what native code writes to file descriptor 2 off the terminal (TensorFlow's C++
    start-up lines: absl's "before InitializeLog" warning, the CUDA stub note and the ``cuInit``
    error of a GPU-less host), unless ``TF_CPP_MIN_LOG_LEVEL`` asks for TensorFlow's messages.
    Python exceptions raised inside still reach the user: they are printed after."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") != "3":
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import TensorFlow and Keras (heavy, once per process), without their native chatter."""
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") == "3":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with native_stderr_quiet():
        # heavy: TensorFlow and Keras (seconds), imported here once per process
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA's probe prints on hosts without a GPU


def warm_up() -> None:
    """Import the heavy libraries a trial needs before it can train (TensorFlow, Keras,
    scikit-learn, the training code). MLflow is left to the trial's background thread, which
    imports it while the trial trains."""
    import_tensorflow()  # the sweeper passed TF_CPP_MIN_LOG_LEVEL down
    # heavy: what the first trial would otherwise import (scikit-learn, the training code)
    import sklearn.metrics  # noqa: F401
    import hepsweep.train.training  # noqa: F401
