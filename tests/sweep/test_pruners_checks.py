"""Pruners built from the sweeper config decide as Optuna's do: ``patient`` (with its default and
a configured wrapped pruner), ``wilcoxon``, and a ``{_target_: ...}`` class, alone and in a study."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import optuna
import pytest
from optuna.trial import TrialState

from hepsweep.errors import ConfigError
from hepsweep.sweep.samplers import make_pruner

from .helpers import PythonLauncher
from .test_study import runner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def prunes(spec: Any, finished: Sequence[Sequence[float]], curve: Sequence[float]) -> bool:
    """Whether the pruner built from ``spec`` stops a trial that reported ``curve`` (step i: value
    i) in a maximising study whose earlier trials reported ``finished`` and completed."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner(spec))
    for values in finished:
        trial = study.ask()
        for step, value in enumerate(values):
            trial.report(value, step)
        study.tell(trial, values[-1])
    trial = study.ask()
    for step, value in enumerate(curve):
        trial.report(value, step)
    return trial.should_prune()


GOOD = [[1.0] * 4] * 5  # enough finished trials for a default MedianPruner (n_startup_trials=5)
POOR = [[0.0] * 4] * 5


def test_patient_waits_one_step_without_improvement_then_asks_a_median_pruner() -> None:
    assert prunes("median", GOOD, [0.1, 0.2, 0.3])  # a median pruner alone stops this improving trial
    assert not prunes("patient", GOOD, [0.1, 0.2, 0.3])  # patience: it still improves
    assert not prunes("patient", GOOD, [0.4, 0.2])  # one step worse: within patience=1
    assert prunes("patient", GOOD, [0.4, 0.2, 0.1])  # two steps worse, and below the median
    assert not prunes("patient", POOR, [0.4, 0.2, 0.1])  # two steps worse, but above the median


def test_patient_takes_its_patience_and_wrapped_pruner_from_the_config() -> None:
    spec = {"name": "patient", "patience": 2, "wrapped_pruner": {"name": "threshold", "lower": 0.5}}
    assert not prunes(spec, [], [0.9, 0.4, 0.3])  # two steps worse: within patience=2
    assert prunes(spec, [], [0.9, 0.4, 0.3, 0.3])  # three steps worse, under the threshold
    assert not prunes(spec, [], [0.9, 0.8, 0.7, 0.6])  # three steps worse, above the threshold


BEST = [[1.0 + 0.01 * i for i in range(20)]]  # the best trial's score on 20 instances (steps)


def test_wilcoxon_stops_a_trial_that_is_worse_on_the_same_instances() -> None:
    worse = [0.01 * i for i in range(20)]
    better = [2.0 + 0.01 * i for i in range(20)]
    assert prunes({"name": "wilcoxon", "p_threshold": 0.1}, BEST, worse)
    assert not prunes({"name": "wilcoxon", "p_threshold": 0.1}, BEST, better)
    assert not prunes({"name": "wilcoxon", "p_threshold": 1e-9}, BEST, worse)  # its p_threshold is used


def test_a_target_pruner_gets_its_arguments_and_optunas_defaults_for_unset_ones() -> None:
    spec = {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.5}
    assert prunes(spec, [], [0.3]) and not prunes(spec, [], [0.6])
    median = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": None, "n_warmup_steps": 0}
    assert prunes(median, GOOD, [0.1])  # n_startup_trials: null keeps Optuna's 5
    assert not prunes(median, GOOD[:4], [0.1])
    patient = {"_target_": "optuna.pruners.PatientPruner", "patience": 0, "wrapped_pruner": None}
    assert prunes(patient, GOOD, [0.4, 0.2])  # patience 0, wrapping the default median pruner
    with pytest.raises(ConfigError, match=r"ThresholdPruner refused its arguments .* check the keys under pruner"):
        make_pruner({"_target_": "optuna.pruners.ThresholdPruner", "lowest": 0.5})
    with pytest.raises(ConfigError, match=r"cannot import optuna.pruners.NoSuchPruner"):
        make_pruner({"_target_": "optuna.pruners.NoSuchPruner"})


def test_a_study_prunes_with_a_target_pruner_from_its_settings(tmp_path: Path) -> None:
    """The sweeper's config names the class; the study and each job (through its trial link)
    build the same pruner, and only trials whose first epoch trails the threshold stop."""

    def curve(params: dict[str, str], trial: optuna.Trial) -> float:
        x = float(params["x"])
        for epoch in range(4):
            trial.report(x + 0.1 * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x + 0.3

    spec = {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.5}
    study = runner(tmp_path, PythonLauncher(curve), n_trials=8, pruner=spec).run()
    assert isinstance(study.pruner, optuna.pruners.ThresholdPruner)
    states = {t.number: (float(t.params["x"]), t.state, t.last_step) for t in study.trials}
    assert {s for _, s, _ in states.values()} == {TrialState.COMPLETE, TrialState.PRUNED}, states
    for x, state, last_step in states.values():
        if x < 0.5:
            assert state == TrialState.PRUNED and last_step == 0
        else:
            assert state == TrialState.COMPLETE and last_step == 3


def test_a_study_of_several_objectives_runs_without_its_pruner() -> None:
    from hepsweep.sweep.samplers import pruner_spec, study_pruner

    assert pruner_spec({"name": "median"}, 1) == {"name": "median"}
    assert pruner_spec({"name": "median"}, 2) is None
    assert isinstance(study_pruner("median", 1), optuna.pruners.MedianPruner)
    assert isinstance(study_pruner("median", 2), optuna.pruners.NopPruner)
