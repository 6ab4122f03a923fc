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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hepsweep.errors import StudyError, first_line, out_of_space
from hepsweep.redaction import mask, mask_data
from hepsweep.sweep import study_index
from hepsweep.sweep._optuna_private import keeps_heartbeats, trial_id
from hepsweep.sweep.distinct import DistinctSampler, configuration, finite_values, space_size, tried
from hepsweep.sweep.failure_policy import FailurePolicy
from hepsweep.sweep.heartbeat import Heartbeat, beat_orphans
from hepsweep.sweep.observers import Observers, ProgressPrinter, StudyEnd, StudyObserver
from hepsweep.sweep.outcome import JobOutcome, JobRequest, Launch, budget_used, classify, over_budget
from hepsweep.sweep.records import FailKind, StudyRecord, TrialRecord
from hepsweep.sweep.report import trials_view
from hepsweep.sweep.results import RenderView, ResultsWriter
from hepsweep.sweep.retrain import retrain_best
from hepsweep.sweep.samplers import describe, pruner_spec, study_pruner, study_sampler
from hepsweep.sweep.search_space import SearchSpace
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.storage import default_storage_url, open_storage
from hepsweep.sweep.registry import ModelRegistryObserver
from hepsweep.sweep.study_tracking import StudyTracking, TrackingObserver
from hepsweep.sweep.trial_link import TrialLink
from hepsweep.tracking.store import default_tracking_uri

log = logging.getLogger(__name__)

# The heartbeat and retry APIs are marked experimental; the ask/tell heartbeat is deliberate here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
optuna.logging.set_verbosity(optuna.logging.WARNING)

STALE_CHECK_S = 5  # how often a sweeper with nothing to run looks for other sweepers' dead trials


def open_study(
    settings: SweepSettings,
    space: SearchSpace,
    storage: optuna.storages.BaseStorage,
    storage_url: str,
    objective_names: list[str],
) -> optuna.Study:
    """Create the study, or load it when it exists with the same directions and search space."""
    s = settings
    try:
        study = optuna.create_study(
            study_name=s.study_name,
            storage=storage,
            sampler=study_sampler(s.sampler, s.seed, space),
            pruner=study_pruner(s.pruner, len(s.directions)),
            directions=s.directions,
            load_if_exists=True,
        )
    except ValueError as exc:  # directions differ from the stored study
        raise StudyError(
            f"study '{s.study_name}' in {mask(storage_url)} exists with other directions ({exc}); "
            "choose another hydra.sweeper.study_name"
        ) from None
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != s.directions:
        raise StudyError(
            f"study '{s.study_name}' in {mask(storage_url)} was created to {', '.join(stored_directions)}, "
            f"not {', '.join(s.directions)}; pass hydra.sweeper.study_name=NEW_NAME for a new study"
        )
    signature = space.signature()
    stored = StudyRecord.of(study).search_space
    if stored is None:
        StudyRecord.write(study, search_space=signature, objective_names=objective_names)
    elif stored != signature:
        changed = sorted(k for k in set(stored) | set(signature) if stored.get(k) != signature.get(k))
        raise StudyError(
            f"study '{s.study_name}' in {mask(storage_url)} was created with another search space "
            f"(differs in {', '.join(changed)}); pass hydra.sweeper.study_name=NEW_NAME for a new study"
        )
    return study


@dataclass(frozen=True)
class StudyOptions:
    """What a study is besides its sweeper settings: how it is described, shown and extended.

    Attributes:
        command: The command that started the study (for ``hepsweep resume``).
        objective_names: The names of the study's objectives (``value``, ``value_0``... when None).
        view: The name of the study's view, recorded for ``hepsweep report``.
        render: Draws the view when the study ends.
        description: Describes the study's MLflow experiment (the sweep file's header).
        emit: Where progress lines go (stderr, prefixed with the study's name, when None).
        extend_trial: Suggests more parameters on each trial (a custom search space).
        after_last_job: Called once no more jobs will be launched, before the study's results
            are written (a launcher lets its workers go meanwhile).
        observers: Follow the study after hepsweep's own, as Optuna's callbacks do.
    """

    command: Mapping[str, Any] = field(default_factory=dict)
    objective_names: Sequence[str] | None = None
    view: str | None = None
    render: RenderView = trials_view
    description: str | None = None
    emit: Callable[[str], None] | None = None
    extend_trial: Callable[[optuna.Trial], None] | None = None
    after_last_job: Callable[[], None] | None = None
    observers: Sequence[StudyObserver] = ()


