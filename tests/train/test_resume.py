"""A run killed mid-training and started again in its folder continues from its last finished
epoch (weights, optimizer state, early-stopping state), reporting no epoch twice."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hepsweep.train import run
from hepsweep.train.callbacks import RESUME_DIR, ResumeFromLastEpoch


class Killed(BaseException):
    """Stands for kill -9: nothing in the run may catch it."""


class Trial:
    """Records what a run reports, as an Optuna trial would receive it."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def report(self, value: float, step: int) -> None:
        self.steps.append(step)

    def should_prune(self) -> bool:
        return False


def killer(at_line: str, lines: list[str]):
    def emit(line: str) -> None:
        lines.append(line)
        if line.startswith(at_line):
            raise Killed(line)
    return emit


def history_epochs(folder: Path) -> list[int]:
    with open(folder / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_a_run_killed_at_epoch_7_of_10_trains_only_epochs_8_to_10_when_started_again(compose, tmp_path: Path) -> None:
    cfg = compose("dataset.n_events=800", "train.epochs=10", "train.progress=true", "train.early_stopping_patience=20")
    folder = tmp_path / "trial"
    first, lines = Trial(), []
    with pytest.raises(Killed):  # killed as epoch 8 ends, before it is saved or reported
        run(cfg, trial=first, output_dir=folder, emit=killer("epoch 8/10", lines))
    assert first.steps == [1, 2, 3, 4, 5, 6, 7]
    assert (folder / RESUME_DIR / "training_metadata.json").is_file()

    again, lines = Trial(), []
    result = run(cfg, trial=again, output_dir=folder, emit=lines.append)
    assert again.steps == [8, 9, 10]  # no epoch reported twice, none missing
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["8/10", "9/10", "10/10"]
    assert history_epochs(folder) == list(range(1, 11))  # one history, every epoch once
    assert result.summary.epochs_run == 10
    assert not (folder / RESUME_DIR).exists()  # deleted once training ended


def test_a_saved_epoch_of_another_configuration_is_never_resumed(compose, tmp_path: Path) -> None:
    folder = tmp_path / "trial"
    cfg = compose("dataset.n_events=800", "train.epochs=4", "train.progress=true", "optimizer.lr=0.01")
    with pytest.raises(Killed):
        run(cfg, output_dir=folder, emit=killer("epoch 3/4", []))
    assert (folder / RESUME_DIR).is_dir()
    other = compose("dataset.n_events=800", "train.epochs=4", "train.progress=true", "optimizer.lr=0.002")
    lines: list[str] = []
    run(other, output_dir=folder, emit=lines.append)
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/4", "2/4", "3/4", "4/4"]


def test_an_unreadable_saved_epoch_is_dropped_and_training_starts_from_epoch_1(compose, tmp_path: Path) -> None:
    folder = tmp_path / "trial"
    cfg = compose("dataset.n_events=800", "train.epochs=3", "train.progress=true")
    with pytest.raises(Killed):
        run(cfg, output_dir=folder, emit=killer("epoch 3/3", []))
    for saved in (folder / RESUME_DIR).glob("*.weights.h5*"):
        saved.write_bytes(b"half-written")  # killed as it wrote both copies
    lines: list[str] = []
    run(cfg, output_dir=folder, emit=lines.append)
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]


def test_the_saved_state_puts_back_every_variable_of_a_model_built_anew(tmp_path: Path) -> None:
    """Weights and optimizer state (its step count too) come back into another instance of the
    same architecture, whose layers Keras names differently (built later in the process)."""
    import keras
    import numpy as np

    def model() -> keras.Model:
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        net.compile(optimizer="adam", loss="mse")
        return net

    x, y = np.random.default_rng(0).normal(size=(64, 4)).astype("float32"), np.ones((64, 1), "float32")
    trained = model()
    trained.fit(x, y, epochs=2, verbose=0)
    saver = ResumeFromLastEpoch(tmp_path / RESUME_DIR, "same")
    saver.set_model(trained)
    saver.on_epoch_end(1)  # the state after epoch 2, as a kill right after it would leave it
    again = model()
    loader = ResumeFromLastEpoch(tmp_path / RESUME_DIR, "same")
    loader.set_model(again)
    loader.on_train_begin()
    assert loader.resumed_epochs == 2 and again._initial_epoch == 2
    mine, theirs = again.weights + again.optimizer.variables, trained.weights + trained.optimizer.variables
    assert len(mine) == len(theirs) and int(again.optimizer.iterations.numpy()) == 4
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
