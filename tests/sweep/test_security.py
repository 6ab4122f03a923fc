"""Secrets are masked wherever hepsweep writes; stored data never decides what code runs."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from hepsweep.errors import ConfigError, StudyError
from hepsweep.redaction import mask, mask_data, mask_logs, restore, scrub_hydra_files
from hepsweep.sweep.resume import resume_command
from hepsweep.sweep.samplers import make_pruner, make_sampler
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.records import StudyRecord
from hepsweep.sweep.storage import open_trial
from hepsweep.sweep.trial_link import TrialLink

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
    bare = open_trial(url, study.study_name, trial._trial_id)
    assert isinstance(bare.study.pruner, optuna.pruners.NopPruner) and not marker.exists()


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
    good = {"argv": ["hepsweep", "-m", "sweep=quickstart", "model.units=8"], "cwd": str(tmp_path)}
    study.set_user_attr("hepsweep.command", good)
    command, cwd = resume_command(study, url)
    assert command[1:3] == ["-m", "hepsweep"] and "model.units=8" in command and cwd == str(tmp_path)
    attacks = {
        "evil.py, not hepsweep": ["/tmp/evil.py", "-m"],
        "_target_": ["hepsweep", "-m", "+hydra.launcher._target_=os.system"],
        "--config-dir": ["hepsweep", "-m", "--config-dir", "/tmp/evil"],
        "hydra.searchpath": ["hepsweep", "-m", "hydra.searchpath=[file:///tmp/evil]"],
        "password, saved masked": ["hepsweep", "-m", "hydra.sweeper.tracking.uri='http://bob:***@host'"],
    }
    for message, argv in attacks.items():
        study.set_user_attr("hepsweep.command", {"argv": argv, "cwd": str(tmp_path)})
        with pytest.raises(StudyError, match=message):
            resume_command(study, url)


@pytest.mark.parametrize("key, name", [("study_name", ".."), ("study_name", "a/b"), ("study_name", "~x")])
def test_study_names_that_are_paths_are_refused(tmp_path: Path, key: str, name: str) -> None:
    with pytest.raises(ConfigError, match="not a plain name"):
        settings(tmp_path, **{key: name})


def test_experiment_names_that_are_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tracking.experiment='../../x' is not a plain name"):
        SweepSettings.from_config({"tracking": {"experiment": "../../x"}})
