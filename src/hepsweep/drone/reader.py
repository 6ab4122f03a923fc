"""Evaluate an exported drone with NumPy alone (the reference for a C++ reader).

The JSON holds the input standardisation, then each layer's weight matrix (inputs x outputs),
bias vector and activation. A C++ reader does the same: standardise, flatten, then for each
layer ``y = act(x W + b)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
}


def load_drone(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def evaluate_drone(drone: dict[str, Any], x: np.ndarray, raw_inputs: bool = False) -> np.ndarray:
    """The drone's output for each event of ``x`` (N, ...), as a 1-D array.

    With ``raw_inputs`` the events are standardised with the stored means and widths first;
    otherwise they are taken as already scaled the way the original model saw them.
    """
    values = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    scaling = drone["inputs"].get("scaling") or {}
    if raw_inputs and scaling.get("mean") is not None:
        values = (values - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])
    elif raw_inputs and scaling.get("divisor"):
        values = values / float(scaling["divisor"])
    for layer in drone["layers"]:
        values = ACTIVATIONS[layer["activation"]](values @ np.asarray(layer["weights"]) + np.asarray(layer["biases"]))
    return values[:, 0]
