"""A study's winner: `hepsweep export` and `hepsweep register` on a study whose trials point at
real run folders and MLflow runs; pyfunc on a DataFrame; versions and the champion alias as the
best changes; every refusal as one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from hepsweep.cli import main
from hepsweep.export.exporter import check_events
from hepsweep.export.serving import load_run
from hepsweep.sweep.observers import StudyEnd
from hepsweep.sweep.records import StudyRecord, TrialRecord
from hepsweep.sweep.registry import CHAMPION, ModelRegistryObserver, VersionTag, register_best
from hepsweep.tracking import store

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small trained HEPMASS MLP run folder."""
    from hepsweep.app import compose_config
    from hepsweep.train import run
    from omegaconf import open_dict

    cfg = compose_config(["tracking=off", "train.epochs=1", "train.tensorboard=false", "train.progress=false",
                          "train.plots=false", "device=cpu", "model.units=8", "model.n_layers=1"])
    root = tmp_path_factory.mktemp("winner")
    with open_dict(cfg):
        cfg.output_root = str(root / "outputs")
        cfg.dataset.n_events = 500
    return run(cfg, output_dir=root / "run", emit=lambda _: None).output_dir


class Study:
    """An Optuna study with hepsweep's record, trials told by hand, each with an MLflow run."""

    def __init__(self, tmp_path: Path, name: str = "winners") -> None:
        self.storage = f"sqlite:///{tmp_path / 'optuna.db'}"
        self.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        self.study = optuna.create_study(study_name=name, storage=self.storage, direction="maximize")
        StudyRecord.write(self.study, tracking_uri=self.uri, objective_names=["val_auc"])

    def trial(self, value: float | None, folder: Path | None, state: str = "complete") -> int:
        trial = self.study.ask()
        run_id = store.create_run(self.uri, self.study.study_name, f"trial-{trial.number}")
        TrialRecord.write(trial, run_id=run_id, output_dir=str(folder) if folder else None)
        trial.set_user_attr("test_auc", 0.7)
        if state == "pruned":
            trial.report(0.5, 1)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif state == "failed":
            TrialRecord.write(trial, fail_reason="NaN loss in epoch 1")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)
        return trial.number


