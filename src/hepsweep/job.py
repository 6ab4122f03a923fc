"""The job side of a trial: what a launched job does with the link the sweeper sent it.

hepsweep's Hydra task (:func:`hepsweep.app.task`) opens the job's :class:`TrialJob`, trains with
its live trial and tracker, and records the run's summary on the trial as training hands it over.
Any other Hydra app gets its trial with :func:`current_trial`::

    import hepsweep, optuna

    @hydra.main(...)
    def app(cfg):
        trial = hepsweep.current_trial()  # None outside a hepsweep sweep
        for epoch in range(1, cfg.epochs + 1):
            score = train_one_epoch()
            if trial is not None:
                trial.report(score, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return score
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hepsweep.sweep.records import TrialRecord
from hepsweep.sweep.storage import open_trial
from hepsweep.sweep.trial_link import ENV_VAR, TrialLink
from hepsweep.tracking import MlflowTracker, NullTracker, Tracker
from hepsweep.tracking.single_run import single_run_tracker
from hepsweep.tracking.spool import SPOOL_NAME
from hepsweep.train.benchmark import HISTORY, RunSummary

log = logging.getLogger(__name__)


class TrialJob:
    """One launched job: its link, restored with the real URLs of the job's own config, and the
    live trial it reports to (None outside a study)."""

    def __init__(self, link: TrialLink, sweeper: Any = None) -> None:
        self.link, self.sweeper = link, sweeper
        self._trial: optuna.Trial | None = None

    @classmethod
    def from_environment(cls, task_config: DictConfig | None = None) -> "TrialJob":
        """The running job's link (``HEPSWEEP_TRIAL``), its masked URLs restored from the job's
        ``hydra.sweeper`` and, for hepsweep's task, its ``tracking.uri`` (which also governs the
        study's runs)."""
        text = os.environ.get(ENV_VAR)
        link = TrialLink.decode(text) if text else TrialLink()
        sweeper = HydraConfig.get().get("sweeper") if HydraConfig.initialized() else None
        if sweeper is not None:
            tracking = sweeper.get("tracking") or {}
            task_uri = task_config.get("tracking", {}).get("uri") if task_config is not None else None
            link = link.restored([sweeper.get("storage")], [tracking.get("uri"), task_uri])
        return cls(link, sweeper)

    def trial(self) -> optuna.Trial | None:
        """The live trial, pruned by the job's own ``hydra.sweeper.pruner``; None outside a study."""
        link = self.link
        if self._trial is None and link.storage is not None and link.trial_id is not None:
            pruner = self.sweeper.get("pruner") if self.sweeper is not None else None
            self._trial = open_trial(link.storage, link.study or "", link.trial_id, pruner)
        return self._trial

    def record_folder(self, output_dir: str | Path) -> None:
        """Note the job's folder (the views and the MLflow back-fill read it) and its SLURM job on its trial."""
        trial = self.trial()
        if trial is not None:
            TrialRecord.write(trial, output_dir=str(Path(output_dir).resolve()))
            if os.environ.get("SLURM_JOB_ID"):  # a sweeper that finds the trial dead cancels this job
                TrialRecord.write(trial, cluster_job=os.environ["SLURM_JOB_ID"])

    def record_summary(self, summary: RunSummary) -> None:
        """Copy the run's headline figures onto the trial, for ``hepsweep report`` and the views."""
        trial = self.trial()
        if trial is None:
            return
        try:
            TrialRecord.write_figures(trial, {**summary.metrics, **summary.utilisation, "early_stopped": summary.early_stopped})
            TrialRecord.write(
                trial,
                gpu_present=bool(summary.utilisation.get("gpu_present")),
                device=summary.device,
                model=summary.model,
                dataset=summary.dataset,
                batch_size=summary.hyperparameters.get("train.batch_size"),
            )
        except Exception as exc:  # the figures are a convenience; the trial's value is what counts
            log.warning("could not record the run's figures on its trial: %s", exc)

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

    @contextlib.contextmanager
    def tracker(self, cfg: DictConfig, sweep: bool, output_dir: str | None = None) -> Iterator[Tracker]:
        """The MLflow tracker of this job: the trial's run inside a sweep (the sweeper ends it),
        a new run of the ``hepsweep-runs`` experiment for a single run, or a null tracker. A
        trial's records that MLflow cannot take (it is away, or the sweeper could not create the
        run) are kept in ``<output_dir>/mlflow_spool.jsonl`` for the sweeper to replay."""
        link = self.link
        if link.tracking_uri and (link.in_study or link.run_id):
            trial = self.trial()
            run_id = link.run_id or (TrialRecord.of(trial).run_id if trial is not None else None)
            spool = Path(output_dir) / SPOOL_NAME if output_dir else None
            yield MlflowTracker(link.tracking_uri, run_id, background=sweep, spool=spool)
            return
        if sweep or not cfg.tracking.enabled:
            yield NullTracker()
            return
        with single_run_tracker(cfg) as tracker:
            yield tracker


def current_trial() -> optuna.Trial | None:
    """The ``optuna.Trial`` of the running job when launched by the hepsweep sweeper, else None."""
    global _CURRENT
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    if _CURRENT is None or _CURRENT[0] != text:
        _CURRENT = (text, TrialJob.from_environment())
    return _CURRENT[1].trial()


_CURRENT: tuple[str, TrialJob] | None = None
