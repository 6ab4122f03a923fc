"""hepsweep: hyperparameter sweeps of TensorFlow/Keras classifiers for particle physics.

Hydra composes each run's config, Optuna proposes trials and prunes them epoch by epoch through
hepsweep's own Hydra sweeper, and MLflow records every trial as a child of its study's run.

Public API (TensorFlow is imported only when a function that trains is called):

- :func:`run` trains and evaluates one model from a composed config.
- :func:`resume` continues a study from its storage.
- :func:`current_trial` gives a Hydra task launched by the hepsweep sweeper its Optuna trial.
- :func:`compose` composes hepsweep's config in Python (for notebooks and tests).
"""

from __future__ import annotations

from typing import Any

from hepsweep.errors import HepsweepError

__version__ = "0.1.0"

__all__ = ["HepsweepError", "__version__", "compose", "current_trial", "resume", "run"]


def run(*args: Any, **kwargs: Any) -> Any:
    """Train one model; see :func:`hepsweep.train.run`."""
    from hepsweep.train import run as _run

    return _run(*args, **kwargs)


def resume(*args: Any, **kwargs: Any) -> Any:
    """Continue a study from its storage; see :func:`hepsweep.sweep.resume`."""
    from hepsweep.sweep.resume import resume as _resume

    return _resume(*args, **kwargs)


def current_trial() -> Any:
    """The ``optuna.Trial`` of the running job when launched by the hepsweep sweeper, else None."""
    from hepsweep.sweep.trial_link import current_trial as _current_trial

    return _current_trial()


def compose(overrides: list[str] | None = None) -> Any:
    """hepsweep's composed config for ``overrides`` (as on the command line), without running it."""
    from hepsweep.app import compose_config

    return compose_config(overrides or [])
