"""Running an Optuna study whose trials are launched jobs: budget, parallelism, pruning, resume.

The runner asks Optuna for a trial, launches its job (any launcher: in-process, joblib, SLURM),
and tells Optuna the outcome. Up to ``n_jobs`` trials run at once and a free slot starts the
next trial as soon as one ends (no blocking batches). The study's state lives in its storage,
so re-running the same command continues it: ``n_trials`` is the study's *total* budget. A
trial whose process dies stops sending heartbeats; it is failed after the grace period, its
MLflow run is marked KILLED, and it is queued again (up to ``max_retry`` times).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hepsweep.errors import StudyError
from hepsweep.redaction import mask, mask_data
from hepsweep.sweep.heartbeat import Heartbeat, beat_orphans
from hepsweep.sweep.records import pruned_after_epoch
from hepsweep.sweep.outcome import JobOutcome, Launch, budget_used, classify, first_line, plain
from hepsweep.sweep.distinct import configuration, finite_values, space_size, tried
from hepsweep.sweep.samplers import describe, make_pruner, study_sampler
from hepsweep.sweep.search_space import SearchSpace
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.storage import default_storage_url, open_storage
from hepsweep.sweep import study_index
from hepsweep.sweep.study_tracking import StudyTracking
from hepsweep.sweep.trial_link import ENV_VAR, PRUNER_ATTR, RUN_ATTR, TRACKING_URI_ATTR, TrialLink

log = logging.getLogger(__name__)

# The heartbeat and retry APIs are marked experimental; the ask/tell heartbeat is deliberate here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
optuna.logging.set_verbosity(optuna.logging.WARNING)

SIGNATURE_ATTR = "hepsweep.search_space"
COMMAND_ATTR = "hepsweep.command"
OBJECTIVE_ATTR = "hepsweep.objective"
FAIL_REASON = "fail_reason"
FAIL_KIND = "fail_kind"
MIN_TRIALS_FOR_FAILURE_RATE = 3
RETRAINED_DIR = "best_retrained"
RETRAINED_ATTR = "hepsweep.retrained"
STUDY_DIR_ATTR = "hepsweep.study_dir"


class StudyRunner:
    """Runs the study described by ``settings`` over ``space``, launching jobs with ``launch``."""

    def __init__(
        self,
        settings: SweepSettings,
        space: SearchSpace,
        launch: Launch,
        study_dir: Path,
        command: dict[str, Any] | None = None,
        objective_names: list[str] | None = None,
        view: str | None = None,
        emit: Callable[[str], None] | None = None,
        state_root: Path | None = None,
        extend_trial: Callable[[optuna.Trial], None] | None = None,
        description: str | None = None,
    ) -> None:
        """``state_root`` holds the embedded stores (optuna.db, mlflow.db) when the settings name
        none; by default the folder two levels above ``study_dir`` (``<root>/studies/<name>``).
        ``description`` (the sweep file's header) describes the study's MLflow experiment."""
        self.description = description
        self.settings, self.space, self.launch = settings, space, launch
        self.study_dir = Path(study_dir)
        self.command = command or {}
        n = len(settings.directions)
        self.objective_names = objective_names or (["value"] if n == 1 else [f"value_{i}" for i in range(n)])
        self.view = view
        self.extend_trial = extend_trial  # suggests more parameters on each trial (custom search space)
        say = emit or (lambda line: print(f"[{settings.study_name}] {line}", file=sys.stderr, flush=True))
        self.emit: Callable[[str], None] = lambda line: say(mask(line))
        root = Path(state_root) if state_root is not None else self.study_dir.resolve().parent.parent
        self.storage_url = settings.storage or default_storage_url(root)
        tracking_uri = settings.tracking.uri
        if settings.tracking.enabled and tracking_uri is None:
            from hepsweep.tracking.store import default_tracking_uri

            tracking_uri = default_tracking_uri(root)
        self.tracking = StudyTracking(
            settings.tracking.enabled,
            tracking_uri,
            settings.tracking.experiment or settings.study_name,
            self.emit,
            retry_after_s=settings.tracking.retry_after_s,
        )
        self._ask_lock = threading.Lock()
        self._abort: str | None = None
        self._stop: str | None = None
        self._skip_reasons: set[str] = set()
        self._crashes = 0
        self._finished = 0
        self.study: optuna.Study | None = None

    # --- study -------------------------------------------------------------------------------
    def _on_stale_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.tracking.kill_run(trial.user_attrs.get(RUN_ATTR))
        retries = len(RetryHeartbeatStaleTrialCallback.retry_history(trial))
        if retries < self.settings.max_retry:
            RetryHeartbeatStaleTrialCallback(max_retry=self.settings.max_retry)(study, trial)
            self.emit(f"trial {trial.number} stopped sending heartbeats (its process died): failed, queued again")
        else:
            self.emit(f"trial {trial.number} stopped sending heartbeats again: failed, not retried (max_retry)")

    def open_study(self) -> optuna.Study:
        s = self.settings
        storage = open_storage(self.storage_url, s.heartbeat_interval, s.grace_period, self._on_stale_trial)
        pruner = None if s.multi_objective else make_pruner(s.pruner)
        if s.multi_objective and describe(s.pruner, "none") != "none":
            self.emit("pruning is off: Optuna cannot prune multi-objective studies (hydra.sweeper.pruner ignored)")
        sampler = study_sampler(s.sampler, s.seed, self.space)
        try:
            study = optuna.create_study(
                study_name=s.study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                directions=s.directions,
                load_if_exists=True,
            )
        except ValueError as exc:  # directions differ from the stored study
            raise StudyError(
                f"study '{s.study_name}' in {mask(self.storage_url)} exists with other directions ({exc}); "
                "choose another hydra.sweeper.study_name"
            ) from None
        stored_directions = [d.name.lower() for d in study.directions]
        if stored_directions != s.directions:
            raise StudyError(
                f"study '{s.study_name}' in {mask(self.storage_url)} was created to {', '.join(stored_directions)}, "
                f"not {', '.join(s.directions)}; pass hydra.sweeper.study_name=NEW_NAME for a new study"
            )
        signature = self.space.signature()
        stored = study.user_attrs.get(SIGNATURE_ATTR)
        if stored is None:
            study.set_user_attr(SIGNATURE_ATTR, signature)
            study.set_user_attr(OBJECTIVE_ATTR, self.objective_names)
        elif stored != signature:
            changed = sorted(k for k in set(stored) | set(signature) if stored.get(k) != signature.get(k))
            raise StudyError(
                f"study '{s.study_name}' in {mask(self.storage_url)} was created with another search space "
                f"(differs in {', '.join(changed)}); pass hydra.sweeper.study_name=NEW_NAME for a new study"
            )
        if self.command:
            study.set_user_attr(COMMAND_ATTR, mask_data(self.command))
        # for reading only: jobs take the pruner and the real URLs from their own config
        study.set_user_attr(PRUNER_ATTR, None if s.multi_objective else mask_data(plain(s.pruner)))
        study.set_user_attr(TRACKING_URI_ATTR, mask(self.tracking.uri) if self.tracking.uri and self.tracking.enabled else None)
        study.set_user_attr(STUDY_DIR_ATTR, str(self.study_dir.resolve()))
        study_index.remember(s.study_name, self.storage_url, self.study_dir.resolve())
        if self.view:
            from hepsweep.studies import VIEW_ATTR

            study.set_user_attr(VIEW_ATTR, self.view)
        return study

    # --- one trial ---------------------------------------------------------------------------
    def _run_trial(self, study: optuna.Study, trial: optuna.Trial, heartbeat: Heartbeat) -> None:
        try:
            params = dict(trial.params)
            run_id = self.tracking.start_child(
                study, f"trial-{trial.number}", params, {"hepsweep.trial": trial.number, "hepsweep.role": "trial"}
            )
            trial.set_user_attr(RUN_ATTR, run_id)  # None clears a retried trial's old run
            link = TrialLink(
                storage=self.storage_url,
                study=study.study_name,
                trial_id=trial._trial_id,
                # with no run yet (MLflow away), the job spools its records for the back-fill
                tracking_uri=self.tracking.uri if self.tracking.enabled else None,
            )
            overrides = self.space.overrides(params) + [f"++hydra.job.env_set.{ENV_VAR}={link.encode()}"]
            try:
                outcome = self.launch(overrides, trial.number)
            except Exception as exc:  # the launcher itself failed (e.g. the overrides do not compose)
                outcome = JobOutcome(error=exc)
            state, values, reason, kind = classify(outcome, len(self.settings.directions))
            if reason:
                trial.set_user_attr(FAIL_REASON, reason)
                trial.set_user_attr(FAIL_KIND, kind)
            self._tell(study, trial, values, state)
            frozen = study._storage.get_trial(trial._trial_id)
            tags = {"hepsweep.fail_reason": reason} if reason else {}
            if state == TrialState.PRUNED:
                tags["hepsweep.pruned_after_epoch"] = str(pruned_after_epoch(frozen))
            self.tracking.end_trial(run_id, state.name, values, tags, frozen)
            self._after_trial(study, frozen, kind)
        except Exception as exc:  # never lose the study over one trial's bookkeeping
            log.exception("trial %d: bookkeeping failed", trial.number)
            try:
                study.tell(trial, state=TrialState.FAIL)
            except Exception:
                pass
            self.emit(f"trial {trial.number} FAIL: {first_line(exc)}")
        finally:
            heartbeat.remove(trial._trial_id)

    def _extended(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """Let the custom search space suggest its parameters; a trial it fails on is FAIL."""
        try:
            self.extend_trial(trial)  # type: ignore[misc]
            return True
        except Exception as exc:
            trial.set_user_attr(FAIL_REASON, f"custom_search_space: {first_line(exc)}")
            trial.set_user_attr(FAIL_KIND, "error")
            study.tell(trial, state=TrialState.FAIL)
            self._abort = self._abort or f"the custom search space failed on trial {trial.number} ({first_line(exc)})"
            return False

    def _tell(self, study: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState) -> None:
        try:
            study.tell(trial, values=values, state=state)
        except RuntimeError as exc:
            # GridSampler asks the study to stop once the grid is exhausted; the trial is told.
            if "Study.stop" not in str(exc):
                raise
            self._stop = "the grid is exhausted"

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, fail_kind: str | None) -> None:
        with self._ask_lock:
            self._finished += 1
            if fail_kind in ("error", "data"):
                self._crashes += 1
            rate = self._crashes / self._finished
            # max_failure_rate=0 stops at the first crash, as in hydra-optuna-sweeper
            judged = self._finished >= MIN_TRIALS_FOR_FAILURE_RATE or self.settings.max_failure_rate == 0.0
            crashed = fail_kind in ("error", "data") and self._abort is None
            if crashed and judged and rate > self.settings.max_failure_rate:
                self._abort = (
                    f"{self._crashes} of {self._finished} trials failed (more than max_failure_rate="
                    f"{self.settings.max_failure_rate}); last: {trial.user_attrs.get(FAIL_REASON)}; "
                    "fix the cause or raise hydra.sweeper.max_failure_rate"
                )
            elif crashed and fail_kind == "data" and not self._trained_any(study):
                self._abort = (
                    f"trial {trial.number} could not load its data ({trial.user_attrs.get(FAIL_REASON)}); "
                    "fix the dataset settings (e.g. dataset.path) and run the command again"
                )
            reason = trial.user_attrs.get(FAIL_REASON)
            if fail_kind == "unavailable":
                if reason in self._skip_reasons:
                    return
                self._skip_reasons.add(reason)
                self.emit(f"trial {trial.number} skipped: {reason} (later trials skipped for this reason are not listed)")
                return
        self.emit(self.progress_line(study, trial))

    @staticmethod
    def _trained_any(study: optuna.Study) -> bool:
        return any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials(deepcopy=False))

    def progress_line(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
        trials = study.get_trials(deepcopy=False)
        counts = {s: sum(1 for t in trials if t.state == s) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        what = trial.state.name
        if trial.state == TrialState.PRUNED:
            what += f" after epoch {pruned_after_epoch(trial)}"
        elif trial.state == TrialState.FAIL:
            what += f" ({trial.user_attrs.get(FAIL_REASON, 'no reason recorded')})"
        elif trial.values:
            what += " " + ", ".join(f"{n}={v:.4g}" for n, v in zip(self.objective_names, trial.values))
        done = sum(counts.values())
        line = (
            f"trial {trial.number} {what} | {done}/{self.settings.n_trials} done "
            f"({counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed)"
        )
        if not self.settings.multi_objective and counts[TrialState.COMPLETE]:
            best = study.best_trial
            line += f" | best {self.objective_names[0]}={best.value:.4g} (trial {best.number})"
        return line

    # --- the loop ----------------------------------------------------------------------------
    def _room_for_another(self, study: optuna.Study) -> bool:
        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        if budget_used(trials) >= self.settings.n_trials:
            return False
        if not self.space.distributions and budget_used(trials) >= 1:
            self._stop = "hydra.sweeper.params searches nothing, so every further trial would be the same"
            return False
        values = finite_values(self.space.distributions)
        if values is not None and len(tried(trials, sorted(values))) >= space_size(values):
            self._stop = f"all {space_size(values)} configurations of the search space have been tried"
            return False
        refused = sum(1 for t in trials if t.user_attrs.get(FAIL_KIND) == "config")
        if refused > 3 * self.settings.n_trials + 10:  # an endless stream of impossible configurations
            self._stop = f"{refused} configurations were refused before training (see fail_reason); narrow hydra.sweeper.params"
            return False
        return True

    def _duplicate_of(self, study: optuna.Study, trial: optuna.Trial) -> int | None:
        """The number of an earlier trial with the same configuration (two sweepers that asked at
        the same instant), or None. The later trial gives way."""
        names = sorted(self.space.distributions)
        frozen = study._storage.get_trial(trial._trial_id)
        if finite_values(self.space.distributions) is None or frozen.system_attrs.get("fixed_params"):
            return None
        mine = configuration(frozen.params, names)
        for other in study.get_trials(deepcopy=False):
            if other.number < trial.number and other.params and configuration(other.params, names) == mine:
                return other.number
        return None

    def _others_running(self, study: optuna.Study, mine: set[int]) -> bool:
        return any(t.state == TrialState.RUNNING and t._trial_id not in mine for t in study.get_trials(deepcopy=False))

    def run(self) -> optuna.Study:
        s = self.settings
        study = self.study = self.open_study()
        self.study_dir.mkdir(parents=True, exist_ok=True)
        self.tracking.open_parent(study, self._parent_params())
        self.tracking.share_view(study, self.objective_names[0], sorted(self.space.parameters), self.description)
        self._backfill(study)  # trials an earlier run could not log (MLflow was away, a crash)
        optuna.storages.fail_stale_trials(study)
        already = budget_used(study.get_trials(deepcopy=False))
        self.emit(
            f"study {s.study_name}: {already}/{s.n_trials} trials already in {mask(self.storage_url)}; "
            f"running up to {s.n_jobs} at once"
        )
        if not self.space.distributions:
            self.emit("warning: hydra.sweeper.params is empty, so one trial is run, not n_trials; add params to search")
        storage = study._storage
        heartbeats = optuna.storages._heartbeat.is_heartbeat_enabled(storage)
        if not heartbeats and self._others_running(study, set()):
            self.emit(
                "this storage keeps no heartbeats, so trials left RUNNING by a crash cannot be told from live "
                "ones; they are left as they are (use an SQL storage for crash recovery)"
            )
        failed = False
        with Heartbeat(storage, s.heartbeat_interval) as heartbeat, ThreadPoolExecutor(s.n_jobs, "hepsweep-trial") as pool:
            in_flight: dict[Future[None], int] = {}
            last_stale_check = time.monotonic()
            while True:
                if time.monotonic() - last_stale_check > s.heartbeat_interval:
                    beat_orphans(storage, study._study_id, s.grace_period)
                    optuna.storages.fail_stale_trials(study)
                    last_stale_check = time.monotonic()
                while self._abort is None and self._stop is None and len(in_flight) < s.n_jobs:
                    with self._ask_lock:
                        if not self._room_for_another(study):
                            break
                        trial = study.ask(self.space.distributions)
                        heartbeat.add(trial._trial_id)  # at once: a sweeper killed now leaves a trial that goes stale
                        if self.extend_trial is not None and not self._extended(study, trial):
                            heartbeat.remove(trial._trial_id)
                            continue
                        twin = self._duplicate_of(study, trial)
                        if twin is not None:
                            trial.set_user_attr(FAIL_REASON, f"same configuration as trial {twin}, asked at the same time")
                            trial.set_user_attr(FAIL_KIND, "duplicate")
                            study.tell(trial, state=TrialState.FAIL)
                            heartbeat.remove(trial._trial_id)
                            continue
                    in_flight[pool.submit(self._run_trial, study, trial, heartbeat)] = trial._trial_id
                if not in_flight:
                    if self._abort is None and self._stop is None and heartbeats and self._others_running(study, set()):
                        time.sleep(min(5, s.heartbeat_interval))  # wait for other workers or staleness
                        continue
                    break
                done, _ = wait(list(in_flight), timeout=s.heartbeat_interval, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
        if self._stop is not None and self._abort is None and budget_used(study.get_trials(deepcopy=False)) < s.n_trials:
            self.emit(f"study {s.study_name} stops before its budget of {s.n_trials} trials: {self._stop}")
        if self._abort is not None:
            failed = True
        retrained = self._retrain_best(study) if s.retrain_best and self._abort is None else None
        self._finish(study, failed, retrained)
        if self._abort is not None:
            raise StudyError(f"study {s.study_name} stopped: {self._abort}")
        return study

    def _backfill(self, study: optuna.Study) -> None:
        from hepsweep.sweep.report import TRIAL_METRICS

        self.tracking.backfill(study, self.objective_names, TRIAL_METRICS)

    def _parent_params(self) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "study_name": s.study_name,
            "directions": ",".join(s.directions),
            "sampler": describe(s.sampler, "tpe"),
            "pruner": describe(s.pruner, "none"),
            "storage": mask(self.storage_url),
            "objective": ",".join(self.objective_names),
        }
        # MLflow's param names take no "+"/"~": the value of a fixed override says what it does
        params.update({f"space.{k.lstrip('+~')}": v for k, v in self.space.signature().items()})
        return params

    def _retrain_best(self, study: optuna.Study) -> dict[str, Any] | None:
        """Train the best trial's parameters again (outside the budget) and collect its figures."""
        complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if self.settings.multi_objective or not complete:
            return None
        best = study.best_trial
        params = dict(best.params)
        run_id = self.tracking.start_child(study, "best-retrained", params, {"hepsweep.role": "retrained", "hepsweep.trial": best.number})
        link = TrialLink(tracking_uri=self.tracking.uri if run_id else None, run_id=run_id)
        overrides = [
            *self.space.overrides(params),
            *self.settings.retrain_overrides,
            f"hydra.sweep.subdir={RETRAINED_DIR}",
            f"++hydra.job.env_set.{ENV_VAR}={link.encode()}",
        ]
        self.emit(f"retraining the best trial ({best.number}) in {self.study_dir / RETRAINED_DIR}")
        try:
            outcome = self.launch(overrides, len(study.get_trials(deepcopy=False)))
        except Exception as exc:
            outcome = JobOutcome(error=exc)
        state, values, reason, _ = classify(outcome, 1)
        self.tracking.end_trial(run_id, state.name, values, {"hepsweep.fail_reason": reason} if reason else {})
        figures: dict[str, Any] = {"trial": best.number, "params": params}
        if reason:
            figures["failure"] = reason
            self.emit(f"retraining the best trial failed: {reason}")
            return figures
        figures["value"] = values[0] if values else None
        summary = self.study_dir / RETRAINED_DIR / "summary.json"
        if summary.is_file():
            import json

            metrics = json.loads(summary.read_text()).get("metrics", {})
            figures.update({k: v for k, v in metrics.items() if k.startswith("test_")})
        shown = ", ".join(f"{k}={v:.4g}" for k, v in figures.items() if isinstance(v, float))
        self.emit(f"best trial {best.number} retrained: {shown}")
        study.set_user_attr(RETRAINED_ATTR, figures)
        return figures

    def _finish(self, study: optuna.Study, failed: bool, retrained: dict[str, Any] | None = None) -> None:
        from hepsweep.sweep.report import format_view, study_artifacts, write_optimization_results

        results = write_optimization_results(study, self.study_dir, self.objective_names, retrained)
        artifacts = [results]
        text = ""
        try:
            artifacts += study_artifacts(study, self.study_dir, self.objective_names)
            from hepsweep.studies import render

            view = render(study, self.study_dir)
            text = format_view(view)
            (self.study_dir / "study_report.txt").write_text(text + "\n")
            artifacts += [*view.figures, self.study_dir / "study_report.txt"]
        except Exception as exc:  # presentation must never cost the study
            log.warning("study report failed: %s", exc)
        trials = study.get_trials(deepcopy=False)
        metrics = {
            f"trials_{state.name.lower()}": float(sum(1 for t in trials if t.state == state))
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        }
        for key, value in (retrained or {}).items():
            if isinstance(value, float):
                metrics[f"retrained_{key}"] = value
        tags: dict[str, Any] = {}
        if not self.settings.multi_objective and metrics["trials_complete"]:
            best = study.best_trial
            metrics[f"best_{self.objective_names[0]}"] = float(best.value)  # type: ignore[arg-type]
            tags = {f"best.{k}": v for k, v in best.params.items()}
            tags["best.trial"] = best.number
        self._backfill(study)
        self.tracking.mark_best(study)
        self.tracking.close_parent(metrics, tags, artifacts, failed)
        if self.tracking.away:
            self.emit(
                "MLflow is still away, so some runs are missing or unfinished there; once it answers, run the "
                f"command again or `hepsweep resume {study.study_name}` to back-fill them"
            )
        print(text, flush=True)
        self.emit(f"results: {results}")
        where = self.tracking.where()
        if where is not None:
            self.emit(f"MLflow runs: {where}")
