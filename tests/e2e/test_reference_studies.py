"""Every ready-made study in sweeps/ runs for real at a smoke size and reports like its paper."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import run_hepsweep

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def smoke_size(name: str) -> list[str]:
    """The overrides the sweep file's header documents as its smoke size."""
    text = (SWEEPS / f"{name}.yaml").read_text()
    match = re.search(rf"^# Smoke size .*\n#\s+hepsweep -m sweep={name} (.+)$", text, re.MULTILINE)
    assert match, f"sweeps/{name}.yaml documents no smoke size"
    return match.group(1).split()


def sweep(tmp_path: Path, name: str, *overrides: str) -> tuple[optuna.Study, str]:
    """Run the study at the smoke size its header documents, plus ``overrides``."""
    result = run_hepsweep("-m", f"sweep={name}", *smoke_size(name), "train.tensorboard=false", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    return study, result.stdout


def parent_artifacts(tmp_path: Path, name: str) -> set[str]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id], "tags.`hepsweep.role` = 'study'")
    return {a.path for a in client.list_artifacts(runs[0].info.run_id)}


def test_hipster_benchmark_skips_invalid_architectures(tmp_path: Path) -> None:
    study, stdout = sweep(
        tmp_path, "hipster_benchmark",
        "model.conv_blocks=choice(1,4)", "model.pool_size=3",
        "hydra.sweeper.sampler=grid", "model.filters=4",
        "model.kernel_size=3", "model.dense_units=[16]",
        "model.dropout=0.1", "optimizer.lr=0.001",
    )
    states = {t.params["model.conv_blocks"]: t for t in study.trials}
    assert states[1].state == TrialState.COMPLETE
    assert states[4].state == TrialState.FAIL and states[4].user_attrs["fail_kind"] == "config"
    assert "below 1x1" in states[4].user_attrs["fail_reason"]
    assert "HIPSTER benchmarking" in stdout and "refused by the options check" in stdout
    folder = Path(states[1].user_attrs["output_dir"])
    summary = json.loads((folder / "summary.json").read_text())
    assert {"test_accuracy", "train_time_s"} <= set(summary["metrics"]) and "early_stopped" in summary
    assert (folder / "checkpoint" / "model.keras").is_file()
    assert "hipster_summary.txt" in parent_artifacts(tmp_path, "hipster_benchmark")


def test_batch_size_study_runs_the_cpu_half_and_draws_the_figure(tmp_path: Path) -> None:
    study, stdout = sweep(tmp_path, "batch_size_study")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    skipped = [t for t in study.trials if t.user_attrs.get("fail_kind") == "unavailable"]
    assert len(study.trials) == 8
    import tensorflow as tf  # heavy: TensorFlow decides, as in the jobs, whether device=gpu can run

    if tf.config.list_physical_devices("GPU"):  # both halves train; the GPU ones record the device's utilisation
        assert len(complete) == 8 and not skipped
        on_gpu = [t for t in complete if t.params["device"] == "gpu"]
        assert len(on_gpu) == 4 and all(t.user_attrs["gpu_present"] for t in on_gpu)
        assert all(t.user_attrs.get("gpu_util_percent_mean") is not None for t in on_gpu)
    else:
        assert len(complete) == 4 and len(skipped) == 4
        assert all(t.params["device"] == "gpu" for t in skipped)
        assert "gpu trial(s) skipped" in stdout
    for t in complete:
        assert t.user_attrs["samples_per_s"] > 0 and t.user_attrs["cpu_percent_mean"] >= 0
    assert "time_per_epoch_s" in stdout and "batch_size" in stdout
    assert (tmp_path / "outputs" / "studies" / "batch_size_study" / "batch_size_study.png").stat().st_size > 10_000
    assert "batch_size_study.png" in parent_artifacts(tmp_path, "batch_size_study")
    saved = run_hepsweep("report", "batch_size_study", "-o", "table.csv", cwd=tmp_path)
    assert saved.returncode == 0 and "gpu_util_percent" in (tmp_path / "table.csv").read_text()
    report = run_hepsweep("report", "batch_size_study", cwd=tmp_path)
    # the printed table leaves out a GPU column that reads 'absent' in every row
    assert report.returncode == 0 and ("gpu_util_percent" in report.stdout) == bool(tf.config.list_physical_devices("GPU"))


