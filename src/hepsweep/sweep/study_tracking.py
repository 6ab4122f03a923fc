"""MLflow side of a study: one parent run per study, one nested child run per trial.

The sweeper owns each run's life (create, tag, end with the trial's state); the launched job
only adds content to the child run. Optuna's storage holds the truth of every trial, so MLflow
may go away at any time: calls are skipped while it is away (tried again every
``retry_after_s``), the study goes on, and :meth:`StudyTracking.backfill` later creates the runs
of trials MLflow missed and ends runs left RUNNING, from what Optuna recorded. It runs when a
study opens (a rerun, ``hepsweep resume``) and when it finishes.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna

from hepsweep.errors import first_line
from hepsweep.redaction import MASK, mask, restore
from hepsweep.sweep.observers import StudyEnd, StudyObserver
from hepsweep.sweep.samplers import describe, pruner_spec
from hepsweep.sweep.search_space import SearchSpace
from hepsweep.metrics import Shown, shown_in
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.records import NEVER_LAUNCHED, RunRole, RunTag, StudyRecord, TrialRecord, outcome_tags, pruned_after_epoch
from hepsweep.tracking import store
from hepsweep.tracking.spool import SPOOL_NAME, replay

log = logging.getLogger(__name__)

# a pruned trial was stopped early on purpose: MLflow's KILLED shows it apart from complete ones
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "STALE": "KILLED"}
NOTE_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
RETRY_AFTER_S = 30.0
# the figures the study's runs table shows beside the objective
VIEW_METRICS = shown_in(Shown.VIEW)
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def describe_trial(trial: optuna.trial.FrozenTrial) -> str:
    """One line: the trial's parameters and outcome (an MLflow run's description)."""
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    if trial.state == optuna.trial.TrialState.PRUNED:
        outcome = f"PRUNED after epoch {pruned_after_epoch(trial)}"
    elif trial.state == optuna.trial.TrialState.FAIL:
        outcome = f"FAIL: {TrialRecord.of(trial).fail_reason or 'no reason recorded'}"
    else:
        outcome = f"{trial.state.name} " + ", ".join(f"{v:.4g}" for v in trial.values or [])
    return f"trial {trial.number}: {params or 'no parameters'} -> {outcome}"


def study_tracking_uri(study: optuna.Study) -> str | None:
    """The MLflow store of a study's runs, as saved with the study. One saved with its password
    masked is usable only when ``MLFLOW_TRACKING_URI`` gives the real URL; else None."""
    uri = restore(StudyRecord.of(study).tracking_uri, [os.environ.get("MLFLOW_TRACKING_URI")])
    return None if uri is None or MASK in uri else uri


def study_runs(study: optuna.Study) -> tuple[str | None, str | None]:
    """Where a study's MLflow runs are: its tracking URI (see :func:`study_tracking_uri`) and
    its parent run's id, each None when unknown."""
    uri = study_tracking_uri(study)
    return uri, (StudyRecord.of(study).parent_run_id if uri else None)


