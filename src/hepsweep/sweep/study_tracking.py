"""MLflow side of a study: one parent run per study, one nested child run per trial.

The sweeper owns each run's life (create, tag, end with the trial's state); the launched job
only adds content to the child run. Every call is guarded: a tracking store that is down is
reported once and the study goes on, since the trials' truth lives in the Optuna storage.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna

from hepsweep.redaction import mask
from hepsweep.tracking import store

log = logging.getLogger(__name__)

PARENT_RUN_ATTR = "hepsweep.mlflow_parent_run_id"
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "STALE": "KILLED"}


class StudyTracking:
    """Creates and ends the MLflow runs of a study; inert when tracking is off or broken."""

    def __init__(self, enabled: bool, tracking_uri: str | None, experiment: str, emit: Callable[[str], None]) -> None:
        self.enabled = enabled and tracking_uri is not None
        self.uri = tracking_uri
        self.experiment = experiment
        self.parent_run_id: str | None = None
        self.emit = emit
        self._broken: str | None = None

    def _guard(self, what: str, action: Callable[[], Any]) -> Any:
        if not self.enabled or self._broken:
            return None
        try:
            return action()
        except Exception as exc:
            self._broken = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            self.emit(
                f"MLflow tracking failed while {what} ({self._broken}); the study goes on and its trials "
                f"are kept in Optuna's storage. Check tracking at {self.uri}."
            )
            return None

    @property
    def client(self) -> Any:
        return store.client(self.uri or "")

    def open_parent(self, study: optuna.Study, params: Mapping[str, Any]) -> None:
        """Reuse the study's parent run (a resumed study) or create it, and log the settings."""

        def action() -> None:
            existing = study.user_attrs.get(PARENT_RUN_ATTR)
            if existing:
                try:
                    self.client.update_run(existing, status="RUNNING")
                    self.parent_run_id = existing
                except Exception:
                    existing = None
            if not existing:
                self.parent_run_id = store.create_run(
                    self.uri or "", self.experiment, study.study_name, tags={"hepsweep.study": study.study_name, "hepsweep.role": "study"}
                )
                study.set_user_attr(PARENT_RUN_ATTR, self.parent_run_id)
            from mlflow.entities import Param

            client = self.client
            logged = client.get_run(self.parent_run_id).data.params
            fresh = [Param(k, mask(str(v))[:6000]) for k, v in params.items() if k not in logged]
            if fresh:
                client.log_batch(self.parent_run_id, params=fresh)

        self._guard("opening the study's parent run", action)

    def start_child(self, study: optuna.Study, name: str, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str | None:
        """A run nested under the study's run: one per trial, and one for the retrained best."""

        def action() -> str:
            run_id = store.create_run(
                self.uri or "",
                self.experiment,
                name,
                tags={"hepsweep.study": study.study_name, **tags},
                parent_run_id=self.parent_run_id,
            )
            from mlflow.entities import Param

            self.client.log_batch(run_id, params=[Param(f"trial.{k}", mask(str(v))) for k, v in params.items()])
            return run_id

        return self._guard(f"creating the run {name}", action)

    def end_trial(self, run_id: str | None, state: str, values: list[float] | None, tags: Mapping[str, Any]) -> None:
        if run_id is None:
            return

        def action() -> None:
            import time

            from mlflow.entities import Metric, RunTag

            now = int(time.time() * 1000)
            client = self.client
            client.log_batch(
                run_id,
                metrics=[
                    Metric("objective" if i == 0 else f"objective_{i}", float(value), now, 0)
                    for i, value in enumerate(values or [])
                ],
                tags=[RunTag(key, mask(str(value))[:5000]) for key, value in {"hepsweep.state": state, **tags}.items()],
            )
            client.set_terminated(run_id, RUN_STATUS[state])

        self._guard("ending a trial's run", action)

    def kill_run(self, run_id: str | None) -> None:
        """Mark the run of a trial whose process died as KILLED (if it still says RUNNING)."""
        if not run_id:
            return

        def action() -> None:
            client = self.client
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_tag(run_id, "hepsweep.state", "FAIL")
                client.set_tag(run_id, "hepsweep.fail_reason", "the trial's process stopped sending heartbeats")
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
                client.set_tag(self.parent_run_id, key, mask(str(value))[:5000])
            for path in artifacts:
                if path.is_file():
                    client.log_artifact(self.parent_run_id, str(path))
            client.set_terminated(self.parent_run_id, "FAILED" if failed else "FINISHED")

        self._guard("closing the study's parent run", action)
