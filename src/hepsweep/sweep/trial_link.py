"""How a launched job finds its Optuna trial and MLflow run: one environment variable.

The sweeper asks Optuna for a trial, creates the trial's MLflow run, and launches the job with
``HEPSWEEP_TRIAL`` set (through ``hydra.job.env_set``, so it reaches the job in-process, in a
worker process or on a SLURM node alike). The job rebuilds the live trial from the shared
storage (:func:`hepsweep.sweep.storage.open_trial`), reports each epoch, and raises
``optuna.TrialPruned`` when told to; the sweeper then records the final state. This module is
the wire format, light enough for Hydra's plugin scan; what a job does with it is
:mod:`hepsweep.job`.

The link holds no secret (its URLs are masked) and names no code: the job takes the real URLs
and the pruner from its own config (``hydra.sweeper``), never from the environment or the store.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any, Sequence

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

    def restored(self, storages: Sequence[Any], tracking_uris: Sequence[Any]) -> "TrialLink":
        """The link with its masked URLs replaced by the first of the job's own that matches."""
        return dataclasses.replace(
            self, storage=restore(self.storage, list(storages)), tracking_uri=restore(self.tracking_uri, list(tracking_uris))
        )

    @property
    def in_study(self) -> bool:
        return self.trial_id is not None and self.storage is not None


def _masked(url: str | None) -> str | None:
    return mask(url) if url else url
