"""The record hepsweep keeps of a study and of its trials, spelled in one place.

A study's truth lives in Optuna's storage: hepsweep writes its own facts there as user
attributes (the search space, the command, where the study's folder and MLflow runs are) and
mirrors the outcome of each trial as tags on the trial's MLflow run. Every key is named here
once; the rest of the code reads and writes them only through :class:`StudyRecord`,
:class:`TrialRecord` and :class:`RunTag`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Callable, Mapping, TypeVar

from optuna.trial import FrozenTrial

from hepsweep.metrics import Shown, shown_in

log = logging.getLogger(__name__)


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


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _text_map(value: Any) -> bool:
    return _plain_map(value) and all(isinstance(v, str) for v in value.values())


def _plain_data(value: Any) -> bool:
    """JSON data that names no code: no ``_target_`` key at any depth."""
    if isinstance(value, dict):
        return "_target_" not in value and all(isinstance(k, str) and _plain_data(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_data(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _plain_map(value: Any) -> bool:
    return isinstance(value, dict) and _plain_data(value)


def _command(value: Any) -> bool:
    """The saved command: ``{"argv": [str, ...], "cwd": str, "python": str}`` (cwd and python are
    kept for the record only; resume takes neither)."""
    return (
        isinstance(value, dict)
        and _texts(value.get("argv"))
        and len(value["argv"]) >= 1
        and all(_text(value[k]) for k in ("cwd", "python") if k in value)
    )


def _key(name: str, valid: Callable[[Any], bool]) -> Any:
    return field(default=None, metadata={"key": name, "valid": valid})


# whether this process has said that it ignores attributes: one warning, not one per read
_WARNED: list[str] = []


def checked(key: str, value: Any, valid: Callable[[Any], bool], holder: str = "study") -> Any:
    """``value`` when it has the shape hepsweep writes under ``key``, else None; the first such
    value a process meets is named in one warning (the storage may be shared, and whoever can
    write it may have put anything there)."""
    if value is None or valid(value):
        return value
    if not _WARNED:
        _WARNED.append(key)
        log.warning(
            "ignoring the %s attribute %s in the study storage, and any others hepsweep did not write: it "
            "holds a %s, not what hepsweep writes there (it was changed outside hepsweep)",
            holder,
            key,
            type(value).__name__,
        )
    return None


class _Record:
    """Reading and writing a dataclass of user attributes (``metadata['key']`` names each,
    ``metadata['valid']`` checks what is read back)."""

    @classmethod
    def keys(cls) -> dict[str, str]:
        return {f.name: f.metadata["key"] for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def of(cls: type[R], holder: Any) -> R:
        """The record of an ``optuna.Study``, ``Trial`` or ``FrozenTrial``; a value that is not
        what hepsweep writes under its key reads as None (with one warning)."""
        attrs = holder.user_attrs
        kind = "study" if cls is StudyRecord else "trial"
        return cls(  # type: ignore[call-arg]
            **{f.name: checked(f.metadata["key"], attrs.get(f.metadata["key"]), f.metadata["valid"], kind) for f in fields(cls)}  # type: ignore[arg-type]
        )

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

    search_space: dict[str, str] | None = _key("hepsweep.search_space", _text_map)
    objective_names: list[str] | None = _key("hepsweep.objective", _texts)
    command: dict[str, Any] | None = _key("hepsweep.command", _command)
    pruner: dict[str, Any] | None = _key("hepsweep.pruner", _plain_map)
    tracking_uri: str | None = _key("hepsweep.tracking_uri", _text)
    study_dir: str | None = _key("hepsweep.study_dir", _text)
    view: str | None = _key("hepsweep.report", _text)
    parent_run_id: str | None = _key("hepsweep.mlflow_parent_run_id", _text)
    retrained: dict[str, Any] | None = _key("hepsweep.retrained", _plain_map)


@dataclass
class TrialRecord(_Record):
    """What the sweeper and the trial's job keep on a trial, besides its params and values."""

    run_id: str | None = _key("mlflow_run_id", _text)
    output_dir: str | None = _key("output_dir", _text)
    cluster_job: str | None = _key("cluster_job", _text)  # the SLURM job that runs the trial
    resumed_from_trial: int | None = _key("resumed_from_trial", _integer)  # a retry: the lost trial it continues
    resumed_from_epoch: int | None = _key("resumed_from_epoch", _integer)  # ... from the end of this epoch
    fail_reason: str | None = _key("fail_reason", _text)
    fail_kind: str | None = _key("fail_kind", _text)  # a FailKind
    device: str | None = _key("device", _text)
    model: str | None = _key("model", _text)
    dataset: str | None = _key("dataset", _text)
    batch_size: int | None = _key("batch_size", _integer)
    gpu_present: bool | None = _key("gpu_present", _flag)

    @staticmethod
    def figures(trial: FrozenTrial) -> dict[str, Any]:
        """The trial's recorded figures (the metrics shown in reports, those present and of the
        right type), in report order."""
        attrs = trial.user_attrs
        figures = {k: checked(k, attrs[k], _number, "trial") for k in shown_in(Shown.REPORT, attrs)}
        return {k: v for k, v in figures.items() if v is not None}

    @staticmethod
    def write_figures(trial: Any, figures: Mapping[str, Any]) -> None:
        """Record the figures shown in reports among ``figures`` (NaN and None left out)."""
        for key in shown_in(Shown.REPORT, figures):
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
