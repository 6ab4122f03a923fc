"""hydra-optuna-sweeper's example apps and the behaviours its own test suite checks, run with
``hydra/sweeper: hepsweep``: the apps and configs in ``apps/`` are upstream's with only the
sweeper line changed. Tests of a deliberate difference check hepsweep's documented behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hepsweep.sweep.search_space import parse_search_space

APPS = Path(__file__).parent / "apps"

pytestmark = pytest.mark.compat


def run_app(script: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(APPS / script), "--multirun", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def results(sweep_dir: Path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))  # type: ignore[return-value]


def test_the_sweeper_is_discovered_as_a_hydra_plugin() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    found = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)}
    assert "hydra_plugins.hepsweep_sweeper.sweeper.HepsweepSweeper" in found


def test_hydra_s_plugin_scan_imports_neither_the_runner_nor_optuna() -> None:
    """Every Hydra app in the environment scans the plugins at start-up: ours must stay light,
    and the runner must be imported outside the scan (whose catch_warnings drops filters)."""
    probe = (
        "import sys; from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper; "
        "Plugins.instance().discover(Sweeper); "
        "print(sorted(m for m in ('hydra_plugins.hepsweep_sweeper._runner', 'optuna', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "override, expected",
    [
        ("key=choice(1,2)", CategoricalDistribution([1, 2])),
        ("key=choice(true, false)", CategoricalDistribution([True, False])),
        ("key=choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
        ("key=shuffle(range(1,3))", CategoricalDistribution((1, 2))),
        ("key=range(1,3)", IntDistribution(1, 3)),
        ("key=interval(1, 5)", FloatDistribution(1, 5)),
        ("key=int(interval(1, 5))", IntDistribution(1, 5)),
        ("key=tag(log, interval(1, 5))", FloatDistribution(1, 5, log=True)),
        ("key=tag(log, int(interval(1, 5)))", IntDistribution(1, 5, log=True)),
        ("key=range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1)),
    ],
)
def test_a_distribution_from_an_override(override: str, expected) -> None:
    actual = parse_search_space({}, [override]).distributions["key"]
    if isinstance(expected, CategoricalDistribution):
        assert set(actual.choices) == set(expected.choices)
    else:
        assert actual == expected


@pytest.mark.parametrize(
    "overrides, distributions, fixed",
    [
        (["key=choice(1,2)"], {"key": CategoricalDistribution([1, 2])}, {}),
        (["key=5"], {}, {"key": "5"}),
        (["key1=choice(1,2)", "key2=5"], {"key1": CategoricalDistribution([1, 2])}, {"key2": "5"}),
        (
            ["key1=choice(1,2)", "key2=5", "key3=range(1,3)"],
            {"key1": CategoricalDistribution([1, 2]), "key3": IntDistribution(1, 3)},
            {"key2": "5"},
        ),
        (["~z", "+w=1", "~v=3"], {}, {"~z": None, "+w": "1", "~v": "3"}),
    ],
)
def test_params_and_fixed_overrides_from_the_command_line(overrides, distributions, fixed) -> None:
    space = parse_search_space({}, overrides)
    assert space.distributions == distributions and space.fixed == fixed


def test_jobs_run_with_the_basic_launcher_and_sweep_returns_none(hydra_sweep_runner, tmp_path: Path) -> None:
    """Hydra's own sweep test harness (its pytest plugin), on Hydra's test module and config."""
    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=None,
        config_path="configs",
        config_name="compose.yaml",
        overrides=[
            "hydra/sweeper=hepsweep", "hydra/launcher=basic", "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=3",
            "hydra.sweeper.tracking.enabled=false", "+x=choice(1, 2, 3, 4, 5, 6, 7, 8)",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:  # the harness removes its folder on leaving
        assert sweep.returns is None
        study = optuna.load_study(study_name="hepsweep", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
        assert len(study.trials) == 8 and all(t.state.name == "COMPLETE" for t in study.trials)


def test_a_target_node_in_the_sweeper_config_is_built_by_the_sweeper(hydra_sweep_runner, tmp_path: Path) -> None:
    sweep = hydra_sweep_runner(
        calling_file=None, calling_module="hydra.test_utils.a_module", task_function=None,
        config_path="configs", config_name="compose.yaml",
        overrides=[
            "hydra/sweeper=hepsweep", "hydra.sweeper.n_trials=3", "hydra.sweeper.tracking.enabled=false",
            "hydra.sweeper.sampler={_target_: optuna.samplers.RandomSampler, seed: 123}", "+x=interval(0, 1)",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        study = optuna.load_study(study_name="hepsweep", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3


@pytest.mark.parametrize("with_commandline", [True, False])
def test_the_sphere_example(tmp_path: Path, with_commandline: bool) -> None:
    storage = f"sqlite:///{tmp_path / 'test.db'}"
    args = [
        "hydra.sweep.dir=tmp", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=test-optuna-example",
        "hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=123", "~z",
    ]
    if with_commandline:
        args += ["x=choice(0, 1, 2)", "y=0"]
    run_app("sphere.py", *args, cwd=tmp_path)
    returns = results(tmp_path / "tmp")
    study = optuna.load_study(study_name="test-optuna-example", storage=storage)
    best = study.best_trial
    assert returns["name"] == "optuna"
    assert returns["best_params"]["x"] == best.params["x"]
    if with_commandline:
        assert "y" not in returns["best_params"] and "y" not in best.params
    else:
        assert returns["best_params"]["y"] == best.params["y"]
    assert returns["best_value"] == best.value <= 2.27


@pytest.mark.parametrize("n_trials", [10, 1])
def test_the_grid_sampler(tmp_path: Path, n_trials: int) -> None:
    run_app(
        "sphere.py", f"--config-dir={APPS / 'test-conf'}", "--config-name=test_grid", "hydra.job.chdir=False",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'grid.db'}", "hydra.sweeper.study_name=test-grid-sampler",
        cwd=tmp_path,
    )
    best = results(tmp_path / "sweep")["best_params"]
    study = optuna.load_study(study_name="test-grid-sampler", storage=f"sqlite:///{tmp_path / 'grid.db'}")
    assert len(study.trials) == n_trials
    # the grid holds range(-1.0, 1.0, step=1) with its stop, as the distribution upstream builds
    assert best["x"] in (-1, 1) and best["y"] in (-1.0, 0.0, 1.0) and best["z"] in ("foo", "bar")
    configurations = {(t.params["x"], t.params["y"], t.params["z"]) for t in study.trials}
    assert len(configurations) == n_trials  # a grid never repeats a point


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


@pytest.mark.parametrize("with_commandline", [True, False])
def test_the_multi_objective_example(tmp_path: Path, with_commandline: bool) -> None:
    args = [
        "hydra.sweep.dir=tmp", "hydra.job.chdir=True", "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123",
    ]
    if with_commandline:
        args += ["x=range(0, 5)", "y=range(0, 3)"]
    run_app("multi-objective.py", *args, cwd=tmp_path)
    solutions = results(tmp_path / "tmp")["solutions"]
    assert solutions
    for solution in solutions:
        assert isinstance(solution["values"], list) and len(solution["values"]) == 2
        steps = {0} if with_commandline else {0, 0.5}
        assert solution["params"]["x"] % 1 in steps and solution["params"]["y"] % 1 in steps
    for a in solutions:
        assert not any(_dominates(b["values"], a["values"]) for b in solutions)


def test_the_custom_search_space_example(tmp_path: Path) -> None:
    run_app(
        "custom-search-space-objective.py", "hydra.sweep.dir=tmp", "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123", "max_z_difference_from_x=0.3",
        cwd=tmp_path,
    )
    best = results(tmp_path / "tmp")
    assert best["name"] == "optuna"
    assert abs(best["best_params"]["x"] - best["best_params"]["z"]) <= 0.3
    assert 0 <= best["best_params"]["+w"] <= 1


def test_a_custom_search_space_is_resolved_through_hydra_instantiate(tmp_path: Path) -> None:
    from hydra.errors import InstantiationException

    from hepsweep.errors import ConfigError
    from hydra_plugins.hepsweep_sweeper._runner import custom_search_space

    with pytest.raises((ConfigError, InstantiationException), match="blocklisted"):
        custom_search_space("os.system", OmegaConf.create({}), lambda cfg: None)
    extend = custom_search_space("tests.compat.space.suggest_width", OmegaConf.create({"low": 2, "high": 4}), lambda cfg: None)
    trial = optuna.create_study().ask()
    extend(trial)  # the user's function suggests on the trial with the user's config
    assert 2 <= trial.params["width"] <= 4


@pytest.mark.parametrize("max_failure_rate", [0.5, 1.0])
def test_the_failure_rate(tmp_path: Path, max_failure_rate: float) -> None:
    result = run_app(
        "sphere.py", "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=2", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123", f"hydra.sweeper.max_failure_rate={max_failure_rate}", "error=true",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False,
    )
    study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
    assert all(t.state.name == "FAIL" for t in study.trials)
    if max_failure_rate < 1.0:  # the sweep stops and names the error
        assert result.returncode != 0 and "RuntimeError: cfg.error is True" in result.stderr
        assert len(study.trials) == 3
    else:  # failures are allowed: every trial runs
        assert result.returncode == 0 and len(study.trials) == 20
    assert "the basic launcher runs one trial at a time" in result.stderr  # n_jobs=2, said once


def test_max_failure_rate_zero_stops_at_the_first_failure(tmp_path: Path) -> None:
    result = run_app("sphere.py", "error=true", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False)
    study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
    assert result.returncode != 0 and len(study.trials) == 1


def test_the_motpe_sampler_is_refused_with_upstreams_message(tmp_path: Path) -> None:
    result = run_app(
        "multi-objective.py", f"--config-dir={APPS / 'test-conf'}", "--config-name=test_motpe",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False,
    )
    assert result.returncode != 0
    assert "The 'motpe' sampler was removed in Optuna 4.0. Use 'hydra/sweeper/sampler=tpe' instead." in result.stderr


# --- deliberate differences (README: "Coming from hydra-optuna-sweeper") ----------------------


def test_n_trials_is_the_studys_total_budget_and_the_default_storage_persists(tmp_path: Path) -> None:
    args = ["hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.tracking.enabled=false"]
    run_app("sphere.py", *args, cwd=tmp_path)
    run_app("sphere.py", *args, cwd=tmp_path)  # the same command again: the study is complete
    study = optuna.load_study(study_name="sphere", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
    assert len(study.trials) == 4
    assert not (tmp_path / "optuna.db").exists() and not list(tmp_path.glob("*.db"))  # nothing above the sweep dir


def test_a_sweep_that_searches_nothing_runs_one_trial(hydra_sweep_runner, tmp_path: Path) -> None:
    sweep = hydra_sweep_runner(
        calling_file=None, calling_module="hydra.test_utils.a_module", task_function=None,
        config_path="configs", config_name="compose.yaml",
        overrides=["hydra/sweeper=hepsweep", "hydra.sweeper.n_trials=8", "hydra.sweeper.tracking.enabled=false"],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        assert sweep.returns is None
        study = optuna.load_study(study_name="hepsweep", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
        assert len(study.trials) == 1


def test_a_changed_search_space_is_refused(tmp_path: Path) -> None:
    args = ["hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.tracking.enabled=false"]
    run_app("sphere.py", *args, cwd=tmp_path)
    result = run_app("sphere.py", *args, "x=choice(0, 1)", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "was created with another search space" in result.stderr


def test_a_foreign_app_reports_to_its_trial_and_is_pruned(tmp_path: Path) -> None:
    """``hepsweep.current_trial()`` in a user's own Hydra app: steps reach the study and the
    pruner stops the hopeless trials; outside a sweep it is None."""
    storage = f"sqlite:///{tmp_path / 'curve.db'}"
    run_app(
        "pruned-curve.py", "hydra.sweep.dir=sweep", "hydra.sweeper.study_name=curve", f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.n_trials=4", "hydra/sweeper/sampler=grid", "hydra.sweeper.sampler.seed=4",
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1, n_warmup_steps: 0}",
        "hydra.sweeper.tracking.enabled=false", "x=choice(0, 1, 2, 3)", "y=0",
        cwd=tmp_path,
    )
    trials = optuna.load_study(study_name="curve", storage=storage).trials
    # this seed's grid starts with the best x, so every later trial is worse at its first step
    assert [t.params["x"] for t in trials][0] == 0 and sorted(t.params["x"] for t in trials) == [0, 1, 2, 3]
    assert trials[0].state == optuna.trial.TrialState.COMPLETE and sorted(trials[0].intermediate_values) == list(range(1, 9))
    for trial in trials[1:]:
        assert trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values == {1: trial.params["x"] ** 2 + 7}
    alone = subprocess.run(
        [sys.executable, str(APPS / "pruned-curve.py"), "hydra.run.dir=single"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert alone.returncode == 0 and "trial: none" in alone.stdout, alone.stderr[-2000:]
