"""How a launched job finds its Optuna trial and MLflow run: one environment variable.

The sweeper asks Optuna for a trial, creates the trial's MLflow run, and launches the job with
``HEPSWEEP_TRIAL`` set (through ``hydra.job.env_set``, so it reaches the job in-process, in a
joblib worker or on a SLURM node alike). The job rebuilds the live trial from the shared
storage, reports each epoch, and raises ``optuna.TrialPruned`` when told to; the sweeper then
records the final state. Any Hydra app can do the same with :func:`current_trial`::

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
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from omegaconf import DictConfig

log = logging.getLogger(__name__)

ENV_VAR = "HEPSWEEP_TRIAL"


@dataclass
class TrialLink:
    """Coordinates of a job's trial: storage, study, trial id, pruner and MLflow run."""

    storage: str | None = None
    study_name: str | None = None
    trial_id: int | None = None
    trial_number: int | None = None
    pruner: Any = None
    tracking_uri: str | None = None
    run_id: str | None = None
    _trial: Any = field(default=None, repr=False, compare=False)

    def encode(self) -> str:
        """URL-safe text that survives Hydra's override grammar unquoted."""
        payload = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "TrialLink":
        padded = text + "=" * (-len(text) % 4)
        return cls(**json.loads(base64.urlsafe_b64decode(padded.encode())))

    @classmethod
    def from_environment(cls) -> "TrialLink":
        text = os.environ.get(ENV_VAR)
        return cls.decode(text) if text else cls()

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

            study = optuna.load_study(
                study_name=self.study_name,
                storage=open_storage(self.storage),
                pruner=make_pruner(self.pruner),
            )
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial

    @contextlib.contextmanager
    def tracker_for(self, cfg: DictConfig, sweep: bool) -> Iterator[Any]:
        """The MLflow tracker of this job: the trial's run inside a sweep (the sweeper ends it),
        a new run of the ``hepsweep-runs`` experiment for a single run, or a null tracker."""
        from hepsweep.tracking import MlflowTracker, NullTracker

        if self.run_id and self.tracking_uri:
            yield MlflowTracker(self.tracking_uri, self.run_id)
            return
        if sweep or not cfg.tracking.enabled:
            yield NullTracker()
            return
        yield from _single_run_tracker(cfg)


def _single_run_tracker(cfg: DictConfig) -> Iterator[Any]:
    from hepsweep.tracking import MlflowTracker, NullTracker, store

    uri = cfg.tracking.uri or store.default_tracking_uri(cfg.output_root)
    experiment = cfg.tracking.experiment or store.RUNS_EXPERIMENT
    try:
        run_id = store.create_run(uri, experiment, f"{cfg.model.name}-{cfg.dataset.name}")
    except Exception as exc:
        log.warning("MLflow tracking is unavailable (%s); the run goes on untracked (tracking.uri=%s)", exc, uri)
        yield NullTracker()
        return
    status = "FAILED"
    try:
        yield MlflowTracker(uri, run_id)
        status = "FINISHED"
    finally:
        try:
            store.end_run(uri, run_id, status)
        except Exception as exc:
            log.warning("could not end MLflow run %s (%s)", run_id, exc)


def current_trial() -> Any:
    """The ``optuna.Trial`` of the running job when launched by the hepsweep sweeper, else None."""
    global _CACHED
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    if _CACHED is None or _CACHED[0] != text:
        _CACHED = (text, TrialLink.decode(text))
    return _CACHED[1].trial()


_CACHED: tuple[str, TrialLink] | None = None
