"""A study's best trial in the MLflow Model Registry, and the logged models behind it.

:func:`register_best` registers a trial's logged model (logging it first when the trial's run
has none) as a new version of a registered model, tagged with the study, trial, objective and
figures, and moves the alias ``champion`` to it; a trial registered before gets no second
version, only the alias. Nothing is created until the logged model exists, and a registered
model this call created is deleted again if its first version fails: no empty registered
model is left behind. :class:`ModelRegistryObserver` does this during a sweep each time the
best trial changes (``tracking.register_as``), and logs the models ``tracking.log_models``
asks for.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from hepsweep.errors import StudyError, message_line
from hepsweep.redaction import mask
from hepsweep.sweep.observers import StudyEnd, StudyObserver
from hepsweep.sweep.records import TrialRecord
from hepsweep.sweep.study_tracking import study_tracking_uri
from hepsweep.sweep.winner import pick_trial, trial_folder, trial_origin
from hepsweep.tracking import store
from hepsweep.train.benchmark import CHECKPOINT

CHAMPION = "champion"
LOG_MODELS = ("best", "all", "none")


class VersionTag:
    """The tags of a registered model version."""

    STUDY = "hepsweep.study"
    TRIAL = "hepsweep.trial"
    OBJECTIVE = "hepsweep.objective"
    VALUE = "hepsweep.objective_value"


@dataclass
class RegisteredVersion:
    name: str
    version: str
    trial: int
    model_uri: str


def trial_model(study: optuna.Study, trial: FrozenTrial, tracking_uri: str) -> Any:
    """The trial's logged model (the newest), logged now from its run folder when it has none."""
    from hepsweep.export import mlflow_model  # heavy: MLflow (TensorFlow only to log a model)

    run_id = TrialRecord.of(trial).run_id
    if not run_id:
        raise StudyError(f"trial {trial.number} of study '{study.study_name}' has no MLflow run to log its model on; sweep with tracking on")
    existing = mlflow_model.logged_models(tracking_uri, run_id)
    if existing:
        return existing[0]
    from hepsweep.export.exporter import stored_test_events  # heavy: TensorFlow
    from hepsweep.export.serving import load_run  # heavy: TensorFlow

    run = load_run(trial_folder(study, trial))
    raw = run.preprocessing.unscale(stored_test_events(run, mlflow_model.EXAMPLE_EVENTS))
    logged = mlflow_model.log_model(run, raw, tracking_uri, run_id, tags={VersionTag.STUDY: study.study_name, VersionTag.TRIAL: str(trial.number)})
    return store.client(tracking_uri).get_logged_model(logged.model_id)


def _version_tags(study: optuna.Study, trial: FrozenTrial) -> dict[str, str]:
    origin = trial_origin(study, trial)
    tags = {
        VersionTag.STUDY: study.study_name,
        VersionTag.TRIAL: str(trial.number),
        VersionTag.OBJECTIVE: str(origin.objective),
        VersionTag.VALUE: f"{origin.value:.6g}" if origin.value is not None else "",
    }
    tags.update({f"hepsweep.{k}": json.dumps(v) for k, v in TrialRecord.figures(trial).items()})
    return tags


def _tracking_uri(study: optuna.Study) -> str:
    uri = study_tracking_uri(study)
    if uri is None:
        raise StudyError(
            f"study '{study.study_name}' has no MLflow store on record (tracking off, or its URL held a password: "
            "set MLFLOW_TRACKING_URI to it)"
        )
    return uri


def register_best(study: optuna.Study, name: str, number: int | None = None, tracking_uri: str | None = None) -> RegisteredVersion:
    """Register trial ``number`` of ``study`` (default: its best) as ``name``; alias ``champion``."""
    trial = pick_trial(study, number)
    uri = tracking_uri or _tracking_uri(study)
    logged = trial_model(study, trial, uri)
    client = store.client(uri)
    same = client.search_model_versions(f"name = '{_quoted(name)}' AND tags.`{VersionTag.STUDY}` = '{_quoted(study.study_name)}' "
                                        f"AND tags.`{VersionTag.TRIAL}` = '{trial.number}'")
    if same:
        version = str(max(int(v.version) for v in same))
    else:
        version = _new_version(client, name, logged, TrialRecord.of(trial).run_id, _version_tags(study, trial))
    client.set_registered_model_alias(name, CHAMPION, version)
    return RegisteredVersion(name, version, trial.number, f"models:/{name}/{version}")


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")


def _new_version(client: Any, name: str, logged: Any, run_id: str | None, tags: dict[str, str]) -> str:
    """A new version of ``name`` from a logged model; a registered model created here for it is
    deleted again when the version cannot be made."""
    from mlflow.exceptions import MlflowException  # heavy: MLflow

    try:
        client.get_registered_model(name)
        created = False
    except MlflowException:
        client.create_registered_model(name, description="hepsweep: the best trial of a study (alias champion)")
        created = True
    try:
        made = client.create_model_version(name, logged.artifact_location, run_id=run_id, tags=tags, model_id=logged.model_id)
    except Exception:
        if created:
            client.delete_registered_model(name)
        raise
    return str(made.version)


def _has_checkpoint(trial: FrozenTrial) -> bool:
    folder = TrialRecord.of(trial).output_dir
    return bool(folder) and (Path(str(folder)) / CHECKPOINT).is_file()


class ModelRegistryObserver(StudyObserver):
    """During a sweep: logs trials' models (``log_models``: best, all or none) and registers the
    new best as ``register_as`` each time the best trial changes.

    A trial's job logs its own model when it can (:meth:`hepsweep.job.TrialJob.log_model`);
    what is left to do here (a model to log costs this process TensorFlow's import, then about a
    second each) runs on a thread of its own, in the order the trials finished, while the next
    trials train; the study's end waits for it. With ``log_models: best`` and no registration, a
    best overtaken before its turn logs no model: the newer best does."""

    def __init__(self, tracking_uri: str, log_models: str, register_as: str | None, emit: Callable[[str], None]) -> None:
        if log_models not in LOG_MODELS:
            raise StudyError(f"tracking.log_models={log_models!r} is unknown; use one of {', '.join(LOG_MODELS)}")
        self.uri, self.log_models, self.register_as, self.emit = tracking_uri, log_models, register_as, emit
        self._pool: ThreadPoolExecutor | None = None

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE or len(study.directions) > 1:
            return
        best = study.best_trial.number == trial.number
        if not (self.register_as or _has_checkpoint(trial)):
            return  # a run without a checkpoint (train.checkpoint=false, another app's task): nothing to log
        if (self.register_as and best) or self.log_models == "all" or (self.log_models == "best" and best):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="hepsweep-models")
            self._pool.submit(self._log, study, trial, best)

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        """Wait for the models still being logged."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _log(self, study: optuna.Study, trial: FrozenTrial, best: bool) -> None:
        try:
            if self.register_as and best:
                version = register_best(study, self.register_as, trial.number, self.uri)
                self.emit(f"trial {trial.number} is the new best: registered as {self.register_as} version {version.version} (alias {CHAMPION})")
            elif self.log_models == "all" or study.best_trial.number == trial.number:
                trial_model(study, trial, self.uri)
        except Exception as exc:  # the study goes on; `hepsweep register` does it later
            line = message_line(exc)
            print(f"note: could not log or register the model of trial {trial.number} ({mask(line)}); "
                  f"hepsweep register {study.study_name} NAME does it later", file=sys.stderr)
