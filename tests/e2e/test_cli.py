"""The ``hepsweep`` command as a user meets it: one run from any folder, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_hepsweep

pytestmark = pytest.mark.e2e

TINY = ["train.epochs=2", "dataset.n_events=1500", "train.batch_size=128"]


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("hepsweep: error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_a_run_from_any_folder_writes_outputs_and_an_mlflow_run(tmp_path: Path) -> None:
    result = run_hepsweep(*TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout and "status=complete" in result.stdout
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert f"run folder: {run_dir}" in result.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["test_auc"] > 0.6
    assert (run_dir / ".hydra" / "config.yaml").is_file()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hepsweep-runs").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "mlp"
    assert sorted({m.step for m in client.get_metric_history(run.info.run_id, "val_auc")}) == [1, 2]  # epochs from 1
    assert run.data.metrics["val_auc"] == pytest.approx(summary["metrics"]["val_auc"])
    assert run.data.metrics["test_auc"] == pytest.approx(summary["metrics"]["test_auc"])


def test_unknown_group_option(tmp_path: Path) -> None:
    result = run_hepsweep("model=transformer", cwd=tmp_path)
    assert_one_line_error(result, "model=transformer is not a known option", "cnn, ffn, mlp, resnet, resnet50")


def test_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    assert_one_line_error(run_hepsweep("model.unitz=3", cwd=tmp_path), "'model.unitz' is not a config key; did you mean model.units?")
    assert_one_line_error(run_hepsweep("model.units=many", cwd=tmp_path), "model.units", "many")


def test_missing_data_file(tmp_path: Path) -> None:
    result = run_hepsweep(f"dataset.path={tmp_path / 'all_train.csv.gz'}", *TINY, cwd=tmp_path)
    assert_one_line_error(result, "all_train.csv.gz' does not exist; check dataset.path")


def test_csv_with_wrong_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("label,f0,f1\n" + "1,0.5,0.2\n" * 20)
    result = run_hepsweep(f"dataset.path={path}", *TINY, cwd=tmp_path)
    assert_one_line_error(result, "has 3 columns but 29 are expected")


def test_impossible_architecture(tmp_path: Path) -> None:
    result = run_hepsweep("dataset=ntd_pits", "model=cnn", "model.conv_blocks=6", *TINY, cwd=tmp_path)
    assert_one_line_error(result, "model.conv_blocks=6", "below 1x1", "use model.conv_blocks<=5")


def test_device_gpu_without_a_gpu(tmp_path: Path) -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = run_hepsweep("device=gpu", *TINY, cwd=tmp_path)
    assert_one_line_error(result, "device=gpu but TensorFlow sees no GPU", "use device=auto or device=cpu")


def test_every_dataset_and_model_family_trains(tmp_path: Path) -> None:
    """One subprocess per family would be slow: the Python API trains each combination here."""
    import hepsweep

    combos = [
        ("dataset=hepmass", "model=mlp"),
        ("dataset=ntd_pits", "model=cnn", "model.filters=4"),
        ("dataset=belle2_pixels", "model=cnn", "model.conv_blocks=1", "model.filters=4"),
        ("dataset=belle2_features", "model=mlp"),
        ("dataset=cms_events", "model=ffn", "model.units=32"),
        ("dataset=cms_images", "dataset.image_size=32", "model=resnet", "model.stages=[1]", "model.filters=4"),
    ]
    for i, combo in enumerate(combos):
        cfg = hepsweep.compose(
            [*combo, "train.epochs=1", "dataset.n_events=400", "tracking=off", "train.tensorboard=false", f"output_root={tmp_path}"]
        )
        result = hepsweep.run(cfg, output_dir=tmp_path / f"run{i}", emit=lambda _: None)
        assert result.summary.status == "complete", combo
        assert (tmp_path / f"run{i}" / "checkpoint" / "model.keras").is_file()
        assert np.isfinite(result.metrics["test_auc"]), combo


UNWRITABLE = "/proc/hepsweep-cannot-write-here"  # not writable, not even by root


@pytest.mark.parametrize(
    "args, env, fragments",
    [
        ([f"output_root={UNWRITABLE}"], {}, ["cannot write /proc/hepsweep", "output_root="]),
        ([], {"HEPSWEEP_CACHE": UNWRITABLE}, ["cannot write /proc/hepsweep", "HEPSWEEP_CACHE"]),
        (["dataset.n_events=-10"], {}, ["dataset.n_events=-10 must be at least 1"]),
        ([], {"HEPSWEEP_TRIAL": "!!not-a-link"}, ["HEPSWEEP_TRIAL holds no trial link", "unset it"]),
    ],
    ids=["output-root", "cache", "negative-events", "garbage-trial-link"],
)
def test_bad_input_ends_in_one_line(tmp_path: Path, args: list[str], env: dict[str, str], fragments: list[str]) -> None:
    assert_one_line_error(run_hepsweep(*TINY, *args, cwd=tmp_path, env=env), *fragments)


def test_a_trial_link_to_a_missing_trial_ends_in_one_line(tmp_path: Path) -> None:
    import optuna

    from hepsweep.sweep.trial_link import TrialLink

    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    optuna.create_study(study_name="plain", storage=storage)
    link = TrialLink(storage=storage, study="plain", trial_id=7).encode()
    result = run_hepsweep(*TINY, cwd=tmp_path, env={"HEPSWEEP_TRIAL": link})
    assert_one_line_error(result, "names trial 7 of study 'plain'", "unset it")


def test_a_header_only_csv_and_an_unwritable_report_end_in_one_line(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("# label,f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,f12,f13,f14,f15,f16,f17,f18,f19,f20,f21,f22,f23,f24,f25,f26,mass\n")
    assert_one_line_error(run_hepsweep(f"dataset.path={header}", *TINY, cwd=tmp_path), "no events")

    import optuna

    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    optuna.create_study(study_name="plain", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    result = run_hepsweep("report", "plain", "--storage", storage, "-o", f"{UNWRITABLE}/table.csv", cwd=tmp_path)
    assert_one_line_error(result, "cannot write /proc/hepsweep", "-o for a report")
