"""The sweeper settings, and how a hepsweep task's tracking group governs the study's MLflow runs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from hepsweep.errors import ConfigError
from hepsweep.sweep.settings import SweepSettings, study_settings

APP = """
import hydra


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg):
    return float(cfg.x) ** 2


if __name__ == "__main__":
    main()
"""

CONFIG = """
defaults:
  - override hydra/sweeper: hepsweep

hydra:
  sweep:
    dir: {sweep_dir}
  sweeper:
    study_name: follow
    direction: minimize
    n_trials: 1
    params:
      x: choice(1, 2)

x: 1
tracking:
  enabled: {enabled}
  uri: {uri}
  experiment: {experiment}
"""


def sweep_with_task_tracking(tmp_path: Path, **tracking: object) -> Path:
    """Run a one-trial study of a plain Hydra app whose config has a ``tracking`` group (as
    hepsweep's task config has) through ``--multirun``; returns the sweep folder."""
    sweep_dir = tmp_path / "sweep"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(CONFIG.format(sweep_dir=sweep_dir, **tracking))
    (tmp_path / "app.py").write_text(APP)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "app.py"), "--multirun"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1/1 done" in result.stderr and (sweep_dir / "optuna.db").is_file()
    return sweep_dir


@pytest.mark.e2e
def test_tracking_off_in_the_task_config_switches_the_study_runs_off(tmp_path: Path) -> None:
    sweep_with_task_tracking(tmp_path, enabled="false", uri="null", experiment="null")
    # with tracking on, a study of a plain app keeps its MLflow store next to optuna.db
    assert not list(tmp_path.rglob("mlflow.db")) and not list(tmp_path.rglob("mlartifacts"))


@pytest.mark.e2e
def test_the_task_tracking_uri_fills_an_unset_sweeper_uri(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'task_mlflow.db'}"
    sweep_dir = sweep_with_task_tracking(tmp_path, enabled="true", uri=f"'{uri}'", experiment="from_the_task")
    assert not (sweep_dir / "mlflow.db").exists()  # not the sweeper's default store
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("from_the_task")
    assert experiment is not None and client.get_experiment_by_name("follow") is None
    roles = sorted(r.data.tags.get("hepsweep.role") for r in client.search_runs([experiment.experiment_id]))
    assert roles == ["study", "trial"]


def test_a_study_s_settings_are_built_once_frozen_and_checked_when_derived() -> None:
    task_tracking = {"enabled": True, "uri": "sqlite:///task.db", "experiment": "task", "log_models": "all"}
    sweeper = {"n_jobs": 4, "tracking": {"experiment": "mine"}}
    settings = study_settings(sweeper, objective_names=["val_loss"], task_tracking=task_tracking, one_trial_at_a_time=True)
    assert settings.direction == "minimize" and settings.n_jobs == 1
    assert (settings.tracking.uri, settings.tracking.experiment, settings.tracking.log_models) == ("sqlite:///task.db", "mine", "all")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.n_jobs = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.tracking.enabled = False  # type: ignore[misc]
    with pytest.raises(ConfigError, match="n_jobs=0 must be at least 1"):
        dataclasses.replace(settings, n_jobs=0)
    off = study_settings({}, task_tracking={"enabled": False})
    assert not off.tracking.enabled and study_settings({}).n_jobs == 1 and study_settings({"n_jobs": 3}).n_jobs == 3


def test_misspelt_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"hydra.sweeper has no key\(s\) \['n_trial'\]"):
        SweepSettings.from_config({"n_trial": 3})
    with pytest.raises(ConfigError, match=r"hydra.sweeper.tracking has no key\(s\) \['url'\]"):
        SweepSettings.from_config({"tracking": {"url": "x"}})


def test_choices_that_compare_equal_keep_their_own_override_text() -> None:
    from hepsweep.sweep.search_space import parse_search_space

    space = parse_search_space({"k": "choice(1, true)"})
    assert space.overrides({"k": 1}) == ["k=1"] and space.overrides({"k": True}) == ["k=True"]
