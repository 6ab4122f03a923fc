"""The reference studies' views, rendered from a study built by hand: their columns and headlines."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hepsweep.studies import VIEWS, render
from hepsweep.sweep.records import FailKind, StudyRecord
from hepsweep.sweep.report import format_view

FIGURES = {
    "test_accuracy": 0.8765, "test_auc": 0.9321, "test_balanced_efficiency": 0.9012,
    "test_bkg_rejection_at_50pct_sig": 41.5, "train_time_s": 12.5, "time_per_epoch_s": 2.5,
    "epochs_run": 5.0, "samples_per_s": 4000.0, "cpu_percent_mean": 55.0, "early_stopped": 0.0,
}


def _trial(number: int, state: TrialState, params: dict, value: float | None = None, **attrs: object) -> optuna.trial.FrozenTrial:
    distributions = {
        "model.units": IntDistribution(8, 512), "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "device": CategoricalDistribution(["cpu", "gpu"]), "model": CategoricalDistribution(["mlp", "resnet"]),
        "train.batch_size": IntDistribution(16, 4096), "approach": CategoricalDistribution(["images", "features"]),
    }
    return create_trial(
        state=state, params=params, distributions={k: distributions[k] for k in params},
        value=value if state == TrialState.COMPLETE else None, user_attrs=dict(attrs),
        intermediate_values={1: 0.7, 2: 0.75} if state == TrialState.PRUNED else None,
    )


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="views")
    StudyRecord.write(study, objective_names=["val_auc"])
    for i, (units, lr, device, model, batch, approach) in enumerate(
        [(64, 1e-3, "cpu", "mlp", 64, "features"), (128, 1e-2, "cpu", "mlp", 1024, "features"),
         (32, 3e-3, "cpu", "resnet", 256, "images")]
    ):
        figures = {k: v * (1 + 0.01 * i) for k, v in FIGURES.items()}
        params = {"model.units": units, "optimizer.lr": lr, "device": device, "model": model,
                  "train.batch_size": batch, "approach": approach}
        study.add_trial(_trial(i, TrialState.COMPLETE, params, 0.9 + 0.01 * i, **figures, model=model, gpu_present=False))
    study.add_trial(_trial(3, TrialState.PRUNED, {"model.units": 16, "optimizer.lr": 1e-4}))
    study.add_trial(_trial(4, TrialState.FAIL, {"device": "gpu"}, fail_kind=str(FailKind.UNAVAILABLE),
                           fail_reason="no GPU: run it on a GPU node; or drop device=gpu"))
    return study


COLUMNS = {
    "batch_size": ["device", "model", "epochs", "batch_size", "duration_s", "time_per_epoch_s", "samples_per_s",
                   "cpu_util_percent", "gpu_util_percent", "test_accuracy", "test_auc"],
    "cms": ["approach", "trial", "model", "test_accuracy", "test_auc", "test_balanced_efficiency",
            "test_bkg_rejection_at_50pct_sig", "train_time_s"],
    "hepmass": ["trial", "state", "units", "learning_rate", "objective", "test_accuracy", "test_auc", "epochs", "time_per_epoch_s"],
    "hipster": ["trial", "state", "units", "lr", "device", "model", "train.batch_size", "approach", "test_accuracy",
                "test_auc", "time_to_train_s", "early_termination", "skipped_because"],
}
HEADLINES = {
    "batch_size": "cpu/mlp: 1.0x faster per epoch from batch 64 to 1024; accuracy 0.876 -> 0.885 (paper, MLP: cpu 9.03 -> "
                  "0.69 s/epoch, gpu 24.23 -> 0.13 s/epoch)",
    "cms": "images: signal-vs-background efficiency 0.919 (paper 0.954)",
    "hepmass": "best (units=32, lr=0.003): test accuracy 0.8940, AUC 0.9507 (article: 0.881 on the real 7M-event file)",
    "hipster": "best CNN (on the study's objective): trial 2, test accuracy 0.894 (HIPSTER paper: about 0.80)",
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_view_shows_the_recorded_figures_under_the_papers_names(name: str, tmp_path: Path) -> None:
    view = render(_study(), tmp_path, name)
    assert list(view.table.columns) == COLUMNS[name]
    assert HEADLINES[name] in view.headlines
    assert format_view(view)


def test_the_batch_size_view_renames_the_training_time_and_the_hipster_view_early_stopping(tmp_path: Path) -> None:
    batch = render(_study(), tmp_path, "batch_size").table
    assert sorted(batch.duration_s) == [12.5, 12.625, 12.75]
    assert sorted(render(_study(), tmp_path, "hipster").table.time_to_train_s.dropna()) == [12.5, 12.625, 12.75]


def test_the_hepmass_view_headlines_the_retrained_best(tmp_path: Path) -> None:
    study = _study()
    StudyRecord.write(study, retrained={"test_accuracy": 0.88, "test_auc": 0.95, "params": {"model.units": 64, "optimizer.lr": 0.001}})
    assert render(study, tmp_path, "hepmass").headlines[0] == (
        "best (units=64, lr=0.001) retrained: test accuracy 0.8800, AUC 0.9500 (article: 0.881 on the real 7M-event file)"
    )


def test_every_view_of_VIEWS_renders(tmp_path: Path) -> None:
    for name in VIEWS:
        assert format_view(render(_study(), tmp_path / name, name))
