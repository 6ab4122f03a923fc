"""Secrets are masked wherever hepsweep writes; stored data never decides what code runs."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import optuna
import pytest

from hepsweep.errors import ConfigError, StudyError
from hepsweep.redaction import mask, mask_data, mask_logs, restore, scrub_hydra_files
from hepsweep.sweep.resume import resume_command
from hepsweep.sweep.samplers import make_pruner, make_sampler
from hepsweep.sweep.settings import SweepSettings
from hepsweep.metrics import Shown, shown_in
from hepsweep.sweep.records import StudyRecord, TrialRecord
from hepsweep.sweep.saved_command import is_allowed
from hepsweep.sweep.storage import open_trial
from hepsweep.sweep.trial_link import TrialLink, job_link

from tests.conftest import run_hepsweep

from .helpers import PythonLauncher
from .test_study import runner, settings

PG = "postgresql+psycopg://alice:pa:ss@word@db.example.org:5432/studies"


@pytest.mark.parametrize(
    "text, expected",
    [
        (PG, "postgresql+psycopg://alice:***@db.example.org:5432/studies"),
        ("uri: http://bob:pw@host:5000 and more", "uri: http://bob:***@host:5000 and more"),
        ("https://host/api?user=a&token=abc123&x=1", "https://host/api?user=a&token=***&x=1"),
        ("sqlite:////tmp/outputs/optuna.db", "sqlite:////tmp/outputs/optuna.db"),
        ("http://host:5000/#/experiments/1", "http://host:5000/#/experiments/1"),
        ("mailto user@example.org at 10:30", "mailto user@example.org at 10:30"),
    ],
)
def test_mask_hides_url_passwords_and_secret_query_values(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_masked_urls_are_restored_only_from_the_jobs_own_config() -> None:
    masked = mask(PG)
    assert restore(masked, [None, "sqlite:///x.db", PG]) == PG
    assert restore(masked, ["postgresql+psycopg://alice:other@elsewhere/db"]) == masked
    assert restore("sqlite:///x.db", [PG]) == "sqlite:///x.db"
    assert mask_data({"argv": ["hepsweep", f"hydra.sweeper.storage={PG}"], "n": 3}) == {
        "argv": ["hepsweep", f"hydra.sweeper.storage={masked}"],
        "n": 3,
    }


def test_the_link_a_job_gets_in_its_environment_holds_no_password() -> None:
    link = TrialLink(storage=PG, study="s", trial_id=3, tracking_uri="http://bob:pw@host:5000")
    decoded = TrialLink.decode(link.encode())
    assert decoded.storage == mask(PG) and decoded.tracking_uri == "http://bob:***@host:5000"
    assert "pa:ss@word" not in repr(decoded) and ":pw@" not in repr(decoded)


def test_a_job_takes_its_passwords_from_its_own_config_only() -> None:
    sent = TrialLink(storage=PG, study="s", trial_id=3, tracking_uri="http://bob:pw@host:5000").encode()
    own = {"storage": PG, "tracking": {"uri": None}}
    link = job_link(sent, own, {"uri": "http://bob:pw@host:5000"})
    assert (link.storage, link.tracking_uri, link.study, link.trial_id) == (PG, "http://bob:pw@host:5000", "s", 3)
    # another password in the job's config, or no sweeper config at all: the URL stays masked
    other = job_link(sent, {"storage": "postgresql+psycopg://alice:other@db/hep", "tracking": {}})
    assert other.storage == mask(PG) and other.tracking_uri == "http://bob:***@host:5000"
    assert job_link(sent, None).storage == mask(PG)
    # a URL with no secret (a default SQLite file) is taken as sent; outside a sweep, no link
    assert job_link(TrialLink(storage="sqlite:///o/optuna.db", trial_id=1).encode(), None).storage == "sqlite:///o/optuna.db"
    assert job_link(None, None) == TrialLink()


def test_hydra_files_and_log_records_are_scrubbed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "hydra.yaml").write_text(f"sweeper:\n  storage: {PG}\n")
    (tmp_path / "multirun.yaml").write_text(f"storage: '{PG}'\n")
    scrub_hydra_files(tmp_path)
    assert "pa:ss@word" not in (tmp_path / ".hydra" / "hydra.yaml").read_text()
    assert "alice:***@db" in (tmp_path / "multirun.yaml").read_text()
    mask_logs()
    with caplog.at_level(logging.INFO):
        logging.getLogger("any.library").info("cannot open %s", PG)
    assert caplog.messages[-1] == f"cannot open {mask(PG)}"


def test_a_pruner_written_into_the_store_is_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1, pruner="median").run()
    StudyRecord.write(study, pruner={"_target_": "os.system", "command": f"touch {marker}"})
    trial = study.ask()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    job_trial = open_trial(url, study.study_name, trial._trial_id, "median")  # what the job's own config says
    assert isinstance(job_trial.study.pruner, optuna.pruners.MedianPruner)
    assert not marker.exists()
    # a job whose config names no pruner gets hepsweep's default, never the stored one
    bare = open_trial(url, study.study_name, trial._trial_id)
    assert isinstance(bare.study.pruner, optuna.pruners.MedianPruner) and not marker.exists()
    off = open_trial(url, study.study_name, trial._trial_id, "none")
    assert isinstance(off.study.pruner, optuna.pruners.NopPruner) and not marker.exists()


def test_a_target_must_name_an_optuna_class(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    with pytest.raises(ConfigError, match="is not an Optuna pruner"):
        make_pruner({"_target_": "os.system", "command": f"touch {marker}"})
    with pytest.raises(ConfigError, match="is not an Optuna sampler"):
        make_sampler({"_target_": "subprocess.Popen", "args": ["touch", str(marker)]})
    assert not marker.exists()
    assert isinstance(make_pruner({"_target_": "optuna.pruners.MedianPruner"}), optuna.pruners.MedianPruner)


def test_resume_runs_only_hepsweep_with_harmless_saved_arguments(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1).run()
    good = {"argv": ["hepsweep", "-m", "sweep=quickstart", "model.units=8"], "cwd": "/elsewhere", "python": "/tmp/evil"}
    study.set_user_attr("hepsweep.command", good)
    command = resume_command(study, url)
    assert command[0] == sys.executable and "hepsweep" in command and "model.units=8" in command
    assert "/elsewhere" not in " ".join(command) and "/tmp/evil" not in " ".join(command)
    attacks = {
        "evil.py": ["/tmp/evil.py", "-m"],
        "_target_": ["hepsweep", "-m", "+hydra.launcher._target_=os.system"],
        "--config-dir": ["hepsweep", "-m", "--config-dir", "/tmp/evil"],
        "hydra.searchpath": ["hepsweep", "-m", "hydra.searchpath=[file:///tmp/evil]"],
        "password, saved masked": ["hepsweep", "-m", "hydra.sweeper.tracking.uri='http://bob:***@host'"],
        "hydra.launcher.setup": ["hepsweep", "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.setup=['touch /tmp/PWNED']"],
        "hydra.sweep.dir": ["hepsweep", "-m", "hydra.sweep.dir=/anywhere"],
    }
    for message, argv in attacks.items():
        study.set_user_attr("hepsweep.command", {"argv": argv, "cwd": str(tmp_path)})
        with pytest.raises(StudyError, match=re.escape(message)):
            resume_command(study, url)


SAFE = [
    "-m", "--multirun", "sweep=quickstart", "model=cnn", "hydra/launcher=submitit_slurm", "~approach",
    "+approach=cms_resnet", "model.units=8", "optimizer.lr=1e-3", "dataset.classes=[pion,proton]",
    "hydra.sweeper.params.model.units='choice(8, 16)'", "hydra.sweeper.params.optimizer.lr=tag(log, interval(1e-4, 1e-2))",
    "hydra.sweeper.n_trials=5", "hydra.sweeper.sampler=tpe", "hydra.sweeper.sampler.seed=3", "hydra.sweeper.direction=[maximize,minimize]",
    "hydra.sweeper.tracking.experiment=hep", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=60", "objective=val_auc",
]  # fmt: skip
UNSAFE = [
    "--config-dir=/tmp/x", "-cd", "--config-name=evil", "hydra.launcher.setup=['touch /tmp/PWNED']", "hydra.sweep.dir=/anywhere",
    "hydra.run.dir=/anywhere", "hydra.searchpath=[file:///tmp]", "hydra.callbacks.x._target_=os.system",
    "+hydra.job.env_set.LD_PRELOAD=evil.so", "hydra/job_logging=none", "hydra.job_logging.handlers.x.filename=/x",
    "output_root=/anywhere", "dataset.path=/etc/passwd", "dataset.cache_dir=/x", "tracking.uri=file:///x",
    "hydra.sweeper.storage=sqlite:////x.db", "hydra.sweeper.custom_search_space=os.system",
    "hydra.sweeper.retrain_overrides=[hydra.sweep.dir=/x]", "hydra.sweeper.sampler._target_=os.system",
    "model.activation=${oc.env:AWS_SECRET_ACCESS_KEY}", "model=../../evil", "sweep=/tmp/evil", "model.units=~/x",
    "hydra.sweeper.params.dataset.path=choice(/a,/b)", "hydra.launcher.additional_parameters={wrap:evil}",
    "model.units=8\nevil", "hydra.job.chdir=true",
]  # fmt: skip


@pytest.mark.parametrize("argument", SAFE)
def test_resume_keeps_saved_arguments_that_name_no_code_and_no_path(argument: str) -> None:
    assert is_allowed(argument)


@pytest.mark.parametrize("argument", UNSAFE)
def test_resume_refuses_saved_arguments_that_could_name_code_or_a_path(argument: str) -> None:
    assert not is_allowed(argument)


def test_the_user_gives_again_what_resume_does_not_take_from_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1).run()
    argv = ["hepsweep", "-m", "sweep=quickstart", "dataset.path=/data/hepmass.csv", "hydra.sweeper.storage=sqlite:////x.db"]
    study.set_user_attr("hepsweep.command", {"argv": argv})
    with pytest.raises(StudyError, match=r"\(dataset.path=/data/hepmass.csv\).*hepsweep resume unit KEY=VALUE"):
        resume_command(study, url)
    command = resume_command(study, url, n_trials=4, overrides=["dataset.path=mine.csv"])
    assert command[command.index("--multirun") :] == [
        "--multirun", "sweep=quickstart", "dataset.path=mine.csv", f"hydra.sweeper.storage='{url}'", "hydra.sweeper.n_trials=4",
    ]  # fmt: skip


def test_resume_runs_neither_the_saved_folder_nor_the_saved_interpreter(tmp_path: Path) -> None:
    """The stored cwd holds a ``hepsweep/__main__.py`` (python -m hepsweep there would run it), the
    stored interpreter is a script: resume runs hepsweep's own code in the user's folder."""
    marker = tmp_path / "owned"
    trap = tmp_path / "trap"
    (trap / "hepsweep").mkdir(parents=True)
    (trap / "hepsweep" / "__main__.py").write_text(f"open({str(marker)!r}, 'w')\n")
    (trap / "python").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (trap / "python").chmod(0o755)
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1).run()
    # a saved sweep that stops at once (no such study file): enough to see what runs
    study.set_user_attr("hepsweep.command", {"argv": ["hepsweep", "-m", "sweep=nosuchsweep"], "cwd": str(trap), "python": str(trap / "python")})
    for folder in (tmp_path, trap):  # the user's own folder, then the one the store names
        storage = f"sqlite:///{tmp_path / 'optuna.db'}"
        result = run_hepsweep("resume", "unit", "--storage", storage, "model.units=8", cwd=folder)  # overrides after options
        assert result.returncode == 2 and "sweep=nosuchsweep is not a known option" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_attributes_that_hepsweep_did_not_write_are_ignored_with_one_warning(tmp_path: Path) -> None:
    """``{"_target_": ...}`` written into every study and trial attribute: report, resume and the
    records read None for each, with one warning, and nothing is imported."""
    import json
    import sqlite3

    marker = tmp_path / "owned"
    evil = {"_target_": "os.system", "command": f"touch {marker}"}
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=2).run()
    for key in StudyRecord.keys().values():
        study.set_user_attr(key, evil)
    with sqlite3.connect(tmp_path / "optuna.db") as connection:  # finished trials: only outside Optuna
        for trial in study.trials:
            for key in {*TrialRecord.keys().values(), *shown_in(Shown.REPORT)}:
                connection.execute("DELETE FROM trial_user_attributes WHERE trial_id=? AND key=?", (trial._trial_id, key))
                connection.execute(
                    "INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, ?, ?)",
                    (trial._trial_id, key, json.dumps(evil)),
                )
    study = optuna.load_study(study_name="unit", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert all(v is None for v in vars(StudyRecord.of(study)).values())
    assert all(v is None for v in vars(TrialRecord.of(study.trials[0])).values())
    assert TrialRecord.figures(study.trials[0]) == {}
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    report = run_hepsweep("report", "unit", "--storage", storage, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr and report.stderr.count("ignoring the") == 1
    assert "_target_" not in report.stdout and "trial    state best" in report.stdout
    resumed = run_hepsweep("resume", "unit", "--storage", storage, cwd=tmp_path)
    assert resumed.returncode == 2 and "holds no command saved by the hepsweep sweeper" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    drone = run_hepsweep("drone", "unit", "--storage", storage, cwd=tmp_path)  # the best trial's folder reads as absent
    assert drone.returncode == 2 and "left no checkpoint" in drone.stderr and "Traceback" not in drone.stderr
    assert not marker.exists()


@pytest.mark.parametrize("key, name", [("study_name", ".."), ("study_name", "a/b"), ("study_name", "~x")])
def test_study_names_that_are_paths_are_refused(tmp_path: Path, key: str, name: str) -> None:
    with pytest.raises(ConfigError, match="not a plain name"):
        settings(tmp_path, **{key: name})


def test_experiment_names_that_are_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tracking.experiment='../../x' is not a plain name"):
        SweepSettings.from_config({"tracking": {"experiment": "../../x"}})


def _link_text(values: dict) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [{"trial_id": "abc"}, {"trial_id": True}, {"trial_id": -1}, {"storage": 5}, {"study": {"_target_": "os.system"}}, [1]],
)
def test_a_trial_link_of_the_wrong_shape_is_refused(values) -> None:
    with pytest.raises(ConfigError, match="HEPSWEEP_TRIAL holds no trial link"):
        TrialLink.decode(_link_text(values))


def test_a_trial_link_to_a_trial_the_store_does_not_hold_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = runner(tmp_path, PythonLauncher(lambda p, t: float(p["x"])), n_trials=1).run()
    other = optuna.create_study(study_name="other", storage=url)
    foreign = other.ask()._trial_id
    live = study.ask()._trial_id
    assert open_trial(url, "unit", live)._trial_id == live
    for study_name, trial_id in (("nosuchstudy", live), ("unit", 9999), ("unit", foreign)):
        with pytest.raises(StudyError, match=f"names trial {trial_id} of study '{study_name}', which .* does not hold"):
            open_trial(url, study_name, trial_id)