@pytest.mark.parametrize("tracking", ["default", "off"])  # off: the retrained job's link names no MLflow run
def test_hepmass_mlp_retrains_the_best_on_the_test_split(tmp_path: Path, tracking: str) -> None:
    study, stdout = sweep(
        tmp_path, "hepmass_mlp", f"tracking={tracking}",
        "hydra.sweeper.retrain_best=true", "hydra.sweeper.retrain_overrides=['train.epochs=2']",
    )
    assert len(study.trials) == 3
    retrained = study.user_attrs["hepsweep.retrained"]
    assert retrained["trial"] == study.best_trial.number and 0.5 < retrained["test_accuracy"] <= 1.0
    folder = tmp_path / "outputs" / "studies" / "hepmass_mlp" / "best_retrained"
    assert json.loads((folder / "summary.json").read_text())["epochs_run"] == 2
    assert "retrained: test accuracy" in stdout and "article: 0.881" in stdout


def test_cms_resnet_vs_ffn_reports_efficiencies_and_confusion_matrices(tmp_path: Path) -> None:
    study, stdout = sweep(
        tmp_path, "cms_resnet_vs_ffn", "optimizer.lr=0.001",
    )
    assert sorted(t.params["approach"] for t in study.trials) == ["cms_ffn", "cms_resnet"]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    models = {t.params["approach"]: t.user_attrs["model"] for t in study.trials}
    assert models == {"cms_ffn": "mlp", "cms_resnet": "resnet"}
    assert "paper 0.954" in stdout and "paper 0.946" in stdout
    artifacts = parent_artifacts(tmp_path, "cms_resnet_vs_ffn")
    assert {"confusion_cms_resnet.png", "confusion_cms_ffn.png"} <= artifacts


def test_nndrone_study_then_drone(tmp_path: Path) -> None:
    study, _ = sweep(tmp_path, "nndrone")
    result = run_hepsweep("drone", "nndrone", "--epochs", "15", "--probes", "1000", cwd=tmp_path,
                          env={"HEPSWEEP_OUTPUT": str(tmp_path / "outputs")})
    assert result.returncode == 0, result.stderr[-3000:]
    folder = Path(study.best_trial.user_attrs["output_dir"]) / "drone"
    summary = json.loads((folder / "drone_summary.json").read_text())
    assert summary["drone_params"] < summary["original_params"]
    assert summary["drone_auc"] > 0.6 and summary["agreement_same_decision"] > 0.6
    drone = json.loads((folder / "drone.json").read_text())
    assert drone["layers"][0]["n_outputs"] >= 5 and drone["inputs"]["n"] == 28
    assert "parameters vs" in result.stdout and "per event" in result.stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("nndrone").experiment_id], "tags.`hepsweep.role` = 'drone'")
    assert len(runs) == 1 and runs[0].data.metrics["drone_params"] == summary["drone_params"]


def test_quickstart_at_its_smoke_size(tmp_path: Path) -> None:
    study, stdout = sweep(tmp_path, "quickstart")
    assert len(study.trials) == 3 and study.best_trial.value > 0.5
    assert "best" in stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    description = client.get_experiment_by_name("quickstart").tags["mlflow.note.content"]
    assert description.startswith("Quickstart: the HEPMASS MLP") and "Smoke size" in description


def test_help_names_every_ready_study(tmp_path: Path) -> None:
    result = run_hepsweep("--help", cwd=tmp_path)
    assert result.returncode == 0
    for path in sorted(SWEEPS.glob("*.yaml")):
        assert path.stem in result.stdout, path.stem
        smoke_size(path.stem)  # and every one documents its smoke size


def test_ntuple_example_sweeps_on_root_files_with_weights(tmp_path: Path) -> None:
    written = run_hepsweep("example-ntuples", "--events", "600", cwd=tmp_path)
    assert written.returncode == 0, written.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "example_ntuples").iterdir()) == ["signal.root", "ttbar.root", "wjets.root"]
    study, stdout = sweep(tmp_path, "ntuple_example")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(study.trials) == 3 and complete
    for name in ("test_bkg_rejection_at_30pct_sig", "test_bkg_rejection_at_50pct_sig", "test_bkg_rejection_at_70pct_sig"):
        assert name in stdout  # a column of the study's table
        assert all(t.user_attrs[name] >= 1.0 for t in complete)
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    run_id = complete[0].user_attrs["mlflow_run_id"]
    metrics = client.get_run(run_id).data.metrics
    assert {"test_auc", "test_bkg_rejection_at_50pct_sig", "test_max_significance_improvement"} <= set(metrics)
    summary = json.loads((Path(complete[0].user_attrs["output_dir"]) / "summary.json").read_text())
    assert summary["metrics"]["test_auc"] == pytest.approx(metrics["test_auc"])
