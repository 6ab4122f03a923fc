"""One real training run end to end: tiny models, real TensorFlow, real files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import pytest

from hepsweep.errors import ConfigError, InvalidArchitectureError
from hepsweep.train import run
from hepsweep.train.benchmark import RunSummary
from tests.conftest import GPU_PRESENT


def test_mlp_on_hepmass_learns_and_writes_the_benchmark_folder(compose, tmp_path: Path) -> None:
    cfg = compose("dataset.n_events=3000", "train.epochs=3", "train.tensorboard=true", "train.progress=true")
    lines: list[str] = []
    before = datetime.now(timezone.utc)
    result = run(cfg, output_dir=tmp_path / "run", emit=lines.append)
    folder = result.output_dir
    for name in ("summary.json", "summary.txt", "config.yaml", "roc.png", "confusion_matrix.png", "history.csv", "preprocessing.json"):
        assert (folder / name).is_file(), name
    assert (folder / "checkpoint" / "model.keras").is_file()
    assert any((folder / "tensorboard").rglob("events.out.tfevents.*"))
    summary = json.loads((folder / "summary.json").read_text())
    metrics = summary["metrics"]
    assert summary["status"] == "complete" and summary["epochs_run"] == 3
    assert before <= datetime.fromisoformat(summary["train_started_at"]) <= datetime.now(timezone.utc)
    assert metrics["test_auc"] > 0.75  # a learnable problem, well above chance
    assert 0.6 < metrics["test_accuracy"] < 0.99
    assert metrics["train_time_s"] > 0 and metrics["time_per_epoch_s"] > 0
    assert summary["hyperparameters"]["model.units"] == cfg.model.units
    assert summary["early_stopped"] is False and summary["utilisation"]["gpu_present"] is GPU_PRESENT
    line = (folder / "summary.txt").read_text().strip()
    assert "\n" not in line and f"test_auc={metrics['test_auc']:.4g}" in line and "early_stopped=no" in line
    assert len([ln for ln in lines if ln.startswith("epoch ")]) == 3
    assert result.value == pytest.approx(metrics["val_auc"])


def test_checkpoint_restores_the_same_predictions(compose, tmp_path: Path) -> None:
    from hepsweep.data import load_dataset

    cfg = compose("dataset.n_events=800", "train.epochs=1")
    result = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    restored = keras.models.load_model(result.output_dir / "checkpoint" / "model.keras")
    data = load_dataset(cfg.dataset)
    predictions = restored.predict(np.asarray(data.test.x), verbose=0)
    accuracy = float(np.mean((predictions[:, 0] > 0.5) == data.test.y))
    assert accuracy == pytest.approx(result.metrics["test_accuracy"])


def test_multiclass_cnn_writes_confusion_matrix(compose, tmp_path: Path) -> None:
    cfg = compose("dataset=belle2_pixels", "dataset.n_events=1000", "model=cnn", "model.conv_blocks=1", "model.filters=4")
    result = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    assert (result.output_dir / "confusion_matrix.png").is_file()
    confusion = json.loads((result.output_dir / "confusion_matrix.json").read_text())
    assert np.array(confusion["counts"]).shape == (5, 5)
    assert np.array(confusion["counts"]).sum() == 150
    assert result.metrics["test_auc"] > 0.6  # background and monopoles are easy


def test_cms_signal_figures_are_reported(compose, tmp_path: Path) -> None:
    cfg = compose("dataset=cms_events", "dataset.n_events=900", "model.units=32")
    result = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    assert 0.5 < result.metrics["test_balanced_efficiency"] <= 1.0
    assert result.metrics["test_bkg_rejection_at_50pct_sig"] > 2.0  # better than a coin at eps_S = 0.5


def test_early_stopping_fires_and_is_recorded(compose, tmp_path: Path) -> None:
    cfg = compose(
        "dataset.n_events=600", "train.epochs=40", "train.early_stopping_patience=1", "optimizer.lr=0.05", "objective=val_loss"
    )
    result = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    assert result.summary.early_stopped is True
    assert result.summary.epochs_run < 40
    assert "early_stopped=yes" in (result.output_dir / "summary.txt").read_text()


def _fit_with_guard(loss) -> tuple[object, dict]:
    import keras
    import numpy as np

    from hepsweep.train.callbacks import DivergenceGuard

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=loss)
    guard = DivergenceGuard()
    history = model.fit(np.ones((64, 3)), np.ones((64, 1)), batch_size=8, epochs=5, callbacks=[guard], verbose=0)
    return guard, history.history


def test_divergence_guard_stops_at_the_first_non_finite_loss() -> None:
    import keras

    # log(-1) is NaN on every IEEE-754 machine: the loss is NaN by construction, not by luck.
    guard, history = _fit_with_guard(lambda y, p: keras.ops.mean(keras.ops.log(p * 0.0 - 1.0)))
    assert guard.bad_epoch == 0 and guard.reason == "loss became NaN"
    assert len(history["loss"]) == 1


def test_divergence_guard_stops_a_finite_loss_that_explodes() -> None:
    import keras

    # a loss that grows a thousand-fold each step, whatever the weights do: finite, but diverged
    step = keras.Variable(0.0, trainable=False)

    def exploding(y, p):
        step.assign_add(1.0)
        return keras.ops.mean(p * 0.0) + keras.ops.power(1000.0, step)

    guard, history = _fit_with_guard(exploding)
    assert guard.bad_epoch == 0 and guard.reason.startswith("loss diverged")
    assert len(history["loss"]) == 1


def test_impossible_architecture_is_refused_before_training(compose, tmp_path: Path) -> None:
    cfg = compose("dataset=ntd_pits", "model=cnn", "model.conv_blocks=7")
    with pytest.raises(InvalidArchitectureError, match="shrinks the 40x40 input below 1x1"):
        run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    assert not (tmp_path / "run" / "history.csv").exists()


def test_bad_training_knobs(compose, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.epochs=0 must be at least 1"):
        run(compose("train.epochs=0"), output_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="optimizer.lr=-1.0 must be positive"):
        run(compose("optimizer.lr=-1"), output_dir=tmp_path / "run2")


class ScriptedTrial:
    """Stands in for an optuna.Trial: records reports and says 'prune' from a given epoch on."""

    def __init__(self, prune_from: int) -> None:
        self.prune_from, self.reports = prune_from, []

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return len(self.reports) > self.prune_from


def test_pruning_stops_training_at_once_and_raises(compose, tmp_path: Path) -> None:
    import optuna

    trial = ScriptedTrial(prune_from=1)
    cfg = compose("dataset.n_events=600", "train.epochs=8")
    with pytest.raises(optuna.TrialPruned):
        run(cfg, trial=trial, output_dir=tmp_path / "run", emit=lambda _: None)
    assert [step for step, _ in trial.reports] == [1, 2]  # epochs count from 1
    summary = RunSummary.read(tmp_path / "run")
    assert summary.status == "pruned" and summary.pruned_after_epoch == 2 and summary.epochs_run == 2
    assert all(0.0 <= value <= 1.0 for _, value in trial.reports)  # val_auc was reported


def test_an_objective_the_run_does_not_measure_is_a_config_error() -> None:
    from hepsweep.train.objective import Objective

    with pytest.raises(ConfigError, match="objective=test_balanced_efficiency is not measured for this run"):
        Objective.parse("test_balanced_efficiency").value({"val_auc": 0.9})


def test_a_storage_failure_turns_pruning_off_but_training_goes_on() -> None:
    from types import SimpleNamespace

    from hepsweep.train.callbacks import PruningCallback

    class BrokenTrial:
        def report(self, value: float, step: int) -> None:
            raise ConnectionError("database went away")

        def should_prune(self) -> bool:
            return True

    callback = PruningCallback(BrokenTrial(), "val_auc")
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.on_epoch_end(0, {"val_auc": 0.7})
    callback.on_epoch_end(1, {"val_auc": 0.8})
    assert callback.broken and callback.pruned_at_epoch is None and callback.model.stop_training is False


def test_run_needs_a_composed_config() -> None:
    with pytest.raises(ConfigError, match=r"hepsweep.run needs a composed config, not a dict; use cfg = hepsweep.compose"):
        run({"model": {"name": "mlp"}})  # type: ignore[arg-type]


def test_the_public_run_logs_to_mlflow_when_tracking_is_on(tmp_path: Path) -> None:
    import hepsweep
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = hepsweep.compose([
        "dataset.n_events=400", "train.epochs=1", "train.tensorboard=false", f"output_root={tmp_path}",
        f"tracking.uri='{uri}'", "tracking.experiment=from_python",
    ])
    result = hepsweep.run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    client = MlflowClient(uri)
    (logged,) = client.search_runs([client.get_experiment_by_name("from_python").experiment_id])
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics["test_auc"] == pytest.approx(result.metrics["test_auc"])
    assert logged.data.params["model.name"] == "mlp"