class StudyTracking:
    """Creates and ends the MLflow runs of a study; inert when tracking is off, patient when
    MLflow is away."""

    def __init__(
        self,
        enabled: bool,
        tracking_uri: str | None,
        experiment: str,
        emit: Callable[[str], None],
        retry_after_s: float = RETRY_AFTER_S,
    ) -> None:
        self.enabled = enabled and tracking_uri is not None
        self.uri = tracking_uri
        self.experiment = experiment
        self.parent_run_id: str | None = None
        self.emit = emit
        self.retry_after_s = retry_after_s
        self._away_until: float | None = None
        self._parent_params: Mapping[str, Any] = {}

    @property
    def away(self) -> bool:
        """MLflow did not answer the last call."""
        return self._away_until is not None

    def _guard(self, what: str, action: Callable[[], Any]) -> Any:
        if not self.enabled:
            return None
        if self._away_until is not None and time.monotonic() < self._away_until:
            return None  # still away: the back-fill catches up later
        try:
            result = action()
        except Exception as exc:
            reason = first_line(exc)
            if self._away_until is None:
                self.emit(
                    f"MLflow at {mask(self.uri or '')} failed while {what} ({mask(reason)}); the study goes on, its "
                    "trials are kept in Optuna's storage, and their runs are back-filled once MLflow answers"
                )
            self._away_until = time.monotonic() + self.retry_after_s
            return None
        if self._away_until is not None:
            self._away_until = None
            self.emit("MLflow answers again; the runs it missed are back-filled when the study ends")
        return result

    def where(self) -> str | None:
        """Where the user finds the study's runs: their address on an MLflow server, else the
        command that serves the store; None when tracking is off."""
        if not self.enabled or self.uri is None:
            return None
        uri = self.uri
        if uri.startswith(("http://", "https://")):
            experiment = self._guard("finding the experiment", lambda: store.experiment_id(uri, self.experiment))
            return mask(uri.rstrip("/")) + (store.runs_view_path(experiment) if experiment else "")
        return f"hepsweep ui --study {self.experiment} --tracking-uri '{mask(uri)}'"

    @property
    def client(self) -> Any:
        return store.client(self.uri or "")

    def open_parent(self, study: optuna.Study, params: Mapping[str, Any]) -> None:
        """Reuse the study's parent run (a resumed study) or create it, and log the settings."""
        self._parent_params = dict(params)
        self._guard("opening the study's parent run", lambda: self._ensure_parent(study))

    def share_view(self, study: optuna.Study, objective: str, params: list[str], description: str | None) -> None:
        """Open MLflow's runs table of this study on its trials ranked by ``objective``, with
        the figures users compare as columns; ``description`` becomes the experiment's."""
        minimize = study.directions[0] == optuna.study.StudyDirection.MINIMIZE
        self._guard(
            "saving the study's runs view",
            lambda: store.share_runs_view(
                self.uri or "",
                self.experiment,
                objective,
                minimize,
                {"metrics": VIEW_METRICS, "tags": [RunTag.STATE], "params": params},
                description,
            ),
        )

    def _ensure_parent(self, study: optuna.Study) -> str:
        if self.parent_run_id is not None:
            return self.parent_run_id
        existing = StudyRecord.of(study).parent_run_id
        if existing:
            try:
                self.client.update_run(existing, status="RUNNING")
                self.parent_run_id = existing
            except Exception as exc:
                if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "not found" not in str(exc).lower():
                    raise  # MLflow is away: try again later, never fork a second parent
        if self.parent_run_id is None:
            mine = store.create_run(
                self.uri or "", self.experiment, study.study_name, tags={RunTag.STUDY: study.study_name, RunTag.ROLE: RunRole.STUDY}
            )
            self.parent_run_id = self._one_parent(study, mine)
            StudyRecord.write(study, parent_run_id=self.parent_run_id)
        from mlflow.entities import Param  # heavy: MLflow

        client = self.client
        logged = client.get_run(self.parent_run_id).data.params
        fresh = [Param(k, mask(str(v))[: store.limit('param')]) for k, v in self._parent_params.items() if k not in logged]
        if fresh:
            client.log_batch(self.parent_run_id, params=fresh)
        return self.parent_run_id

    def _one_parent(self, study: optuna.Study, mine: str) -> str:
        """Sweepers that open a new study at the same instant each create a parent run; all of
        them keep the oldest (by start time, then id) and delete their own if it is not."""
        experiment = store.experiment_id(self.uri or "", self.experiment)
        parents = self.client.search_runs(
            [experiment], f"tags.`{RunTag.STUDY}` = '{study.study_name}' and tags.`{RunTag.ROLE}` = '{RunRole.STUDY}'"
        )
        if not parents:
            return mine
        oldest = min(parents, key=lambda run: (run.info.start_time, run.info.run_id)).info.run_id
        if oldest != mine:
            self.client.delete_run(mine)
        return oldest

    def start_child(self, study: optuna.Study, name: str, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str | None:
        """A run nested under the study's run: one per trial, and one for the retrained best."""
        return self._guard(f"creating the run {name}", lambda: self._create_child(study, name, params, tags))

    def _create_child(self, study: optuna.Study, name: str, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str:
        from mlflow.entities import Param  # heavy: MLflow

        run_id = store.create_run(
            self.uri or "",
            self.experiment,
            name,
            tags={RunTag.STUDY: study.study_name, **tags},
            parent_run_id=self._ensure_parent(study),
        )
        self.client.log_batch(run_id, params=[Param(f"trial.{k}", mask(str(v))) for k, v in params.items()])
        return run_id

    def end_trial(
        self,
        run_id: str | None,
        state: str,
        values: list[float] | None,
        tags: Mapping[str, Any],
        trial: optuna.trial.FrozenTrial | None = None,
    ) -> None:
        """End a trial's run with its state and value; ``trial`` gives the run its one-line
        description, and a pruned trial's run says so in its name."""
        if run_id is None:
            return
        self._guard("ending a trial's run", lambda: self._end(run_id, state, values, tags, trial))

    def _end(
        self,
        run_id: str,
        state: str,
        values: list[float] | None,
        tags: Mapping[str, Any],
        trial: optuna.trial.FrozenTrial | None = None,
    ) -> None:
        from mlflow.entities import Metric  # heavy: MLflow
        from mlflow.entities import RunTag as MlflowTag

        now = int(time.time() * 1000)
        client = self.client
        all_tags = {RunTag.STATE: state, **tags}
        if trial is not None:
            all_tags[NOTE_TAG] = describe_trial(trial)
        client.log_batch(
            run_id,
            metrics=[
                Metric("objective" if i == 0 else f"objective_{i}", float(value), now, 0)
                for i, value in enumerate(values or [])
            ],
            tags=[MlflowTag(key, mask(str(value))[: store.limit('tag')]) for key, value in all_tags.items()],
        )
        if trial is not None and state == "PRUNED":
            client.update_run(run_id, name=f"trial-{trial.number} pruned")
        client.set_terminated(run_id, RUN_STATUS[state])

    def mark_best(self, study: optuna.Study) -> None:
        """Tag the best trial's run (the Pareto front's, for several objectives) ``hepsweep.best``
        and name it ``trial-N best``; a run that is no longer best loses both."""
        self._guard("marking the best trial", lambda: self._mark_best(study))

    def _mark_best(self, study: optuna.Study) -> None:
        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            return
        best = {str(t.number) for t in study.best_trials}
        client = self.client
        for number, run in self._trial_runs(study).items():
            is_best = number in best
            if (run.data.tags.get(RunTag.BEST) == "true") != is_best:
                client.set_tag(run.info.run_id, RunTag.BEST, str(is_best).lower())
                client.update_run(run.info.run_id, name=f"trial-{number} best" if is_best else f"trial-{number}")

    def _trial_runs(self, study: optuna.Study) -> dict[str, Any]:
        """The study's trial runs by trial number (the first found for each)."""
        parent = self._ensure_parent(study)
        runs: dict[str, Any] = {}
        client, token = self.client, None
        experiment = store.experiment_id(self.uri or "", self.experiment)
        while True:
            page = client.search_runs(
                [experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=1000, page_token=token
            )
            for run in page:
                if run.data.tags.get(RunTag.ROLE) == RunRole.TRIAL:
                    runs.setdefault(run.data.tags.get(RunTag.TRIAL, ""), run)
            token = page.token
            if not token:
                return runs

    def backfill(self, study: optuna.Study, objective_names: list[str]) -> int:
        """Make MLflow agree with Optuna: a run for every finished trial that has none (its
        params, state, value, per-epoch objective and recorded figures),
        and every run left RUNNING of a finished trial ended with the trial's state. Returns
        how many runs were written."""
        return self._guard("back-filling the study's runs", lambda: self._backfill(study, objective_names)) or 0

    def _backfill(self, study: optuna.Study, objective_names: list[str]) -> int:
        self._ensure_parent(study)
        finished = [
            t for t in study.get_trials(deepcopy=False, states=_FINISHED) if TrialRecord.of(t).fail_kind not in NEVER_LAUNCHED
        ]
        if not finished:
            return 0
        runs = self._trial_runs(study)
        written = 0
        for trial in finished:
            run = runs.get(str(trial.number))
            spool = Path(TrialRecord.of(trial).output_dir or "") / SPOOL_NAME
            if run is not None and run.info.status != "RUNNING":
                if spool.is_file():  # the job could not send everything; the run was ended all the same
                    replay(self.client, run.info.run_id, spool)
                    written += 1
                continue
            if run is None:
                run_id = self._create_child(
                    study, f"trial-{trial.number}", trial.params,
                    {RunTag.TRIAL: trial.number, RunTag.ROLE: RunRole.TRIAL, RunTag.BACKFILLED: "true"},
                )
                if not spool.is_file():  # no record of the job's own: rebuild what Optuna knows
                    self._log_trial_record(run_id, trial, objective_names[0])
            else:
                run_id = run.info.run_id
            if spool.is_file():
                replay(self.client, run_id, spool)
            self._end(run_id, trial.state.name, trial.values, outcome_tags(trial), trial)
            written += 1
        if written:
            self.emit(f"back-filled {written} trial run(s) in MLflow from the study's storage")
        return written

    def _log_trial_record(self, run_id: str, trial: optuna.trial.FrozenTrial, objective: str) -> None:
        from mlflow.entities import Metric  # heavy: MLflow

        stamp = int((trial.datetime_complete or trial.datetime_start).timestamp() * 1000) if trial.datetime_start else 0
        history = [Metric(objective, float(v), stamp, int(step)) for step, v in sorted(trial.intermediate_values.items())]
        numbers = [
            Metric(key, float(value), stamp, 0)
            for key, value in TrialRecord.figures(trial).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        metrics = history + numbers
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i : i + 1000])

    def kill_run(self, run_id: str | None) -> None:
        """Mark the run of a trial whose process died as KILLED (if it still says RUNNING)."""
        if not run_id:
            return

        def action() -> None:
            client = self.client
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_tag(run_id, RunTag.STATE, "FAIL")
                client.set_tag(run_id, RunTag.FAIL_REASON, "the trial's process stopped sending heartbeats")
                client.set_terminated(run_id, "KILLED")

        self._guard("ending a dead trial's run", action)

    def close_parent(self, metrics: Mapping[str, float], params: Mapping[str, Any], artifacts: list[Path], failed: bool) -> None:
        if self.parent_run_id is None:
            return

        def action() -> None:
            client = self.client
            for key, value in metrics.items():
                client.log_metric(self.parent_run_id, key, float(value))
            for key, value in params.items():
                client.set_tag(self.parent_run_id, key, mask(str(value))[: store.limit('tag')])
            for path in artifacts:
                if path.is_file():
                    client.log_artifact(self.parent_run_id, str(path))
            client.set_terminated(self.parent_run_id, "FAILED" if failed else "FINISHED")

        self._guard("closing the study's parent run", action)


class TrackingObserver(StudyObserver):
    """Keeps the study's MLflow runs in step with the study: the parent run and its runs view
    when it opens, a nested run per trial, the outcome of each, and the study's figures and
    files when it ends (with a back-fill of whatever MLflow missed)."""

    def __init__(
        self,
        tracking: StudyTracking,
        settings: SweepSettings,
        space: SearchSpace,
        storage_url: str,
        objective_names: list[str],
        description: str | None = None,
    ) -> None:
        self.tracking, self.settings, self.space = tracking, settings, space
        self.storage_url, self.objective_names, self.description = storage_url, objective_names, description

    def parent_params(self) -> dict[str, Any]:
        """The study's settings as the parent run's params."""
        s = self.settings
        params: dict[str, Any] = {
            "study_name": s.study_name,
            "directions": ",".join(s.directions),
            "sampler": describe(s.sampler, "tpe"),
            "pruner": describe(pruner_spec(s.pruner, len(s.directions)), "none"),
            "storage": mask(self.storage_url),
            "objective": ",".join(self.objective_names),
        }
        # MLflow's param names take no "+"/"~": the value of a fixed override says what it does
        params.update({f"space.{k.lstrip('+~')}": v for k, v in self.space.signature().items()})
        return params

    def study_opened(self, study: optuna.Study) -> None:
        self.tracking.open_parent(study, self.parent_params())
        self.tracking.share_view(study, self.objective_names[0], sorted(self.space.parameters), self.description)
        self.tracking.backfill(study, self.objective_names)  # trials an earlier run could not log (MLflow away, a crash)

    def trial_started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        run_id = self.tracking.start_child(
            study, f"trial-{trial.number}", dict(trial.params), {RunTag.TRIAL: trial.number, RunTag.ROLE: RunRole.TRIAL}
        )
        TrialRecord.write(trial, run_id=run_id)  # None clears a retried trial's old run

    def trial_finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.tracking.end_trial(TrialRecord.of(trial).run_id, trial.state.name, trial.values, outcome_tags(trial), trial)

    def trial_died(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.tracking.kill_run(TrialRecord.of(trial).run_id)

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        trials = study.get_trials(deepcopy=False)
        metrics = {f"trials_{state.name.lower()}": float(sum(1 for t in trials if t.state == state)) for state in _FINISHED}
        metrics.update({f"retrained_{k}": v for k, v in (end.retrained or {}).items() if isinstance(v, float)})
        tags: dict[str, Any] = {}
        if len(study.directions) == 1 and metrics["trials_complete"]:
            best = study.best_trial
            metrics[f"best_{self.objective_names[0]}"] = float(best.value)  # type: ignore[arg-type]
            tags = {f"best.{k}": v for k, v in best.params.items()}
            tags["best.trial"] = best.number
        tracking = self.tracking
        tracking.backfill(study, self.objective_names)
        tracking.mark_best(study)
        tracking.close_parent(metrics, tags, end.artifacts, end.failed)
        if tracking.away:
            tracking.emit(
                "MLflow is still away, so some runs are missing or unfinished there; once it answers, run the "
                f"command again or `hepsweep resume {study.study_name}` to back-fill them"
            )
        where = tracking.where()
        if where is not None:
            tracking.emit(f"MLflow runs: {where}")
