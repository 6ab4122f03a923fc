"""The job side of a trial: what a launched job does with the link the sweeper sent it.

hepsweep's Hydra task (:func:`hepsweep.app.task`) opens the job's :class:`TrialJob`, trains with
its live trial and tracker, and hands the run's :class:`~hepsweep.sweep.outcome.TrialResult`
(:func:`trial_result`) back to the sweeper, which records it on the trial.
Any other Hydra app gets its trial with :func:`current_trial`; what it reports reaches the
trial's MLflow run by the route hepsweep's own training takes (:meth:`TrialJob.trial_tracker`),
and :func:`log_metrics` sends it more figures::

    import hepsweep, optuna

    @hydra.main(...)
    def app(cfg):
        trial = hepsweep.current_trial()  # None outside a hepsweep sweep
        for epoch in range(1, cfg.epochs + 1):
            score, loss = train_one_epoch()
            hepsweep.log_metrics({"train_loss": loss}, step=epoch)
            if trial is not None:
                trial.report(score, epoch)  # also the MLflow history of the study's objective
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return score
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.study import StudyDirection
from optuna.trial import TrialState
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hepsweep.metrics import EARLY_STOPPED
from hepsweep.sweep.outcome import TrialResult
from hepsweep.sweep.records import StudyRecord, TrialRecord
from hepsweep.sweep.storage import open_trial
from hepsweep.sweep.trial_link import ENV_VAR, TrialLink, job_link
from hepsweep.tracking import MlflowTracker, NullTracker, Tracker
from hepsweep.tracking.single_run import single_run_tracker
from hepsweep.tracking.spool import SPOOL_NAME
from hepsweep.train.benchmark import CHECKPOINT, HISTORY, RunSummary

log = logging.getLogger(__name__)


class TrialJob:
    """One launched job: its link, restored with the real URLs of the job's own config, and the
    live trial it reports to (None outside a study)."""

    def __init__(
        self,
        link: TrialLink,
        sweeper: Any = None,
        trial_type: Callable[[optuna.Study, int], optuna.Trial] = optuna.trial.Trial,
        linked: bool = False,
    ) -> None:
        """``trial_type``: what the live trial is built as (a subclass of ``optuna.Trial``);
        ``linked``: hepsweep's sweeper launched the job (it sent a link, even an empty one)."""
        self.link, self.sweeper, self.trial_type, self.linked = link, sweeper, trial_type, linked
        self._trial: optuna.Trial | None = None

    @classmethod
    def from_environment(
        cls, task_config: DictConfig | None = None, trial_type: Callable[[optuna.Study, int], optuna.Trial] = optuna.trial.Trial
    ) -> "TrialJob":
        """The running job's link (``HEPSWEEP_TRIAL``) with the real URLs of its own config
        (:func:`~hepsweep.sweep.trial_link.job_link`)."""
        sweeper = HydraConfig.get().get("sweeper") if HydraConfig.initialized() else None
        task_tracking = task_config.get("tracking") if task_config is not None else None
        text = os.environ.get(ENV_VAR)
        return cls(job_link(text, sweeper, task_tracking), sweeper, trial_type, linked=text is not None)

    def trial(self) -> optuna.Trial | None:
        """The live trial, pruned by the job's own ``hydra.sweeper.pruner``; None outside a study."""
        link = self.link
        if self._trial is None and link.storage is not None and link.trial_id is not None:
            pruner = self.sweeper.get("pruner") if self.sweeper is not None else None
            self._trial = open_trial(link.storage, link.study or "", link.trial_id, pruner, self.trial_type)
        return self._trial

    def record_folder(self, output_dir: str | Path) -> None:
        """Note the job's folder (the views and the MLflow back-fill read it) and its SLURM job on its trial."""
        trial = self.trial()
        if trial is not None:
            TrialRecord.write(trial, output_dir=str(Path(output_dir).resolve()))
            if os.environ.get("SLURM_JOB_ID"):  # a sweeper that finds the trial dead cancels this job
                TrialRecord.write(trial, cluster_job=os.environ["SLURM_JOB_ID"])

    @property
    def hands_back_record(self) -> bool:
        """Whether hepsweep's sweeper launched this job (only it sends a trial link; the
        retrained best's is empty without MLflow), and so takes a :class:`TrialResult` back;
        any other sweeper gets the plain value."""
        return self.linked

    def log_model(self, cfg: DictConfig, output_dir: str | Path, value: Any) -> None:
        """Log the complete trial's MLflow model from the job, where TensorFlow and the model are
        at hand, when ``tracking.log_models`` asks for it: ``all``, or ``best`` and ``value``
        beats every complete trial so far. The sweeper logs what a job could not."""
        from hepsweep.sweep.registry import trial_model  # heavy: MLflow and the model's flavour, in the job that trains

        trial, uri = self.trial(), self.link.tracking_uri
        tracking = (self.sweeper.get("tracking") or {}) if self.sweeper is not None else {}
        policy = str(cfg.get("tracking", {}).get("log_models") or tracking.get("log_models") or "none")
        if trial is None or not uri or policy == "none" or not (Path(output_dir) / CHECKPOINT).is_file():
            return
        study = trial.study
        if len(study.directions) > 1 or value is None:
            return
        # the trial has trained: a storage or MLflow that fails here leaves the model to the sweeper,
        # which tries again and says so in one line if it fails too
        try:
            trials = study.get_trials(deepcopy=False)
            if policy == "best":
                done = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
                maximize = study.direction == StudyDirection.MAXIMIZE
                if done and not (float(value) > max(done) if maximize else float(value) < min(done)):
                    return
            frozen = next(t for t in trials if t.number == trial.number)
            if not TrialRecord.of(frozen).run_id:
                return  # no MLflow run yet (MLflow was away): the sweeper logs it once the run exists
            trial_model(study, frozen, uri)
        except Exception:
            log.debug("the job could not log its MLflow model", exc_info=True)

    def continue_lost_trial(self, output_dir: str | Path, tracker: Tracker, monitor: str | None) -> int:
        """A retry of a trial whose job was lost (cancelled, timed out, its node or sweeper gone)
        continues from that job's last finished epoch: its saved state is copied into this job's
        folder, and the epochs it finished are reported to this trial (Optuna) and its run
        (MLflow) as they were, so both show one continuous curve. ``monitor``: the epoch figure
        reported for pruning (None: nothing is reported). The epochs taken over (0: none)."""
        from hepsweep.train.callbacks import epoch_metrics, take_over  # heavy: Keras, in the job that trains

        trial = self.trial()
        if trial is None:
            return 0
        trials = {t.number: t for t in trial.study.get_trials(deepcopy=False)}
        me = trials.get(trial.number)
        with warnings.catch_warnings():  # Optuna marks its retry lineage experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            lineage = RetryHeartbeatStaleTrialCallback.retry_history(me) if me is not None else []
        for number in reversed(lineage):
            lost = trials.get(number)
            folder = TrialRecord.of(lost).output_dir if lost is not None else None
            if not folder:
                continue
            taken = take_over(Path(folder), Path(output_dir), HISTORY)
            if not taken:
                continue
            # the lost job may have trained on after its trial was failed: its history has those epochs
            shown = next(iter(epoch_metrics({monitor: 0.0})), None) if monitor else None
            for epoch, figures in taken:
                value = figures.get(shown) if shown else None
                value = lost.intermediate_values.get(epoch) if value is None else value  # type: ignore[union-attr]
                if monitor and value is not None:
                    trial.report(float(value), step=epoch)
                if figures:
                    tracker.log_metrics(figures, step=epoch)
            TrialRecord.write(trial, resumed_from_epoch=taken[-1][0], resumed_from_trial=number)
            log.info("trial %d continues trial %d from epoch %d", trial.number, number, taken[-1][0])
            return taken[-1][0]
        return 0

    def trial_tracker(self, output_dir: str | Path | None, background: bool) -> MlflowTracker | None:
        """The tracker of the trial's MLflow run (None when the study is not tracked): what
        MLflow cannot take is kept in the job folder's spool for the sweeper to replay;
        ``background``: records are sent while the job goes on."""
        link = self.link
        if not (link.tracking_uri and (link.in_study or link.run_id)):
            return None
        trial = self.trial()
        run_id = link.run_id or (TrialRecord.of(trial).run_id if trial is not None else None)
        spool = Path(output_dir) / SPOOL_NAME if output_dir else None
        return MlflowTracker(link.tracking_uri, run_id, background=background, spool=spool)

    @contextlib.contextmanager
    def tracker(self, cfg: DictConfig, sweep: bool, output_dir: str | None = None) -> Iterator[Tracker]:
        """The MLflow tracker of this job: the trial's run inside a sweep (the sweeper ends it),
        a new run of the ``hepsweep-runs`` experiment for a single run, or a null tracker. A
        trial's records that MLflow cannot take (it is away, or the sweeper could not create the
        run) are kept in ``<output_dir>/mlflow_spool.jsonl`` for the sweeper to replay."""
        trial_tracker = self.trial_tracker(output_dir, background=sweep)
        if trial_tracker is not None:
            yield trial_tracker
            return
        if sweep or not cfg.tracking.enabled:
            yield NullTracker()
            return
        with single_run_tracker(cfg) as tracker:
            yield tracker


