"""The model that takes raw events: a run's trained network behind its fitted preprocessing.

A checkpoint (``checkpoint/model.keras``) expects events scaled the way training saw them; the
scaler lives in the run's ``preprocessing.json``. :func:`serving_model` puts the two together
in one Keras model built from stock layers only (it reloads in safe mode and converts to ONNX):
raw feature values (or raw pixel values) in, one probability per class out, binary models
included (``[1 - p, p]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from hepsweep.config import DATASET_SCHEMAS
from hepsweep.errors import ExportError
from hepsweep.train.benchmark import CHECKPOINT

PREPROCESSING = "preprocessing.json"
INPUT_NAME = "events"
OUTPUT_NAME = "probabilities"


@dataclass
class Preprocessing:
    """What ``preprocessing.json`` says: the scaler, the input columns, classes, signal class."""

    kind: str
    mean: list[float] | None = None
    std: list[float] | None = None
    divisor: float = 1.0
    features: list[str] | None = None
    class_names: list[str] = field(default_factory=list)
    signal_class: int | None = None

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "Preprocessing":
        kind = str(state.get("kind", "identity"))
        if kind not in ("standardize", "divide", "bytes", "identity"):
            raise ExportError(f"{PREPROCESSING} names an unknown scaler kind {kind!r}; retrain the run with this hepsweep")
        signal = state.get("signal_class")
        return cls(
            kind=kind,
            mean=[float(v) for v in state["mean"]] if state.get("mean") is not None else None,
            std=[float(v) for v in state["std"]] if state.get("std") is not None else None,
            divisor=float(state.get("divisor") or 1.0),
            features=[str(f) for f in state["features"]] if state.get("features") is not None else None,
            class_names=[str(c) for c in state.get("class_names") or []],
            signal_class=int(signal) if signal is not None else None,
        )

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """Raw events as the network reads them, computed with NumPy as training did."""
        if self.kind == "standardize":
            assert self.mean is not None and self.std is not None
            return ((raw - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)
        if self.kind == "bytes":
            return np.asarray(raw, dtype=np.float32) / np.float32(255.0)
        return (np.asarray(raw, dtype=np.float32) / np.float32(self.divisor)).astype(np.float32)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """Events in raw units from the stored (scaled) ones: float32, uint8 images as their byte values."""
        if self.kind == "bytes":
            return np.asarray(scaled).astype(np.float32)
        values = np.asarray(scaled, dtype=np.float64)
        if self.kind == "standardize":
            assert self.mean is not None and self.std is not None
            return (values * np.asarray(self.std, np.float64) + np.asarray(self.mean, np.float64)).astype(np.float32)
        return (values * self.divisor).astype(np.float32)


@dataclass
class TrainedRun:
    """A completed run's folder: its network, preprocessing and config."""

    folder: Path
    network: Any
    preprocessing: Preprocessing
    config: DictConfig

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.network.input_shape[1:])

    @property
    def class_names(self) -> list[str]:
        return self.preprocessing.class_names or [str(i) for i in range(n_classes(self.network))]


def load_run(folder: str | Path) -> TrainedRun:
    """Read a run folder written with ``train.checkpoint=true``."""
    folder = Path(folder)
    checkpoint = folder / CHECKPOINT
    if not checkpoint.is_file():
        raise ExportError(f"'{folder}' holds no {CHECKPOINT}; export a run trained with train.checkpoint=true")
    if not (folder / PREPROCESSING).is_file():
        raise ExportError(f"'{folder}' holds no {PREPROCESSING}; retrain the run with this hepsweep")
    preprocessing = Preprocessing.from_dict(json.loads((folder / PREPROCESSING).read_text()))
    network = float32_network(keras.models.load_model(checkpoint, compile=False))  # safe mode: no code from the file runs
    config = OmegaConf.load(folder / "config.yaml")
    assert isinstance(config, DictConfig)
    return TrainedRun(folder, network, preprocessing, _current_dataset_keys(config))


def _current_dataset_keys(config: DictConfig) -> DictConfig:
    """The run's config with dataset keys added since it was written set to their defaults, so
    that a run of an older hepsweep still reads its test events."""
    schema = DATASET_SCHEMAS.get(str(config.get("dataset", {}).get("name")))
    if schema is None:
        return config
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), config.dataset)
    except Exception:  # a key this hepsweep no longer has: keep the run's own
        return config
    config.dataset = OmegaConf.create(OmegaConf.to_container(merged))
    return config


def n_classes(network: Any) -> int:
    units = int(network.output_shape[-1])
    return 2 if units == 1 else units


def float32_network(network: Any) -> Any:
    """``network`` computing in float32: a model trained in mixed precision is rebuilt from its
    config with float32 layers and given the same weights (ONNX export needs float32, and
    production wants the full precision the weights hold)."""
    if all(layer.dtype_policy.name == "float32" for layer in network.layers):
        return network
    config = _float32_config(network.get_config())
    rebuilt = network.__class__.from_config(config)
    rebuilt.set_weights(network.get_weights())
    return rebuilt


def _float32_config(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    return value


def serving_model(network: Any, preprocessing: Preprocessing) -> Any:
    """One Keras model: raw events (float32) -> scaling -> ``network`` -> class probabilities."""
    shape = tuple(int(d) for d in network.input_shape[1:])
    inputs = keras.Input(shape=shape, dtype="float32", name=INPUT_NAME)
    x = _scaling_layer(preprocessing, shape)(inputs) if preprocessing.kind != "identity" else inputs
    out = network(x)
    if int(network.output_shape[-1]) == 1:  # one sigmoid unit: the classes are [1 - p, p]
        out = keras.layers.Concatenate(name="classes")([keras.layers.Rescaling(-1.0, offset=1.0, name="background")(out), out])
    out = keras.layers.Activation("linear", dtype="float32", name=OUTPUT_NAME)(out)
    model = keras.Model(inputs, out, name=f"{network.name}_raw_inputs")
    model(np.zeros((1, *shape), np.float32))  # called once: Keras' ONNX export asks for it
    return model


def _scaling_layer(preprocessing: Preprocessing, shape: tuple[int, ...]) -> Any:
    if preprocessing.kind == "standardize":
        assert preprocessing.mean is not None and preprocessing.std is not None
        if len(preprocessing.mean) != shape[-1]:
            raise ExportError(
                f"{PREPROCESSING} scales {len(preprocessing.mean)} features but the model reads {shape[-1]}; "
                "the folder mixes two runs"
            )
        # Rescaling, not Normalization: its constants live in the graph, where converters keep them
        mean, std = np.asarray(preprocessing.mean, np.float64), np.asarray(preprocessing.std, np.float64)
        return keras.Sequential(
            [keras.layers.Rescaling(1.0, offset=(-mean).tolist()), keras.layers.Rescaling((1.0 / std).tolist())],
            name="scaling",
        )
    divisor = 255.0 if preprocessing.kind == "bytes" else preprocessing.divisor
    return keras.layers.Rescaling(1.0 / divisor, name="scaling")
