"""Experiment tracking: MLflow runs, utilisation sampling, and the stores behind them."""

from hepsweep.tracking.store import create_run, default_tracking_uri, end_run, experiment_id
from hepsweep.tracking.tracker import MlflowTracker, NullTracker, Tracker, flatten
from hepsweep.tracking.utilisation import UtilisationSampler, UtilisationSummary

__all__ = [
    "MlflowTracker",
    "NullTracker",
    "Tracker",
    "UtilisationSampler",
    "UtilisationSummary",
    "create_run",
    "default_tracking_uri",
    "end_run",
    "experiment_id",
    "flatten",
]
