"""No configuration is trained twice: across a resume, a rerun and two sweepers on one study."""

from __future__ import annotations

import threading
from pathlib import Path

from optuna.trial import TrialState

from hepsweep.sweep.outcome import budget_used

from .helpers import PythonLauncher
from .test_study import runner

SPACE = {"units": "choice(16, 32, 64, 128)", "lr": "choice(0.1, 0.01, 0.001)"}  # 12 configurations


def configurations(study) -> list[tuple]:
    return [(t.params["units"], t.params["lr"]) for t in study.trials if t.params]


def score(params, trial) -> float:
    return float(params["units"]) * float(params["lr"])


def test_a_resumed_seeded_study_does_not_replay_its_first_trials(tmp_path: Path) -> None:
    tpe = {"name": "tpe", "seed": 7, "n_startup_trials": 10}
    runner(tmp_path, PythonLauncher(score), params=SPACE, sampler=tpe, n_trials=2).run()
    # a new sampler object, as in a new process: the same seed must not replay trials 0 and 1
    study = runner(tmp_path, PythonLauncher(score), params=SPACE, sampler=tpe, n_trials=6).run()
    seen = configurations(study)
    assert len(seen) == 6 and len(set(seen)) == 6


def test_a_fresh_seeded_study_is_reproducible(tmp_path: Path) -> None:
    tpe = {"name": "tpe", "seed": 7}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = runner(tmp_path / "a", PythonLauncher(score), params=SPACE, sampler=tpe, n_trials=5).run()
    second = runner(tmp_path / "b", PythonLauncher(score), params=SPACE, sampler=tpe, n_trials=5).run()
    assert configurations(first) == configurations(second)


def test_two_sweepers_on_one_study_never_train_the_same_configuration(tmp_path: Path) -> None:
    studies = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            launcher = PythonLauncher(score)
            studies.append(runner(tmp_path, launcher, params=SPACE, sampler={"name": "random", "seed": 1}, n_trials=10).run())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    study = studies[0]
    trained = [(t.params["units"], t.params["lr"]) for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(trained) == 10 and len(set(trained)) == 10
    assert budget_used(study.trials) == 10


def test_an_exhausted_finite_space_stops_the_study_with_one_line(tmp_path: Path) -> None:
    lines: list[str] = []
    space = {"units": "choice(16, 32)", "lr": "choice(0.1, 0.01, 0.001)"}  # 6 configurations
    study = runner(tmp_path, PythonLauncher(score), params=space, lines=lines, n_trials=10).run()
    assert len(set(configurations(study))) == 6 and len(study.trials) == 6
    assert any("all 6 configurations of the search space have been tried" in line for line in lines)


def test_a_trial_asked_as_another_sweeper_fills_the_budget_gives_way(tmp_path: Path, monkeypatch) -> None:
    """The race of two sweepers that both see room for one more trial, made deterministic: a
    rival asks (and finishes) a trial between this sweeper's budget check and its own ask."""
    import mlflow
    import optuna

    from hepsweep.sweep.records import TrialRecord

    real_ask = optuna.Study.ask
    rival: list[int] = []

    def ask_after_a_rival(study, *args, **kwargs):
        if not rival and len(study.get_trials(deepcopy=False)) == 2:
            trial = real_ask(study, *args, **kwargs)
            rival.append(trial.number)
            study.tell(trial, 1.0)
        return real_ask(study, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "ask", ask_after_a_rival)
    launcher = PythonLauncher(score)
    tracking = {"enabled": True, "uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    study = runner(tmp_path, launcher, params=SPACE, sampler={"name": "random", "seed": 1}, n_trials=3, tracking=tracking).run()
    assert rival == [2] and len(launcher.calls) == 2  # the budget's last trial was the rival's
    assert budget_used(study.trials) == 3
    (surplus,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert surplus.number == 3 and TrialRecord.of(surplus).fail_kind == "surplus"
    # never launched, so no MLflow run: the back-fill gives the three real trials theirs
    client = mlflow.MlflowClient(tracking["uri"])
    runs = client.search_runs([client.get_experiment_by_name("unit").experiment_id], "tags.`hepsweep.role` = 'trial'")
    assert sorted(r.data.tags["hepsweep.trial"] for r in runs) == ["0", "1", "2"]