def hepsweep(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command in this process: its exit code, stdout, and its own stderr lines (those
    of MLflow's logger, which the test's stores make, left out)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, "".join(line for line in err.splitlines(keepends=True) if " INFO mlflow." not in line)


def test_export_takes_the_best_complete_trial_and_logs_latency_on_its_run(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = Study(tmp_path)
    study.trial(0.6, folder)
    best = study.trial(0.8, folder)
    study.trial(None, folder, "pruned")
    code, out, err = hepsweep(capsys, "export", "winners", "--storage", study.storage, "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert f"exported winners-trial{best} as onnx" in out and "onnxruntime" in out and "drone" in out
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["trial"]) == best and meta["study"] == "winners" and json.loads(meta["objective_value"]) == 0.8
    run_id = TrialRecord.of(study.study.trials[best]).run_id
    metrics = store.client(study.uri).get_run(run_id).data.metrics
    assert {"latency_us_per_event_keras_batch1", "latency_us_per_event_onnxruntime_batch1024"} <= set(metrics)


@pytest.mark.parametrize(
    ("states", "args", "message"),
    [
        ([], [], "study 'winners' has no complete trial to export (no trials)"),
        (["pruned", "failed"], [], "has no complete trial to export (1 pruned, 1 failed)"),
        (["complete", "pruned"], ["--trial", "1"], "trial 1 of study 'winners' was pruned after epoch 1"),
        (["complete", "failed"], ["--trial", "1"], "trial 1 of study 'winners' failed (NaN loss in epoch 1) and holds no finished model"),
        (["complete"], ["--trial", "7"], "study 'winners' has no trial 7"),
        (["complete"], ["--format", "tflite"], "unknown export format 'tflite'; use one of onnx, keras, drone"),
    ],
)
def test_export_refusals_are_one_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      states: list[str], args: list[str], message: str) -> None:
    study = Study(tmp_path)
    for state in states:
        study.trial(0.7, folder, state)
    code, out, err = hepsweep(capsys, "export", "winners", "--storage", study.storage, "-o", str(tmp_path / "out"), *args)
    assert code == 2 and err.startswith("hepsweep: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_export_to_an_unwritable_folder_is_one_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = hepsweep(capsys, "export", str(folder), "-o", str(tmp_path / "file" / "out"))
    assert code == 2 and "cannot write the export folder" in err and err.count("\n") == 1


def test_a_logged_model_predicts_on_a_dataframe_of_raw_features(folder: Path, tmp_path: Path) -> None:
    import mlflow

    study = Study(tmp_path)
    study.trial(0.8, folder)
    version = register_best(study.study, "hep-classifier")
    run = load_run(folder)
    raw, expected = check_events(run, 100)
    frame = pd.DataFrame(raw.astype(np.float64), columns=run.preprocessing.features)
    mlflow.set_tracking_uri(study.uri)
    model = mlflow.pyfunc.load_model(f"models:/hep-classifier@{CHAMPION}")
    got = np.asarray(model.predict(frame))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    features = run.preprocessing.features
    assert version.version == "1" and model.metadata.metadata["features"] == features and len(features) == 28
    np.testing.assert_allclose(np.asarray(model.predict(frame[features[::-1]])), expected, atol=1e-5)  # read by name
    with pytest.raises(Exception, match="mass"):
        model.predict(frame.drop(columns=["mass"]))
    assert model.metadata.get_input_schema().input_names() == features
    assert model.metadata.saved_input_example_info is not None


def test_the_champion_moves_with_the_best_and_a_trial_is_registered_once(folder: Path, tmp_path: Path) -> None:
    study = Study(tmp_path)
    observer = ModelRegistryObserver(study.uri, "best", "hep-classifier", emit=lambda _: None)
    client = store.client(study.uri)

    def finish(value: float) -> None:
        number = study.trial(value, folder)
        observer.trial_finished(study.study, study.study.trials[number])

    finish(0.6)  # trial 0: the first best
    finish(0.5)  # trial 1: worse, no version
    finish(0.9)  # trial 2: the new best
    observer.study_finished(study.study, StudyEnd())  # the models are logged on a thread of their own
    versions = sorted(client.search_model_versions("name = 'hep-classifier'"), key=lambda v: int(v.version))
    assert [v.tags[VersionTag.TRIAL] for v in versions] == ["0", "2"]
    assert client.get_model_version_by_alias("hep-classifier", CHAMPION).version == versions[-1].version
    assert versions[-1].tags[VersionTag.VALUE] == "0.9" and versions[-1].tags["hepsweep.test_auc"] == "0.7"
    assert versions[-1].tags[VersionTag.STUDY] == "winners" and versions[-1].tags[VersionTag.OBJECTIVE] == "val_auc"
    assert register_best(study.study, "hep-classifier").version == str(versions[-1].version)  # no second version
    assert register_best(study.study, "hep-classifier", number=0).version == "1"  # the alias back to trial 0
    assert str(client.get_model_version_by_alias("hep-classifier", CHAMPION).version) == "1"
    assert len(client.search_model_versions("name = 'hep-classifier'")) == 2
    assert not store.client(study.uri).search_logged_models(
        experiment_ids=[client.get_run(TrialRecord.of(study.study.trials[1]).run_id).info.experiment_id],
        filter_string=f"source_run_id = '{TrialRecord.of(study.study.trials[1]).run_id}'",
    )  # only the best trials logged a model


def test_register_on_the_command_line_and_no_empty_registered_model_on_failure(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = Study(tmp_path)
    study.trial(0.9, tmp_path / "gone")  # the best trial's folder was deleted: no model to log
    code, _, err = hepsweep(capsys, "register", "winners", "hep-classifier", "--storage", study.storage)
    assert code == 2 and "left no checkpoint/model.keras" in err
    assert store.client(study.uri).search_registered_models() == []
    study.trial(0.5, folder)
    code, out, err = hepsweep(capsys, "register", "winners", "hep-classifier", "--storage", study.storage, "--trial", "1")
    assert code == 0, err
    assert "as hep-classifier version 1 (alias champion)" in out and "models:/hep-classifier@champion" in out


@pytest.mark.parametrize(("setting", "logged"), [("all", [0, 1]), ("best", [0]), ("none", [])])
def test_log_models_decides_which_trials_log_a_model(folder: Path, tmp_path: Path, setting: str, logged: list[int]) -> None:
    from hepsweep.export.mlflow_model import logged_models

    study = Study(tmp_path)
    observer = ModelRegistryObserver(study.uri, setting, None, emit=lambda _: None)
    for value in (0.8, 0.6):
        number = study.trial(value, folder)
        observer.trial_finished(study.study, study.study.trials[number])
    observer.study_finished(study.study, StudyEnd())
    runs = [TrialRecord.of(t).run_id for t in study.study.trials]
    assert [n for n, run_id in enumerate(runs) if logged_models(study.uri, run_id)] == logged
    assert store.client(study.uri).search_registered_models() == []


def test_a_job_logs_its_model_when_it_beats_every_complete_trial_and_the_sweeper_keeps_it(folder: Path, tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from hepsweep.export.mlflow_model import logged_models
    from hepsweep.job import TrialJob
    from hepsweep.sweep.trial_link import TrialLink

    study = Study(tmp_path)
    study.trial(0.8, folder)
    cfg = OmegaConf.create({"tracking": {"log_models": "best"}})

    def job(value: float) -> tuple[optuna.Trial, str]:
        trial = study.study.ask()
        run_id = store.create_run(study.uri, study.study.study_name, f"trial-{trial.number}")
        TrialRecord.write(trial, run_id=run_id, output_dir=str(folder))
        link = TrialLink(storage=study.storage, study=study.study.study_name, trial_id=trial._trial_id, tracking_uri=study.uri)
        TrialJob(link).log_model(cfg, folder, value)
        return trial, run_id

    worse, worse_run = job(0.7)
    better, better_run = job(0.9)
    assert not logged_models(study.uri, worse_run)
    logged = logged_models(study.uri, better_run)
    assert len(logged) == 1
    study.study.tell(worse, 0.7)
    study.study.tell(better, 0.9)
    observer = ModelRegistryObserver(study.uri, "best", None, emit=lambda _: None)
    observer.trial_finished(study.study, study.study.trials[better.number])
    observer.study_finished(study.study, StudyEnd())
    assert [m.model_id for m in logged_models(study.uri, better_run)] == [logged[0].model_id]  # not logged twice

def test_a_name_mlflow_refuses_is_one_line_and_leaves_nothing(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = Study(tmp_path)
    study.trial(0.9, folder)
    code, _, err = hepsweep(capsys, "register", "winners", "bad/name", "--storage", study.storage)
    assert code == 2 and err.startswith("hepsweep: error: MLflow could not register") and err.count("\n") == 1, err
    assert store.client(study.uri).search_registered_models() == []
