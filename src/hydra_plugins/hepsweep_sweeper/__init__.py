"""Hydra plugins of hepsweep: the ``hepsweep`` sweeper (Optuna with pruning) and the config
source that serves the ready-made studies as the ``sweep`` config group."""

__version__ = "0.1.0"
