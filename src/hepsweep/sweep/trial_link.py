"""How a launched job finds its Optuna trial and MLflow run: one environment variable.

The sweeper asks Optuna for a trial, creates the trial's MLflow run, and launches the job with
``HEPSWEEP_TRIAL`` set (through ``hydra.job.env_set``, so it reaches the job in-process, in a
joblib worker or on a SLURM node alike). The job rebuilds the live trial from the shared
storage, reports each epoch, and raises ``optuna.TrialPruned`` when told to; the sweeper then
records the final state.

The link holds no secret (its URLs are masked) and names no code: the job takes the real URLs
and the pruner from its own config (``hydra.sweeper``), never from the environment or the store. Any Hydra app can do the same with :func:`current_trial`::

    import hepsweep, optuna

    @hydra.main(...)
    def app(cfg):
        trial = hepsweep.current_trial()  # None outside a hepsweep sweep
        for epoch in range(cfg.epochs):
            score = train_one_epoch()
            if trial is not None:
                trial.report(score, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return score
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

from omegaconf import DictConfig

from hepsweep.errors import ConfigError
from hepsweep.redaction import mask, restore
from hepsweep.tracking.single_run import single_run_tracker

log = logging.getLogger(__name__)

ENV_VAR = "HEPSWEEP_TRIAL"
PRUNER_ATTR = "hepsweep.pruner"
TRACKING_URI_ATTR = "hepsweep.tracking_uri"
RUN_ATTR = "mlflow_run_id"


@dataclass
class TrialLink:
    """A job's trial: storage URL, study name, trial id and MLflow store. The trial's MLflow run
    is read from the storage, where the sweeper put it before launching the job."""

    storage: str | None = None
    study: str | None = None
    trial_id: int | None = None
    tracking_uri: str | None = None
    # a job outside the study's trials (the retrained best) names its MLflow run directly
    run_id: str | None = None
    # the job's own ``hydra.sweeper`` config (its pruner, its real URLs); never sent
    sweeper: Any = field(default=None, repr=False, compare=False, metadata={"local": True})
    _trial: Any = field(default=None, repr=False, compare=False, metadata={"local": True})

    def encode(self) -> str:
        """Short URL-safe text that survives Hydra's override grammar unquoted."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("local")}
        values["storage"], values["tracking_uri"] = _masked(self.storage), _masked(self.tracking_uri)
        payload = json.dumps({k: v for k, v in values.items() if v is not None})
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "TrialLink":
        padded = text + "=" * (-len(text) % 4)
        try:
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
            wire = {f.name for f in fields(cls) if not f.metadata.get("local")}
            if not isinstance(values, dict) or not set(values) <= wire:
                raise ValueError(values)
            return cls(**values)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise ConfigError(
                f"{ENV_VAR} holds no trial link from the hepsweep sweeper; unset it (only the sweeper sets it)"
            ) from None

    @classmethod
    def from_environment(cls, task_config: DictConfig | None = None) -> "TrialLink":
        """The job's link, its masked URLs restored from the job's own config (``hydra.sweeper``
        and, for hepsweep's task, its ``tracking.uri``, which also governs the study's runs)."""
        text = os.environ.get(ENV_VAR)
        link = cls.decode(text) if text else cls()
        sweeper = link.sweeper = _sweeper_config()
        if sweeper is not None:
            tracking = sweeper.get("tracking") or {}
            link.storage = restore(link.storage, [sweeper.get("storage")])
            task_uri = task_config.get("tracking", {}).get("uri") if task_config is not None else None
            link.tracking_uri = restore(link.tracking_uri, [tracking.get("uri"), task_uri])
        return link

    @property
    def in_study(self) -> bool:
        return self.trial_id is not None and self.storage is not None

    def trial(self) -> Any:
        """The live ``optuna.Trial`` rebuilt from the shared storage, or None outside a study."""
        if not self.in_study:
            return None
        if self._trial is None:
            import optuna

            from hepsweep.sweep.samplers import make_pruner
            from hepsweep.sweep.storage import open_storage

            assert self.storage is not None and self.trial_id is not None
            storage = open_storage(self.storage)
            directions = storage.get_study_directions(storage.get_study_id_from_name(self.study or ""))
            spec = self.sweeper.get("pruner") if self.sweeper is not None and len(directions) == 1 else None
            study = optuna.load_study(study_name=self.study, storage=storage, pruner=make_pruner(spec))
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial

    def record_summary(self, output_dir: str) -> None:
        """Copy the run's headline figures (summary.json) onto the trial, for ``hepsweep report``."""
        from pathlib import Path

        from hepsweep.sweep.report import TRIAL_METRICS
        from hepsweep.train.benchmark import SUMMARY_JSON, RunSummary

        if not self.in_study:
            return
        try:
            trial = self.trial()
            trial.set_user_attr("output_dir", str(Path(output_dir).resolve()))  # its MLflow spool too
            if not (Path(output_dir) / SUMMARY_JSON).is_file():
                return
            summary = RunSummary.read(Path(output_dir))
            figures = {**summary.metrics, **summary.utilisation, "early_stopped": summary.early_stopped}
            for key in TRIAL_METRICS:
                value = figures.get(key)
                if value is not None and not (isinstance(value, float) and value != value):
                    trial.set_user_attr(key, value)
            trial.set_user_attr("gpu_present", bool(summary.utilisation.get("gpu_present")))
            trial.set_user_attr("device", summary.device)
            trial.set_user_attr("model", summary.model)
            trial.set_user_attr("dataset", summary.dataset)
            trial.set_user_attr("batch_size", summary.hyperparameters.get("train.batch_size"))
        except Exception as exc:  # the figures are a convenience; the trial's value is what counts
            log.warning("could not record the run's figures on its trial: %s", exc)

    @contextlib.contextmanager
    def tracker_for(self, cfg: DictConfig, sweep: bool, output_dir: str | None = None) -> Iterator[Any]:
        """The MLflow tracker of this job: the trial's run inside a sweep (the sweeper ends it),
        a new run of the ``hepsweep-runs`` experiment for a single run, or a null tracker. A
        trial's records that MLflow cannot take (it is away, or the sweeper could not create the
        run) are kept in ``<output_dir>/mlflow_spool.jsonl`` for the sweeper to replay."""
        from pathlib import Path

        from hepsweep.tracking import MlflowTracker, NullTracker
        from hepsweep.tracking.spool import SPOOL_NAME

        if self.tracking_uri and (self.in_study or self.run_id):
            trial = self.trial()
            run_id = self.run_id or (trial.user_attrs.get(RUN_ATTR) if trial is not None else None)
            spool = Path(output_dir) / SPOOL_NAME if output_dir else None
            yield MlflowTracker(self.tracking_uri, run_id, background=sweep, spool=spool)
            return
        if sweep or not cfg.tracking.enabled:
            yield NullTracker()
            return
        with single_run_tracker(cfg) as tracker:
            yield tracker


def _masked(url: str | None) -> str | None:
    return mask(url) if url else url


def _sweeper_config() -> Any:
    """The job's ``hydra.sweeper`` node, or None outside a Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().get("sweeper")


def current_trial() -> Any:
    """The ``optuna.Trial`` of the running job when launched by the hepsweep sweeper, else None."""
    global _CACHED
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    if _CACHED is None or _CACHED[0] != text:
        _CACHED = (text, TrialLink.from_environment())
    return _CACHED[1].trial()


_CACHED: tuple[str, TrialLink] | None = None
