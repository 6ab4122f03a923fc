"""Evaluate an exported drone with NumPy alone (the reference for a C++ reader).

The JSON holds the input standardisation, then each layer's weight matrix (inputs x outputs),
bias vector and activation. A C++ reader does the same: standardise, flatten, then for each
layer ``y = act(x W + b)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

_ERF = np.frompyfunc(math.erf, 1, 1)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# Keras' activations of the same names, with Keras' defaults (leaky_relu: slope 0.2, exact gelu)
ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "selu": lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * z * (1.0 + _ERF(z / math.sqrt(2.0)).astype(np.float64)),
    "swish": lambda z: z * _sigmoid(z),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "softmax": _softmax,
}


def load_drone(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def with_arrays(drone: dict[str, Any]) -> dict[str, Any]:
    """The drone with its weights, biases and scaling as NumPy arrays, read once instead of at every call."""
    layers = [{**layer, "weights": np.asarray(layer["weights"], np.float64), "biases": np.asarray(layer["biases"], np.float64)}
              for layer in drone["layers"]]
    scaling = dict(drone["inputs"].get("scaling") or {})
    for key in ("mean", "std"):
        if scaling.get(key) is not None:
            scaling[key] = np.asarray(scaling[key], np.float64)
    return {**drone, "inputs": {**drone["inputs"], "scaling": scaling}, "layers": layers}


def evaluate_drone(drone: dict[str, Any], x: np.ndarray, raw_inputs: bool = False) -> np.ndarray:
    """The drone's (first) output for each event of ``x`` (N, ...), as a 1-D array.

    With ``raw_inputs`` the events are standardised with the stored means and widths first;
    otherwise they are taken as already scaled the way the original model saw them.
    """
    return drone_outputs(drone, x, raw_inputs)[:, 0]


def drone_outputs(drone: dict[str, Any], x: np.ndarray, raw_inputs: bool = False) -> np.ndarray:
    """Every output of the network for each event of ``x``: (N, outputs), float64."""
    values = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    scaling = drone["inputs"].get("scaling") or {}
    if raw_inputs and scaling.get("mean") is not None:
        values = (values - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])
    elif raw_inputs and scaling.get("divisor"):
        values = values / float(scaling["divisor"])
    for layer in drone["layers"]:
        values = ACTIVATIONS[layer["activation"]](values @ np.asarray(layer["weights"]) + np.asarray(layer["biases"]))
    return values
