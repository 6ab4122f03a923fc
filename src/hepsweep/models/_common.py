"""Pieces shared by the model families: the checks of their common keys (light: no Keras), and
the classification head and dense stack of their builders."""

from __future__ import annotations

from typing import Any, Sequence

from hepsweep.config_checks import ACTIVATIONS
from hepsweep.errors import ConfigError, InvalidArchitectureError


def check_images(family: str, input_shape: tuple[int, ...], instead: str) -> None:
    """An image family takes images (height, width, channels); ``instead``: what to use."""
    if len(input_shape) != 3:
        raise InvalidArchitectureError(
            f"model={family} needs images but this dataset gives vectors of shape {input_shape}; {instead}"
        )


def check_activation(name: str, key: str = "model.activation") -> str:
    if name not in ACTIVATIONS:
        raise ConfigError(f"{key}={name!r} is unknown; use one of {list(ACTIVATIONS)}")
    return name


def check_dropout(rate: float, key: str = "model.dropout") -> float:
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"{key}={rate} must be in [0, 1); e.g. {key}=0.2")
    return rate


def check_units(units: Sequence[int], key: str) -> list[int]:
    units = [int(u) for u in units]
    if any(u < 1 for u in units):
        raise ConfigError(f"{key}={units} must list positive layer widths; e.g. {key}=[64,32]")
    return units


def dense_stack(
    x: Any, units: Sequence[int], activation: str, dropout: float, batch_norm: bool = False
) -> Any:
    """Dense layers (optionally batch-normalised) each followed by dropout when ``dropout > 0``."""
    import keras  # heavy: TensorFlow, for the builders only

    for width in units:
        x = keras.layers.Dense(width, activation=None if batch_norm else activation)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation(activation)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def classification_head(x: Any, n_classes: int) -> Any:
    """One sigmoid unit for two classes, else a softmax; float32 even under mixed precision."""
    import keras  # heavy: TensorFlow, for the builders only

    if n_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="output")(x)
    return keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="output")(x)
