"""Multilayer perceptron, HIPSTER's DNN(): hidden layers of chosen widths, activation, dropout.

:func:`validate_mlp` needs no Keras (only :func:`build_mlp` imports it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from hepsweep.errors import ConfigError
from hepsweep.models._common import (
    check_activation,
    check_dropout,
    check_units,
    classification_head,
    dense_stack,
)

if TYPE_CHECKING:
    import keras


def hidden_units(cfg: DictConfig) -> list[int]:
    """The hidden widths: ``hidden_units`` when given, else ``n_layers`` copies of ``units``."""
    if cfg.hidden_units is not None:
        return check_units(cfg.hidden_units, "model.hidden_units")
    if cfg.n_layers < 0:
        raise ConfigError(f"model.n_layers={cfg.n_layers} cannot be negative; use 0 or more")
    return check_units([cfg.units] * int(cfg.n_layers), "model.units")


def validate_mlp(cfg: DictConfig, input_shape: tuple[int, ...]) -> None:
    hidden_units(cfg)
    check_activation(cfg.activation)
    check_dropout(cfg.dropout)


def build_mlp(cfg: DictConfig, input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """Images are flattened first, so an MLP also runs on the 9x9 pixel clusters."""
    import keras  # heavy: TensorFlow, for the builder only

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    units = hidden_units(cfg)
    x = dense_stack(x, units, cfg.activation, cfg.dropout, cfg.batch_norm)
    name = f"mlp_{'x'.join(map(str, units)) or 'linear'}"
    return keras.Model(inputs, classification_head(x, n_classes), name=name)
