"""The record hepsweep keeps of a study and of its trials, spelled in one place.

A study's truth lives in Optuna's storage: hepsweep writes its own facts there as user
attributes (the search space, the command, where the study's folder and MLflow runs are) and
mirrors the outcome of each trial as tags on the trial's MLflow run. Every key is named here
once; the rest of the code reads and writes them only through :class:`StudyRecord`,
:class:`TrialRecord` and :class:`RunTag`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Mapping, TypeVar

from optuna.trial import FrozenTrial

# the figures a hepsweep training job records on its trial, in report order; the same names as
# the run's MLflow metrics and the columns of ``hepsweep report``
TRIAL_METRICS = (
    "test_accuracy",
    "test_auc",
    "test_balanced_efficiency",
    "test_bkg_rejection_at_50pct_sig",
    "train_time_s",
    "time_per_epoch_s",
    "epochs_run",
    "samples_per_s",
    "cpu_percent_mean",
    "gpu_util_percent_mean",
    "early_stopped",
)


class _Name(str, Enum):
    """A named string constant that reads as its plain value (in text, JSON and MLflow tags)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class FailKind(_Name):
    """Why a trial failed (``TrialRecord.fail_kind``), stored as the plain string."""

    ERROR = "error"  # the job raised or returned no usable value: a crash
    DATA = "data"  # the data could not be loaded: a crash; stops a study that has trained nothing
    CONFIG = "config"  # the configuration was refused before training: costs no budget
    UNAVAILABLE = "unavailable"  # the trial's device is missing (device=gpu on a machine without one)
    LOST = "lost"  # the job was ended from outside (scancel, time limit, lost node): retried, costs no budget
    DUPLICATE = "duplicate"  # never launched: a twin of another sweeper's trial asked at the same time
    SURPLUS = "surplus"  # never launched: other sweepers filled the budget as it was asked


# trials dropped before their job was launched: no job, no folder and no MLflow run
NEVER_LAUNCHED = (FailKind.DUPLICATE, FailKind.SURPLUS)
# failures that do not use up the study's budget: refused before training, never launched, or
# ended by the cluster (retried, or the study stops)
FREE_FAILURES = (FailKind.CONFIG, FailKind.LOST, *NEVER_LAUNCHED)
# failures that count against ``max_failure_rate``
CRASHES = (FailKind.ERROR, FailKind.DATA)


class RunRole(_Name):
    """What an MLflow run of a study stands for (its :attr:`RunTag.ROLE` tag)."""

    STUDY = "study"  # the parent run, one per study
    TRIAL = "trial"
    RETRAINED = "retrained"  # the best trial trained again (``retrain_best``)
    DRONE = "drone"  # a network distilled by ``hepsweep drone``


R = TypeVar("R", bound="_Record")


def _key(name: str) -> Any:
    return field(default=None, metadata={"key": name})


class _Record:
    """Reading and writing a dataclass of user attributes (``metadata['key']`` names each)."""

    @classmethod
    def keys(cls) -> dict[str, str]:
        return {f.name: f.metadata["key"] for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def of(cls: type[R], holder: Any) -> R:
        """The record of an ``optuna.Study``, ``Trial`` or ``FrozenTrial``."""
        attrs = holder.user_attrs
        return cls(**{name: attrs.get(key) for name, key in cls.keys().items()})  # type: ignore[call-arg]

    @classmethod
    def write(cls, holder: Any, **values: Any) -> None:
        """Set the named fields on a live study or trial (an unknown name is a KeyError)."""
        keys = cls.keys()
        for name, value in values.items():
            holder.set_user_attr(keys[name], value)


@dataclass
class StudyRecord(_Record):
    """What the sweeper keeps on the study. URLs are masked: for reading only, since jobs take
    the pruner and the real URLs from their own config."""

    search_space: dict[str, str] | None = _key("hepsweep.search_space")
    objective_names: list[str] | None = _key("hepsweep.objective")
    command: dict[str, Any] | None = _key("hepsweep.command")
    pruner: dict[str, Any] | None = _key("hepsweep.pruner")
    tracking_uri: str | None = _key("hepsweep.tracking_uri")
    study_dir: str | None = _key("hepsweep.study_dir")
    view: str | None = _key("hepsweep.report")
    parent_run_id: str | None = _key("hepsweep.mlflow_parent_run_id")
    retrained: dict[str, Any] | None = _key("hepsweep.retrained")


@dataclass
class TrialRecord(_Record):
    """What the sweeper and the trial's job keep on a trial, besides its params and values."""

    run_id: str | None = _key("mlflow_run_id")
    output_dir: str | None = _key("output_dir")
    cluster_job: str | None = _key("cluster_job")  # the SLURM job that runs the trial
    resumed_from_trial: int | None = _key("resumed_from_trial")  # a retry: the lost trial it continues
    resumed_from_epoch: int | None = _key("resumed_from_epoch")  # ... from the end of this epoch
    fail_reason: str | None = _key("fail_reason")
    fail_kind: str | None = _key("fail_kind")  # a FailKind
    device: str | None = _key("device")
    model: str | None = _key("model")
    dataset: str | None = _key("dataset")
    batch_size: int | None = _key("batch_size")
    gpu_present: bool | None = _key("gpu_present")

    @staticmethod
    def figures(trial: FrozenTrial) -> dict[str, Any]:
        """The trial's recorded :data:`TRIAL_METRICS` (those present), in report order."""
        return {k: trial.user_attrs[k] for k in TRIAL_METRICS if k in trial.user_attrs}

    @staticmethod
    def write_figures(trial: Any, figures: Mapping[str, Any]) -> None:
        """Record the :data:`TRIAL_METRICS` among ``figures`` (NaN and None left out)."""
        for key in TRIAL_METRICS:
            value = figures.get(key)
            if value is not None and not (isinstance(value, float) and value != value):
                trial.set_user_attr(key, value)


class RunTag:
    """The tags hepsweep puts on the MLflow runs of a study."""

    STUDY = "hepsweep.study"
    ROLE = "hepsweep.role"  # a RunRole
    TRIAL = "hepsweep.trial"
    STATE = "hepsweep.state"  # the trial's Optuna state
    FAIL_REASON = "hepsweep.fail_reason"
    PRUNED_AFTER_EPOCH = "hepsweep.pruned_after_epoch"
    BEST = "hepsweep.best"
    BACKFILLED = "hepsweep.backfilled"


def pruned_after_epoch(trial: FrozenTrial) -> int:
    """The last epoch a trial reported before it was pruned. Epochs count from 1 everywhere: on
    the console, as Optuna's intermediate steps and as MLflow's metric steps."""
    return int(trial.last_step or 0)


def outcome_tags(trial: FrozenTrial) -> dict[str, str]:
    """The tags that say how a finished trial ended (its failure, or when it was pruned)."""
    tags: dict[str, str] = {}
    reason = TrialRecord.of(trial).fail_reason
    if reason:
        tags[RunTag.FAIL_REASON] = reason
    if trial.state.name == "PRUNED":
        tags[RunTag.PRUNED_AFTER_EPOCH] = str(pruned_after_epoch(trial))
    return tags
