"""A trial whose process keeps dying runs out of ``max_retry``; the study's directions follow
hepsweep's objective or are refused when they contradict it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hepsweep.errors import ConfigError
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.storage import open_storage

from .helpers import PythonLauncher, age_heartbeats
from .test_study import runner


def die(study: optuna.Study, trial: optuna.Trial, folder: Path) -> None:
    """The trial's process beats once, then is killed: its heartbeat ages past the grace period
    and the sweeper's check finds it stale."""
    open_storage(f"sqlite:///{folder / 'optuna.db'}", 1, 2).record_heartbeat(trial._trial_id)
    age_heartbeats(folder / "optuna.db")
    optuna.storages.fail_stale_trials(study)
    assert study._storage.get_trial(trial._trial_id).state != TrialState.RUNNING


def study_with_a_running_trial(folder: Path, lines: list[str], **settings) -> tuple[optuna.Study, optuna.Trial]:
    study_runner = runner(folder, PythonLauncher(lambda p, t: float(p["x"])), lines=lines, **settings)
    study = study_runner.open_study()
    return study, study.ask(study_runner.space.distributions)


def test_a_trial_that_dies_again_is_not_retried_beyond_max_retry(tmp_path: Path) -> None:
    lines: list[str] = []
    study, first = study_with_a_running_trial(tmp_path, lines, n_trials=4, max_retry=1)
    die(study, first, tmp_path)
    (queued,) = [t for t in study.get_trials() if t.state == TrialState.WAITING]
    assert queued.system_attrs.get("failed_trial") == first.number  # the first death: queued again
    assert lines[-1] == f"trial {first.number} stopped sending heartbeats (its process died): failed, queued again"

    second = study.ask()  # the queued copy starts, and its process dies too
    assert second.number == queued.number and second.params == first.params
    die(study, second, tmp_path)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {first.number: TrialState.FAIL, second.number: TrialState.FAIL}  # nothing queued
    assert lines[-1] == f"trial {second.number} stopped sending heartbeats again: failed, not retried (max_retry)"


def test_max_retry_zero_never_retries(tmp_path: Path) -> None:
    lines: list[str] = []
    study, dead = study_with_a_running_trial(tmp_path, lines, n_trials=2, max_retry=0)
    die(study, dead, tmp_path)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]
    assert "not retried (max_retry)" in lines[-1]


@pytest.mark.parametrize(
    "objective, expected",
    [
        (["val_auc"], "maximize"),
        (["val_loss"], "minimize"),
        (["test_accuracy", "n_params"], ["maximize", "minimize"]),
    ],
)
def test_directions_are_derived_from_hepsweeps_objective(objective: list[str], expected) -> None:
    settings = SweepSettings.from_config({}).with_directions(objective)
    assert settings.direction == expected
    assert settings.directions == (expected if isinstance(expected, list) else [expected])


def test_a_given_direction_that_agrees_is_kept_and_one_that_contradicts_is_refused() -> None:
    agreeing = SweepSettings.from_config({"direction": ["maximize", "minimize"]}).with_directions(["val_auc", "train_time_s"])
    assert agreeing.directions == ["maximize", "minimize"]
    with pytest.raises(ConfigError, match=r"objective=val_loss should be minimized but hydra.sweeper.direction says maximize; set hydra.sweeper.direction=minimize"):
        SweepSettings.from_config({"direction": "maximize"}).with_directions(["val_loss"])
    with pytest.raises(ConfigError, match=r"objective=n_params should be minimized .* says maximize"):
        SweepSettings.from_config({"direction": ["maximize", "maximize"]}).with_directions(["val_auc", "n_params"])
    with pytest.raises(ConfigError, match=r"objective lists 2 metric\(s\) but hydra.sweeper.direction gives 1"):
        SweepSettings.from_config({"direction": "maximize"}).with_directions(["val_auc", "n_params"])


def test_another_apps_objective_leaves_the_direction_alone() -> None:
    """Only hepsweep's objective names have a known direction; other apps keep minimize."""
    for names in (None, [], ["my_metric"], ["val_auc", "my_metric"]):
        settings = SweepSettings.from_config({}).with_directions(names)
        assert settings.direction is None and settings.directions == ["minimize"]


@pytest.mark.e2e
def test_the_command_refuses_a_direction_against_the_objective(tmp_path: Path) -> None:
    from tests.conftest import run_hepsweep

    result = run_hepsweep("-m", "objective=val_loss", "hydra.sweeper.direction=maximize", "model.units=choice(8,16)", cwd=tmp_path)
    assert result.returncode == 2
    assert "objective=val_loss should be minimized but hydra.sweeper.direction says maximize" in result.stderr
    assert not (tmp_path / "outputs" / "optuna.db").exists()  # refused before the study was opened
