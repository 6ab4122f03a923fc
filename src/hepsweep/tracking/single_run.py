"""The MLflow run of one training outside a sweep: ``hepsweep dataset=... model=...`` on the
command line and ``hepsweep.run(cfg)`` in Python log the same way."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

from omegaconf import DictConfig

from hepsweep.config import check_plain_name
from hepsweep.redaction import mask
from hepsweep.tracking import store
from hepsweep.tracking.tracker import MlflowTracker, NullTracker

log = logging.getLogger(__name__)


@contextlib.contextmanager
def single_run_tracker(cfg: DictConfig) -> Iterator[Any]:
    """A new run of ``cfg.tracking.experiment`` (default ``hepsweep-runs``) while the block runs,
    ended FINISHED or FAILED; a null tracker when tracking is off or MLflow cannot be reached."""
    if not cfg.tracking.enabled:
        yield NullTracker()
        return
    uri = cfg.tracking.uri or store.default_tracking_uri(cfg.output_root)
    experiment = cfg.tracking.experiment or store.RUNS_EXPERIMENT
    check_plain_name(experiment, "tracking.experiment")
    try:
        run_id = store.create_run(uri, experiment, f"{cfg.model.name}-{cfg.dataset.name}")
    except Exception as exc:
        log.warning(
            "MLflow tracking is unavailable (%s); the run goes on untracked (tracking.uri=%s)", mask(str(exc)), mask(uri)
        )
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
