"""A chain of dense layers written in the drone's JSON format, for NumPy or C++ readers.

The drone format (``hepsweep.drone.reader``) holds the input scaling and, per layer, a weight
matrix, a bias vector and an activation. Any multilayer perceptron fits: dropout disappears at
inference, a batch normalisation folds into the dense layer before it, a separate activation
layer becomes that layer's activation. Convolutions and residual connections do not fit; they
are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepsweep.drone.reader import ACTIVATIONS
from hepsweep.errors import ExportError
from hepsweep.export.serving import Preprocessing

FORMAT = "hepsweep-drone/1"
_PASS_THROUGH = ("InputLayer", "Flatten", "Dropout")


def dense_layers(network: Any) -> list[dict[str, Any]]:
    """The network as drone layers: ``{"activation", "weights" (in x out), "biases"}``, float64."""
    layers: list[dict[str, Any]] = []
    for layer in network.layers:
        kind = type(layer).__name__
        if kind in _PASS_THROUGH:
            continue
        if kind == "Dense":
            weights, *rest = [np.asarray(w, np.float64) for w in layer.get_weights()]
            biases = rest[0] if rest else np.zeros(weights.shape[1])
            layers.append({"activation": _activation(layer), "weights": weights, "biases": biases})
        elif kind == "BatchNormalization" and layers and layers[-1]["activation"] == "linear":
            _fold_batch_norm(layers[-1], layer)
        elif kind == "Activation" and layers and layers[-1]["activation"] == "linear":
            layers[-1]["activation"] = _activation(layer)
        else:
            raise ExportError(
                f"the drone format holds dense layers only, and layer '{layer.name}' ({kind}) of model "
                f"'{network.name}' is not one; export it with --format onnx or --format keras, or distil "
                "it into a drone with hepsweep drone"
            )
    if not layers:
        raise ExportError(f"model '{network.name}' has no dense layer to write in the drone format")
    return layers


def _activation(layer: Any) -> str:
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name not in ACTIVATIONS:
        raise ExportError(
            f"layer '{layer.name}' uses the activation {name!r}, which the drone format does not know "
            f"(it knows {', '.join(sorted(ACTIVATIONS))}); export it with --format onnx"
        )
    return name


def _fold_batch_norm(dense: dict[str, Any], norm: Any) -> None:
    """``gamma * (x W + b - mean) / sqrt(var + eps) + beta`` as one dense layer."""
    config = norm.get_config()
    if int(config.get("axis", -1)) not in (-1, 1):
        raise ExportError(f"layer '{norm.name}' normalises axis {config['axis']}; the drone format cannot hold it")
    values = {v.path.rsplit("/", 1)[-1]: np.asarray(v.numpy(), np.float64) for v in norm.weights}
    width = dense["weights"].shape[1]
    gamma, beta = values.get("gamma", np.ones(width)), values.get("beta", np.zeros(width))
    factor = gamma / np.sqrt(values["moving_variance"] + float(config["epsilon"]))
    dense["weights"] = dense["weights"] * factor
    dense["biases"] = (dense["biases"] - values["moving_mean"]) * factor + beta


def drone_json(network: Any, preprocessing: Preprocessing, metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready drone document of ``network`` with its input scaling and ``metadata``.

    Its outputs are the network's: the signal probability of a binary model, one probability
    per class otherwise (``metadata["class_names"]``).
    """
    layers = dense_layers(network)
    shape = [int(d) for d in network.input_shape[1:]]
    scaling: dict[str, Any] = {"kind": preprocessing.kind, "divisor": 255.0 if preprocessing.kind == "bytes" else preprocessing.divisor}
    if preprocessing.kind == "standardize":
        scaling.update(mean=preprocessing.mean, std=preprocessing.std)
    n_out = int(layers[-1]["weights"].shape[1])
    return {
        "format": FORMAT,
        "inputs": {"n": int(np.prod(shape)), "shape": shape, "flatten": "row-major", "scaling": scaling,
                   "features": preprocessing.features},
        "layers": [
            {"name": f"dense_{i}", "type": "dense", "activation": layer["activation"],
             "n_inputs": int(layer["weights"].shape[0]), "n_outputs": int(layer["weights"].shape[1]),
             "weights": layer["weights"].tolist(), "biases": layer["biases"].tolist()}
            for i, layer in enumerate(layers)
        ],
        "outputs": {"n": n_out, "meaning": "the signal probability" if n_out == 1 else "one probability per class"},
        "n_params": int(sum(layer["weights"].size + layer["biases"].size for layer in layers)),
        "source": metadata,
    }