class StudyRunner:
    """Runs the study described by ``settings`` over ``space``, launching jobs with ``launch``.

    The runner schedules trials and nothing else: :class:`FailurePolicy` decides when failures
    stop the study, and observers (MLflow runs, progress lines, results files, and any the
    caller adds) follow it."""

    def __init__(
        self,
        settings: SweepSettings,
        space: SearchSpace,
        launch: Launch,
        study_dir: Path,
        *,
        state_root: Path,
        options: StudyOptions = StudyOptions(),
    ) -> None:
        """``state_root`` holds the embedded stores (optuna.db, mlflow.db) when the settings name
        none; ``options`` describe, show and extend the study."""
        self.settings, self.space, self.launch = settings, space, launch
        self.study_dir = Path(study_dir)
        self.command = dict(options.command)
        n = len(settings.directions)
        self.objective_names = list(options.objective_names or (["value"] if n == 1 else [f"value_{i}" for i in range(n)]))
        self.view = options.view
        self.extend_trial = options.extend_trial
        self.after_last_job = options.after_last_job
        say = options.emit or (lambda line: print(f"[{settings.study_name}] {line}", file=sys.stderr, flush=True))
        self.emit: Callable[[str], None] = lambda line: say(mask(line))
        root = Path(state_root)
        self.storage_url = settings.storage or default_storage_url(root)
        tracking_uri = settings.tracking.uri
        if settings.tracking.enabled and tracking_uri is None:
            tracking_uri = default_tracking_uri(root)
        self.tracking = StudyTracking(
            settings.tracking.enabled,
            tracking_uri,
            settings.tracking.experiment or settings.study_name,
            self.emit,
            retry_after_s=settings.tracking.retry_after_s,
        )
        self.policy = FailurePolicy(settings.max_failure_rate, settings.max_retry)
        self.observers = Observers(
            [
                ProgressPrinter(self.emit, settings.n_trials, self.objective_names),
                ResultsWriter(self.study_dir, self.objective_names, self.emit, options.render),
                TrackingObserver(self.tracking, settings, space, self.storage_url, self.objective_names, options.description),
                *self._model_observers(settings),
                *options.observers,
            ]
        )
        self._ask_lock = threading.Lock()
        self._abort: str | None = None
        self._stop: str | None = None
        self.study: optuna.Study | None = None
        self.storage: optuna.storages.BaseStorage  # opened with the study

    def stop(self, reason: str) -> None:
        """Start no more trials: the running ones end (their launcher may cancel them), the
        study's files and MLflow run are written, and :meth:`run` raises a StudyError with
        ``reason``. Safe to call from a signal handler."""
        self._abort = self._abort or reason

    # --- the study ---------------------------------------------------------------------------
    def _model_observers(self, settings: SweepSettings) -> list[StudyObserver]:
        """The MLflow models of the study's trials and its Model Registry entry, when tracked."""
        wanted = settings.tracking.log_models != "none" or settings.tracking.register_as
        if not (self.tracking.enabled and self.tracking.uri and wanted):
            return []
        return [ModelRegistryObserver(self.tracking.uri, settings.tracking.log_models, settings.tracking.register_as, self.emit)]

    def _on_stale_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.observers.trial_died(study, trial)
        self.emit(self.policy.retry_dead(study, trial))

    def open_study(self) -> optuna.Study:
        """Open the study and write its record (what ``hepsweep report``/``resume``/``ui`` read)."""
        s = self.settings
        storage = self.storage = open_storage(self.storage_url, s.heartbeat_interval, s.grace_period, self._on_stale_trial)
        pruner = pruner_spec(s.pruner, len(s.directions))
        if pruner is None and describe(s.pruner, "none") != "none":
            self.emit("pruning is off: Optuna cannot prune multi-objective studies (hydra.sweeper.pruner ignored)")
        study = open_study(s, self.space, storage, self.storage_url, self.objective_names)
        # for reading only: jobs take the pruner and the real URLs from their own config
        StudyRecord.write(
            study,
            pruner=mask_data(pruner),
            tracking_uri=mask(self.tracking.uri) if self.tracking.uri and self.tracking.enabled else None,
            study_dir=str(self.study_dir.resolve()),
        )
        if self.command:
            StudyRecord.write(study, command=mask_data(self.command))
        if self.view:
            StudyRecord.write(study, view=self.view)
        elsewhere = study_index.remember(s.study_name, self.storage_url, self.study_dir.resolve())
        if elsewhere is not None:
            self.emit(
                f"warning: the study name {s.study_name} was kept in {elsewhere}; `hepsweep report/resume "
                f"{s.study_name}` now open this study in {mask(self.storage_url)} (give another "
                "hydra.sweeper.study_name to keep both names)"
            )
        return study

    # --- one trial ---------------------------------------------------------------------------
    def _run_trial(self, study: optuna.Study, trial: optuna.Trial, heartbeat: Heartbeat) -> None:
        try:
            self.observers.trial_started(study, trial)
            link = TrialLink(
                storage=self.storage_url,
                study=study.study_name,
                trial_id=trial_id(trial),
                # with no run yet (MLflow away), the job spools its records for the back-fill
                tracking_uri=self.tracking.uri if self.tracking.enabled else None,
            )
            try:
                outcome = self.launch(JobRequest(dict(trial.params), trial.number, link))
            except Exception as exc:  # the launcher itself failed (e.g. the overrides do not compose)
                outcome = JobOutcome(error=exc)
            state, values, reason, kind = classify(outcome, len(self.settings.directions))
            self._record_result(trial, outcome)
            if reason:
                TrialRecord.write(trial, fail_reason=reason, fail_kind=kind)
            retry_line = None
            with self._ask_lock:  # a lost trial's retry is queued before the loop sees room for a new trial
                self._tell(study, trial, values, state)
                if outcome.error is not None and out_of_space(outcome.error):
                    self._storage_failed(outcome.error, f"trial {trial.number}")  # every later trial would fail the same way
                frozen = self.storage.get_trial(trial_id(trial))
                if kind == FailKind.LOST:
                    retry_line, stop = self.policy.retry_lost(study, frozen)
                    self._abort = self._abort or stop
            self.observers.trial_finished(study, frozen)
            if retry_line:
                self.emit(retry_line)
            self._abort = self._abort or self.policy.judge(study, frozen)
        except Exception as exc:  # never lose the study over one trial's bookkeeping
            if self._storage_failed(exc, f"trial {trial.number}"):
                return
            log.exception("trial %d: bookkeeping failed", trial.number)
            try:
                study.tell(trial, state=TrialState.FAIL)
            except Exception:
                pass
            self.emit(f"trial {trial.number} FAIL: {first_line(exc)}")
        finally:
            heartbeat.remove(trial_id(trial))

    @staticmethod
    def _record_result(trial: optuna.Trial, outcome: JobOutcome) -> None:
        """Write the figures and facts the job handed back on its trial (none from a user's own
        app's plain value), before Optuna is told."""
        result = outcome.result
        if result is None:
            return
        try:
            result.write(trial)
        except Exception as exc:  # the figures are a convenience; the trial's value is what counts
            if out_of_space(exc):
                raise
            log.warning("trial %d: could not record the run's figures: %s", trial.number, first_line(exc))

    def _extended(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """Let the custom search space suggest its parameters; a trial it fails on is FAIL."""
        try:
            self.extend_trial(trial)  # type: ignore[misc]
            return True
        except Exception as exc:
            TrialRecord.write(trial, fail_reason=f"custom_search_space: {first_line(exc)}", fail_kind=FailKind.ERROR)
            study.tell(trial, state=TrialState.FAIL)
            self._abort = self._abort or f"the custom search space failed on trial {trial.number} ({first_line(exc)})"
            return False

    def _tell(self, study: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState) -> None:
        try:
            study.tell(trial, values=values, state=state)
        except RuntimeError:
            # GridSampler calls Study.stop once its grid is exhausted, which raises outside
            # Study.optimize; the trial is told all the same.
            if not (isinstance(study.sampler, DistinctSampler) and study.sampler.exhausted(study)):
                raise
            self._stop = "the grid is exhausted"

    def _storage_failed(self, exc: Exception, during: str) -> bool:
        """A full disk or a storage that fails to write stops the study (no new trial, running
        ones finish): the trial in hand stays RUNNING and is retried when the study continues.
        True when ``exc`` is such a failure (said in one line), False for anything else."""
        full = out_of_space(exc)
        if not full and not isinstance(exc, optuna.exceptions.StorageInternalError):
            return False
        log.debug("%s: the storage failed", during, exc_info=True)  # the traceback, for the job log only
        cause = "no space left for the study's storage or files" if full else f"the study storage failed ({first_line(exc)})"
        if self._abort is None:
            self._abort = (
                f"{cause}, during {during}; trials it could not record stay RUNNING and are retried when the study "
                f"continues: {'free some space, then ' if full else 'fix the storage, then '}run the command again "
                f"(or hepsweep resume {self.settings.study_name})"
            )
            self.emit(f"{during}: {cause}; no new trial starts")
        return True

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
        refused = sum(1 for t in trials if TrialRecord.of(t).fail_kind == FailKind.CONFIG)
        if refused > 3 * self.settings.n_trials + 10:  # an endless stream of impossible configurations
            self._stop = f"{refused} configurations were refused before training (see fail_reason); narrow hydra.sweeper.params"
            return False
        return True

    def _next_trial(self, study: optuna.Study, heartbeat: Heartbeat) -> optuna.Trial | None:
        """Ask for the next trial to launch (None when there is no room for one). A trial the
        custom search space fails on, or one another sweeper's trial makes redundant, is told
        FAIL and skipped."""
        while self._abort is None and self._stop is None:
            with self._ask_lock:
                if not self._room_for_another(study):
                    return None
                try:
                    trial = study.ask(self.space.distributions)
                except Exception as exc:
                    if self._storage_failed(exc, "asking for a trial"):
                        return None
                    raise
                heartbeat.add(trial_id(trial))  # at once: a sweeper killed now leaves a trial that goes stale
                if self.extend_trial is not None and not self._extended(study, trial):
                    heartbeat.remove(trial_id(trial))
                    continue
                dropped = self._dropped(study, trial)
                if dropped is None:
                    return trial
                TrialRecord.write(trial, fail_reason=dropped[1], fail_kind=dropped[0])
                study.tell(trial, state=TrialState.FAIL)
                heartbeat.remove(trial_id(trial))
        return None

    def _dropped(self, study: optuna.Study, trial: optuna.Trial) -> tuple[str, str] | None:
        """(kind, reason) when a trial of another sweeper, asked at the same instant, makes this
        one redundant: the budget is full without it, or it repeats a configuration on a finite
        space. The later trial gives way; a queued trial or a retry is owed its run."""
        frozen = self.storage.get_trial(trial_id(trial))
        if frozen.system_attrs.get("fixed_params") or RetryHeartbeatStaleTrialCallback.retry_history(frozen):
            return None
        trials = study.get_trials(deepcopy=False)
        if over_budget(trials, trial.number, self.settings.n_trials):
            return FailKind.SURPLUS, f"the budget of {self.settings.n_trials} trials was filled by another sweeper at the same time"
        names = sorted(self.space.distributions)
        if finite_values(self.space.distributions) is not None:
            mine = configuration(frozen.params, names)
            for other in trials:
                if other.number < trial.number and other.params and configuration(other.params, names) == mine:
                    return FailKind.DUPLICATE, f"same configuration as trial {other.number}, asked at the same time"
        return None

    def _others_running(self, study: optuna.Study) -> bool:
        return any(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))

    def run(self) -> optuna.Study:
        s = self.settings
        study = self.study = self.open_study()
        self.study_dir.mkdir(parents=True, exist_ok=True)
        self.observers.study_opened(study)
        optuna.storages.fail_stale_trials(study)
        already = budget_used(study.get_trials(deepcopy=False))
        self.emit(
            f"study {s.study_name}: {already}/{s.n_trials} trials already in {mask(self.storage_url)}; "
            f"running up to {s.n_jobs} at once"
        )
        if not self.space.distributions:
            self.emit("warning: hydra.sweeper.params is empty, so one trial is run, not n_trials; add params to search")
        storage = self.storage
        heartbeats = keeps_heartbeats(storage)
        if not heartbeats and self._others_running(study):
            self.emit(
                "this storage keeps no heartbeats, so trials left RUNNING by a crash cannot be told from live "
                "ones; they are left as they are (use an SQL storage for crash recovery)"
            )
        with Heartbeat(storage, s.heartbeat_interval) as heartbeat, ThreadPoolExecutor(s.n_jobs, "hepsweep-trial") as pool:
            in_flight: set[Future[None]] = set()
            last_stale_check = time.monotonic()
            while True:
                if time.monotonic() - last_stale_check > s.heartbeat_interval and self._abort is None:
                    try:
                        beat_orphans(storage, study.study_name, s.grace_period)
                        optuna.storages.fail_stale_trials(study)
                    except Exception as exc:
                        if not self._storage_failed(exc, "the check for dead trials"):
                            raise
                    last_stale_check = time.monotonic()
                while len(in_flight) < s.n_jobs and (trial := self._next_trial(study, heartbeat)) is not None:
                    in_flight.add(pool.submit(self._run_trial, study, trial, heartbeat))
                if not in_flight:
                    if self._abort is None and self._stop is None and heartbeats and self._others_running(study):
                        time.sleep(min(STALE_CHECK_S, s.heartbeat_interval))  # wait for other workers or staleness
                        continue
                    break
                done, _ = wait(in_flight, timeout=s.heartbeat_interval, return_when=FIRST_COMPLETED)
                in_flight -= done
        if self._stop is not None and self._abort is None and budget_used(study.get_trials(deepcopy=False)) < s.n_trials:
            self.emit(f"study {s.study_name} stops before its budget of {s.n_trials} trials: {self._stop}")
        self._abort = self._abort or self.policy.verdict(study, s.n_trials)
        retrained = None
        if s.retrain_best and self._abort is None:
            retrained = retrain_best(study, self.launch, self.tracking, self.study_dir, self.emit)
        if self.after_last_job is not None:
            self.after_last_job()
        self.observers.study_finished(study, StudyEnd(failed=self._abort is not None, retrained=retrained))
        if self._abort is not None:
            raise StudyError(f"study {s.study_name} stopped: {self._abort}")
        return study
