"""The sweeper settings, and how a hepsweep task's tracking group governs the study's MLflow runs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from hepsweep.errors import ConfigError
from hepsweep.sweep.hydra_runner import HydraStudyRunner
from hepsweep.sweep.settings import SweepSettings


def test_tracking_off_in_the_task_config_switches_the_study_runs_off() -> None:
    settings = SweepSettings.from_config({})
    config = OmegaConf.create({"tracking": {"enabled": False, "uri": None, "experiment": None}})
    HydraStudyRunner._follow_task_tracking(SimpleNamespace(config=config), settings)  # type: ignore[arg-type]
    assert settings.tracking.enabled is False


def test_the_task_tracking_uri_fills_an_unset_sweeper_uri() -> None:
    settings = SweepSettings.from_config({})
    config = OmegaConf.create({"tracking": {"enabled": True, "uri": "http://mlflow:5000", "experiment": "exp"}})
    HydraStudyRunner._follow_task_tracking(SimpleNamespace(config=config), settings)  # type: ignore[arg-type]
    assert (settings.tracking.uri, settings.tracking.experiment) == ("http://mlflow:5000", "exp")


def test_misspelt_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"hydra.sweeper has no key\(s\) \['n_trial'\]"):
        SweepSettings.from_config({"n_trial": 3})
    with pytest.raises(ConfigError, match=r"hydra.sweeper.tracking has no key\(s\) \['url'\]"):
        SweepSettings.from_config({"tracking": {"url": "x"}})


def test_choices_that_compare_equal_keep_their_own_override_text() -> None:
    from hepsweep.sweep.search_space import parse_search_space

    space = parse_search_space({"k": "choice(1, true)"})
    assert space.overrides({"k": 1}) == ["k=1"] and space.overrides({"k": True}) == ["k=True"]
