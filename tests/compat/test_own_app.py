"""A Hydra app of a user's own under the hepsweep sweeper, run as a user runs it: ``python
app.py -m`` from the app's folder, twice, with the sweeper's defaults for the storage, the MLflow
store and Hydra's dated sweep folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra.core.utils import setup_globals
from omegaconf import OmegaConf

from hepsweep.sweep import study_index
from hydra_plugins.hepsweep_sweeper._runner import lasting_sweep_folder

APPS = Path(__file__).parent / "apps"
STEPS = 5  # tracked-curve.py's

pytestmark = pytest.mark.compat


def run_app(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(APPS / "tracked-curve.py"), "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_an_own_app_s_reports_reach_mlflow_and_the_same_command_continues_its_study(tmp_path: Path) -> None:
    args = ["hydra.sweeper.study_name=own_curve", "hydra.sweeper.n_trials=3", "x=choice(0, 1, 2)", "y=0"]
    first = run_app(tmp_path, *args)
    entry_after_first = json.loads(study_index.index_path().read_text())["own_curve"]
    second = run_app(tmp_path, *args)

    # the study lives above Hydra's dated sweep folders, so the second run continues it
    storage = f"sqlite:///{tmp_path / 'multirun' / 'optuna.db'}"
    assert optuna.get_all_study_names(storage) == ["own_curve"]
    trials = optuna.load_study(study_name="own_curve", storage=storage).trials
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert "0/3 trials already" in first.stderr and "3/3 trials already" in second.stderr
    entry = json.loads(study_index.index_path().read_text())["own_curve"]
    assert entry["storage"] == entry_after_first["storage"] == storage
    assert "warning: the study name" not in first.stderr + second.stderr

    # each trial's MLflow run holds the reported curve (named after the objective) and the logged figure
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'multirun' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("own_curve")
    assert experiment is not None
    runs = {
        int(run.data.tags["hepsweep.trial"]): run
        for run in client.search_runs([experiment.experiment_id], "tags.`hepsweep.role` = 'trial'")
    }
    assert sorted(runs) == [0, 1, 2]
    for trial in trials:
        run_id = runs[trial.number].info.run_id
        curve = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "value"))
        assert curve == sorted(trial.intermediate_values.items())
        assert [step for step, _ in curve] == list(range(1, STEPS + 1))
        distance = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "distance"))
        assert distance == [(step, value**0.5) for step, value in curve]
        assert not list(Path(trial.user_attrs["output_dir"]).glob("mlflow_spool*"))  # all sent, none spooled


    # the name given to a study in another storage: taken over, said aloud
    third = run_app(tmp_path, *args, f"hydra.sweeper.storage=sqlite:///{tmp_path / 'other.db'}", "hydra.sweeper.n_trials=1")
    assert f"warning: the study name own_curve was kept in {storage}" in third.stderr
    assert study_index.stored_at("own_curve") == f"sqlite:///{tmp_path / 'other.db'}"


def test_outside_a_sweep_the_app_runs_without_a_trial_or_tracking(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEPSWEEP_TRIAL"}
    alone = subprocess.run(
        [sys.executable, str(APPS / "tracked-curve.py"), "hydra.run.dir=single"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert not list(tmp_path.rglob("*.db"))


@pytest.mark.parametrize(
    ("sweep_dir", "lasting"),
    [
        ("multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}", "multirun"),  # Hydra's default
        ("sweeps/${now:%Y-%m-%d_%H-%M-%S}/curve", "sweeps"),
        ("/data/${hydra.job.name}/${now:%H-%M-%S}", "/data/app"),
        ("${now:%H-%M-%S}", "."),
        ("sweeps/curve", "sweeps/curve"),  # a sweep dir that names no time holds the stores itself
    ],
)
def test_an_app_s_stores_live_above_its_dated_sweep_folders(sweep_dir: str, lasting: str) -> None:
    setup_globals()  # Hydra's resolvers (now), as in a Hydra run
    config = OmegaConf.create({"hydra": {"job": {"name": "app"}, "sweep": {"dir": sweep_dir}}})
    assert lasting_sweep_folder(config) == Path(lasting)


PROBED_SPHERE = """
import sys

import hydra


@hydra.main(version_base=None, config_path="conf", config_name="config")
def sphere(cfg):
    return cfg.x**2 + cfg.y**2


if __name__ == "__main__":
    sphere()
    heavy = ("tensorflow", "keras", "hepsweep.studies", "hepsweep.train.warm")
    print("imported:", sorted(m for m in heavy if m in sys.modules))
"""


def test_a_plain_app_s_sweep_imports_neither_tensorflow_nor_hepsweep_s_study_views(tmp_path: Path) -> None:
    """The sweeper serves any Hydra app: only hepsweep's own app hands it its reference studies'
    views and its TensorFlow warm-up (the basic launcher runs the jobs in the sweeper's process,
    and Hydra's plugin scan imports hepsweep's launcher module in every app)."""
    shutil.copytree(APPS / "conf", tmp_path / "conf")
    (tmp_path / "app.py").write_text(PROBED_SPHERE)
    args = ["-m", "hydra.sweeper.n_trials=2", "hydra.sweeper.tracking.enabled=false",
            "hydra.sweep.dir=sweep", "+report=hepmass"]
    result = subprocess.run([sys.executable, "app.py", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported: []" in result.stdout, result.stdout[-2000:]
    # the app's own `report` key is no study view of the sweeper's: the plain table of trials
    assert (tmp_path / "sweep" / "optimization_results.yaml").exists()


def test_a_plain_app_s_trials_run_in_hepsweep_s_workers(tmp_path: Path) -> None:
    """A Hydra app that knows nothing of hepsweep, swept with its sweeper and its launcher given
    on the command line: each trial runs in a worker process, which runs Hydra's plugin scan
    again, and its result (with the job's config) comes back to the sweeper."""
    (tmp_path / "app.py").write_text(PROBED_SPHERE)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("x: 1\ny: 1\n")
    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    args = ["-m", "hydra/sweeper=hepsweep", "hydra/launcher=hepsweep", "hydra.sweeper.study_name=plain",
            f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=3", "hydra.sweeper.tracking.enabled=false",
            "hydra.sweep.dir=sweep", "x=range(-2, 2)", "y=choice(0, 1)"]
    result = subprocess.run([sys.executable, "app.py", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="plain", storage=storage).trials
    assert len(trials) == 3
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3, result.stderr[-3000:]
    assert all(t.value == t.params["x"] ** 2 + t.params["y"] ** 2 for t in trials)
