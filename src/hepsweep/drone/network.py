"""The drone network in Keras: one sigmoid hidden layer, a linear output, trained with SGD on
another model's outputs (squared error, no truth labels), growing by zero-initialised nodes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from hepsweep.drone.growth import GrowthRule
from hepsweep.metrics import LOSS


def build_drone(n_inputs: int, hidden: int, lr: float) -> Any:
    inputs = keras.Input(shape=(n_inputs,), name="inputs")
    h = keras.layers.Dense(hidden, activation="sigmoid", name="hidden")(inputs)
    out = keras.layers.Dense(1, activation="linear", name="output")(h)
    model = keras.Model(inputs, out, name=f"drone_{hidden}")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def grow(model: Any, lr: float) -> Any:
    """A copy of ``model`` with one more hidden node whose weights are all zero.

    The new node's outgoing weight is zero, so the network's output, and therefore the loss, is
    unchanged at the moment of growth (the continuity the paper asks for).
    """
    w_in, b_in = model.get_layer("hidden").get_weights()
    w_out, b_out = model.get_layer("output").get_weights()
    bigger = build_drone(w_in.shape[0], w_in.shape[1] + 1, lr)
    bigger.get_layer("hidden").set_weights(
        [np.concatenate([w_in, np.zeros((w_in.shape[0], 1), w_in.dtype)], axis=1), np.append(b_in, 0.0).astype(b_in.dtype)]
    )
    bigger.get_layer("output").set_weights([np.concatenate([w_out, np.zeros((1, 1), w_out.dtype)], axis=0), b_out])
    return bigger


@dataclass
class DroneTraining:
    """Settings of the paper's drone training: SGD lr 0.05, 300 epochs, 5 initial nodes."""

    epochs: int = 300
    lr: float = 0.05
    batch_size: int = 64
    initial_hidden: int = 5
    rule: GrowthRule = field(default_factory=GrowthRule)
    seed: int = 7


@dataclass
class DroneResult:
    model: Any
    losses: list[float]
    growth_epochs: list[int]
    train_time_s: float


def train_drone(
    x: np.ndarray, targets: np.ndarray, settings: DroneTraining, emit: Callable[[str], None] = print
) -> DroneResult:
    """Fit a drone to ``targets`` (the original model's outputs on the probe events ``x``)."""
    keras.utils.set_random_seed(settings.seed)
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    targets = np.asarray(targets, dtype=np.float32).reshape(-1, 1)
    model = build_drone(x.shape[1], settings.initial_hidden, settings.lr)
    rule = settings.rule
    losses: list[float] = []
    growth_epochs: list[int] = []

    class Grower(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.grow_now = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            loss = float((logs or {})[LOSS])
            losses.append(loss)
            hidden = self.model.get_layer("hidden").units
            if rule.update(loss, hidden):
                self.grow_now = True
                self.model.stop_training = True

    start = time.perf_counter()
    epoch = 0
    while epoch < settings.epochs:
        grower = Grower()
        model.fit(x, targets, batch_size=settings.batch_size, epochs=settings.epochs, initial_epoch=epoch,
                  callbacks=[grower], verbose=0, shuffle=True)
        epoch = len(losses)
        if not grower.grow_now:
            break
        model = grow(model, settings.lr)
        growth_epochs.append(epoch - 1)
        emit(f"drone: epoch {epoch}, loss {losses[-1]:.3g}: hidden layer grows to {model.get_layer('hidden').units} nodes")
    return DroneResult(model, losses, growth_epochs, time.perf_counter() - start)


def export_drone(model: Any, scaling: dict[str, Any], source: dict[str, Any], input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The drone as JSON-ready data: inputs (shape, scaling), layers (weights, biases,
    activations), output, and where it came from."""
    layers = []
    for name, activation in (("hidden", "sigmoid"), ("output", "linear")):
        weights, biases = model.get_layer(name).get_weights()
        layers.append(
            {"name": name, "type": "dense", "activation": activation, "n_inputs": int(weights.shape[0]),
             "n_outputs": int(weights.shape[1]), "weights": weights.astype(float).tolist(), "biases": biases.astype(float).tolist()}
        )
    return {
        "format": "hepsweep-drone/1",
        "inputs": {"n": int(np.prod(input_shape)), "shape": list(input_shape), "flatten": "row-major", "scaling": scaling},
        "layers": layers,
        "outputs": {"n": 1, "meaning": "the original model's signal probability"},
        "n_params": int(model.count_params()),
        "source": source,
    }