def trial_result(summary: RunSummary, value: float | list[float] | None = None) -> TrialResult:
    """The record a job hands back from its run's summary (the one ``summary.json`` is written
    from): the objective ``value`` (None for a pruned or diverged run), the headline figures for
    ``hepsweep report`` and the views, and the facts of the run."""
    return TrialResult(
        value=tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else None if value is None else float(value),
        figures={**summary.metrics, **summary.utilisation, EARLY_STOPPED: summary.early_stopped},
        facts={
            "gpu_present": bool(summary.utilisation.get("gpu_present")),
            "device": summary.device,
            "model": summary.model,
            "dataset": summary.dataset,
            "batch_size": summary.hyperparameters.get("train.batch_size"),
        },
    )


class TrackedTrial(optuna.trial.Trial):
    """The live trial of a Hydra app of the user's own: each value it reports also goes to
    ``log`` (the trial's MLflow run) as the history of the study's objective, step for step,
    as hepsweep's own training logs its per-epoch figures."""

    def __init__(self, study: optuna.Study, trial_id: int, log: Callable[[Mapping[str, float], int], None]) -> None:
        super().__init__(study, trial_id)
        self._log = log
        self._metric = (StudyRecord.of(study).objective_names or ["value"])[0]
        self._logged_steps: set[int] = set()

    def report(self, value: float, step: int) -> None:
        super().report(value, step)
        if step not in self._logged_steps:  # Optuna keeps a step's first value only; so does the run
            self._logged_steps.add(step)
            self._log({self._metric: value}, step)


