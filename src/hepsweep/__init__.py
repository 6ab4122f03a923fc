"""hepsweep: hyperparameter sweeps of TensorFlow/Keras classifiers for particle physics.

Hydra composes each run's config, Optuna proposes trials and prunes them epoch by epoch through
hepsweep's own Hydra sweeper, and MLflow records every trial as a child of its study's run.

Public API. ``import hepsweep`` stays light (every worker process and Hydra's plugin scan run
it): each function imports the heavy modules behind it when it is called.

- :func:`run` trains and evaluates one model from a composed config.
- :func:`resume` continues a study from its storage.
- :func:`current_trial` gives a Hydra task launched by the hepsweep sweeper its Optuna trial.
- :func:`log_metrics` sends such a task's own figures to its trial's MLflow run.
- :func:`compose` composes hepsweep's config in Python (for notebooks and tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from hepsweep.errors import HepsweepError
from hepsweep.quiet import quiet_libraries

if TYPE_CHECKING:  # the public functions import their heavy modules when called
    import optuna
    from omegaconf import DictConfig

    from hepsweep.train.training import RunResult

__version__ = "0.1.0"

__all__ = ["HepsweepError", "__version__", "compose", "current_trial", "log_metrics", "resume", "run"]


def run(cfg: DictConfig, output_dir: str | Path | None = None, emit: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate the model ``cfg`` describes and write its benchmark folder; with
    ``cfg.tracking.enabled`` the run is logged to MLflow as on the command line.

    Args:
        cfg: A composed config: ``hepsweep.compose(["model=cnn", "dataset=ntd_pits"])``.
        output_dir: The benchmark folder (default ``<output_root>/runs/<date>/<time>``).
        emit: Receives the progress lines (one per epoch, then the summary).

    Returns:
        The run's result: ``.metrics`` (``test_auc``, ``val_auc``, ...), ``.summary``,
        ``.output_dir`` and ``.value`` (the objective).

    Example:
        >>> cfg = hepsweep.compose(["train.epochs=2", "dataset.n_events=1000"])  # doctest: +SKIP
        >>> hepsweep.run(cfg).metrics["test_auc"]  # doctest: +SKIP
        0.83
    """
    from hepsweep.train.warm import import_tensorflow  # heavy: TensorFlow, imported quietly before the rest

    quiet_libraries()
    import_tensorflow()
    # heavy: TensorFlow (training) and MLflow (tracking)
    from hepsweep.tracking.single_run import single_run_tracker
    from hepsweep.train.training import require_composed
    from hepsweep.train.training import run as train_run

    require_composed(cfg)
    with single_run_tracker(cfg) as tracker:
        return train_run(cfg, tracker=tracker, output_dir=output_dir, emit=emit)


def resume(
    study_name: str, storage: str | None = None, n_trials: int | None = None, overrides: Sequence[str] = ()
) -> optuna.Study:
    """Continue the study ``study_name`` in the current folder, running what its budget still
    misses (``n_trials``: a new total). The saved arguments that name no code and no path are
    taken from the study's storage; data paths, URLs and launcher setup are given again in
    ``overrides``. Without ``storage``, the study is looked up in ``./outputs`` (or
    ``HEPSWEEP_OUTPUT``), then in the user's study index."""
    from hepsweep.sweep.resume import resume as resume_study  # heavy: Optuna

    return resume_study(study_name, storage, n_trials, overrides)


def current_trial() -> optuna.Trial | None:
    """The ``optuna.Trial`` of the running job when the hepsweep sweeper launched it (in any
    Hydra app: report intermediate values and check ``should_prune()`` with it), else None.
    Each reported value also reaches the trial's MLflow run, as the history of the study's
    objective (step: the reported step)."""
    from hepsweep.job import current_trial as job_trial  # heavy: Optuna and Hydra

    return job_trial()


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log figures of the running job to its trial's MLflow run when the hepsweep sweeper
    launched it (``step``: a point of each figure's history, e.g. the epoch); outside a
    hepsweep sweep, or with the study's tracking off, it does nothing.

    Example:
        >>> hepsweep.log_metrics({"train_loss": 0.41, "val_loss": 0.45}, step=3)  # doctest: +SKIP
    """
    from hepsweep.job import log_metrics as job_log_metrics  # heavy: Optuna and Hydra

    job_log_metrics(metrics, step)


def compose(overrides: list[str] | None = None) -> DictConfig:
    """hepsweep's config for ``overrides`` (as on the command line, e.g. ``["model=cnn",
    "train.epochs=3"]``), composed without running anything; a bad override raises
    :class:`hepsweep.errors.ConfigError` with one line naming the fix."""
    from hepsweep.app import compose_config  # heavy: Hydra

    quiet_libraries()
    return compose_config(list(overrides or []))
