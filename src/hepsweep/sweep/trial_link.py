"""How a launched job finds its Optuna trial and MLflow run: one environment variable.

The sweeper asks Optuna for a trial, creates the trial's MLflow run, and launches the job with
``HEPSWEEP_TRIAL`` set (through ``hydra.job.env_set``, so it reaches the job in-process, in a
worker process or on a SLURM node alike). The job rebuilds the live trial from the shared
storage (:func:`hepsweep.sweep.storage.open_trial`), reports each epoch, and raises
``optuna.TrialPruned`` when told to; the sweeper then records the final state. This module is
the wire format, light enough for Hydra's plugin scan; what a job does with it is
:mod:`hepsweep.job`.

What a job is told, and where its secrets come from, is decided here and nowhere else:

- :meth:`TrialLink.encode` is all a job is told: the study's name, the trial's id, its MLflow
  run, and where the stores are, each URL with its secrets masked (``***``). The link is an
  environment variable: launch lines, ``.hydra`` files and SLURM scripts may show it.
- :func:`job_link` gives the job its link with the real URLs: a masked URL is replaced only by a
  URL of the job's own config (``hydra.sweeper.storage``, ``hydra.sweeper.tracking.uri``, the
  task's ``tracking.uri``) whose masked form it equals; a URL holding no secret (the default
  SQLite files the sweeper derived) is taken as it is. (A SLURM job's config travels masked and
  is made whole from the job's environment before the job reads it:
  ``hydra_plugins.hepsweep_sweeper._submitit_jobs``.)

The security rule: never execute, import or send a secret to anything named by data read back
from a store or an environment variable. Only the user's config decides: a job's passwords and
its pruner (code, with a ``_target_``) come from its own config, never from the link or the
study's storage, which hold masked copies for reading only.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

from hepsweep.errors import ConfigError
from hepsweep.redaction import mask, restore

ENV_VAR = "HEPSWEEP_TRIAL"


@dataclass(frozen=True)
class TrialLink:
    """A job's trial: storage URL, study name, trial id and MLflow store. The trial's MLflow run
    is read from the storage, where the sweeper put it before launching the job."""

    storage: str | None = None
    study: str | None = None
    trial_id: int | None = None
    tracking_uri: str | None = None
    # a job outside the study's trials (the retrained best) names its MLflow run directly
    run_id: str | None = None

    def encode(self) -> str:
        """Short URL-safe text that survives Hydra's override grammar unquoted; URLs masked."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["storage"], values["tracking_uri"] = _masked(self.storage), _masked(self.tracking_uri)
        payload = json.dumps({k: v for k, v in values.items() if v is not None})
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "TrialLink":
        padded = text + "=" * (-len(text) % 4)
        try:
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(values, dict) or not set(values) <= {f.name for f in fields(cls)}:
                raise ValueError(values)
            trial_id = values.get("trial_id")
            if trial_id is not None and (not isinstance(trial_id, int) or isinstance(trial_id, bool) or trial_id < 0):
                raise ValueError(trial_id)
            if not all(isinstance(v, str) for k, v in values.items() if k != "trial_id" and v is not None):
                raise ValueError(values)
            return cls(**values)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise ConfigError(
                f"{ENV_VAR} holds no trial link from the hepsweep sweeper; unset it (only the sweeper sets it)"
            ) from None

    @property
    def in_study(self) -> bool:
        return self.trial_id is not None and self.storage is not None


def _masked(url: str | None) -> str | None:
    return mask(url) if url else url


def job_link(text: str | None, sweeper: Mapping[str, Any] | None, task_tracking: Mapping[str, Any] | None = None) -> TrialLink:
    """The link of a job (``text``: its ``HEPSWEEP_TRIAL``, None outside a sweep) with the real
    URLs of the job's own config: ``sweeper``, its ``hydra.sweeper`` node (None when Hydra runs
    no sweep), and ``task_tracking``, the task's ``tracking`` group (hepsweep's app, which also
    governs the study's runs). A masked URL that none of them matches stays masked."""
    link = TrialLink.decode(text) if text else TrialLink()
    if sweeper is None:
        return link
    tracking = sweeper.get("tracking") or {}
    storages = [sweeper.get("storage")]
    tracking_uris = [tracking.get("uri"), (task_tracking or {}).get("uri")]
    return dataclasses.replace(
        link, storage=restore(link.storage, storages), tracking_uri=restore(link.tracking_uri, tracking_uris)
    )