class AppJob:
    """The job of a Hydra app of the user's own, launched by the hepsweep sweeper: its
    :class:`TrackedTrial` and the tracker of the trial's MLflow run. Records MLflow cannot take
    are spooled in the job's folder, which is noted on the trial for the sweeper's replay."""

    def __init__(self) -> None:
        self.job = TrialJob.from_environment(trial_type=functools.partial(TrackedTrial, log=self.log_metrics))
        self._tracker: Tracker | None = None

    def trial(self) -> optuna.Trial | None:
        return self.job.trial()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._tracker is None:
            output_dir = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
            if output_dir:  # where the sweeper finds the spool
                self.job.record_folder(output_dir)
            self._tracker = self.job.trial_tracker(output_dir, background=True) or NullTracker()
        self._tracker.log_metrics(metrics, step=None if step is None else int(step))


def _app_job() -> AppJob | None:
    """The running job's :class:`AppJob`, made once per trial link; None outside a sweep."""
    global _CURRENT
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    if _CURRENT is None or _CURRENT[0] != text:
        _CURRENT = (text, AppJob())
    return _CURRENT[1]


def current_trial() -> optuna.Trial | None:
    """The ``optuna.Trial`` of the running job when launched by the hepsweep sweeper, else None;
    the values it reports also reach the trial's MLflow run."""
    job = _app_job()
    return job.trial() if job is not None else None


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log ``metrics`` to the MLflow run of the running job's trial (``step``: a point of their
    history, e.g. the epoch); nothing outside a hepsweep sweep or when the study is not tracked."""
    job = _app_job()
    if job is not None:
        job.log_metrics(metrics, step)


_CURRENT: tuple[str, AppJob] | None = None
