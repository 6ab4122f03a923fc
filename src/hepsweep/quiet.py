"""Quiet consoles: the start-up chatter of the heavy libraries stays off the terminal."""

from __future__ import annotations

import logging
import os


def quiet_libraries() -> None:
    """Keep TensorFlow's start-up chatter and retracing notes and MLflow's INFO lines ("Creating
    initial MLflow database tables") off the console, unless the user's environment asks for
    them (``TF_CPP_MIN_LOG_LEVEL``, ``MLFLOW_LOGGING_LEVEL``): the command line and the Python
    API (``hepsweep.compose``, ``hepsweep.run``) alike."""
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3") == "3":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # MLflow sets its own loggers' level when it is imported, from this variable
    if os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING") == "WARNING":
        logging.getLogger("mlflow").setLevel(logging.WARNING)
