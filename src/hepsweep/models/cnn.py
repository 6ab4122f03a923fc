"""HIPSTER-style CNN: conv blocks each followed by pooling, then a dense head.

Like HIPSTER's options class, :func:`validate_cnn` checks before anything is built that every
pooling step still has an image to pool, and names the key to change when it does not; it needs
no Keras (only :func:`build_cnn` imports it), so the check runs before TensorFlow starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from hepsweep.errors import ConfigError, InvalidArchitectureError
from hepsweep.models._common import (
    check_activation,
    check_dropout,
    check_images,
    check_units,
    classification_head,
    dense_stack,
)

if TYPE_CHECKING:
    import keras


def block_filters(cfg: DictConfig) -> list[int]:
    return [max(1, int(round(cfg.filters * cfg.filter_growth**i))) for i in range(cfg.conv_blocks)]


def feature_map_sizes(cfg: DictConfig, height: int, width: int) -> list[tuple[int, int]]:
    """Spatial size after each block (convolution, then pooling), as Keras computes it."""
    sizes = []
    for _ in range(cfg.conv_blocks):
        if cfg.padding == "valid":
            height, width = height - cfg.kernel_size + 1, width - cfg.kernel_size + 1
        if min(height, width) >= 1:
            height, width = height // cfg.pool_size, width // cfg.pool_size
        sizes.append((height, width))
    return sizes


def require_images(input_shape: tuple[int, ...]) -> None:
    check_images("cnn", input_shape, "use model=mlp, or an image dataset/representation")


def validate_cnn(cfg: DictConfig, input_shape: tuple[int, ...]) -> None:
    require_images(input_shape)
    for key in ("conv_blocks", "filters", "kernel_size", "pool_size"):
        if cfg[key] < 1:
            raise ConfigError(f"model.{key}={cfg[key]} must be at least 1")
    if cfg.padding not in ("same", "valid"):
        raise ConfigError(f"model.padding={cfg.padding!r} is unknown; use same or valid")
    check_activation(cfg.activation)
    check_dropout(cfg.dropout)
    check_units(cfg.dense_units, "model.dense_units")
    height, width = input_shape[:2]
    for block, (h, w) in enumerate(feature_map_sizes(cfg, height, width), start=1):
        if min(h, w) < 1:
            fix = (
                f"use model.conv_blocks<={block - 1} or a smaller model.pool_size"
                if block > 1
                else "use a smaller model.pool_size or model.kernel_size, or model.padding=same"
            )
            raise InvalidArchitectureError(
                f"model.conv_blocks={cfg.conv_blocks} with model.pool_size={cfg.pool_size} and "
                f"model.kernel_size={cfg.kernel_size} shrinks the {height}x{width} input below 1x1 "
                f"at block {block}; {fix}"
            )


def build_cnn(cfg: DictConfig, input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    import keras  # heavy: TensorFlow, for the builder only

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    for filters in block_filters(cfg):
        x = keras.layers.Conv2D(filters, cfg.kernel_size, padding=cfg.padding, activation=cfg.activation)(x)
        x = keras.layers.MaxPooling2D(cfg.pool_size)(x)
    x = keras.layers.Flatten()(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout)(x)
    x = dense_stack(x, check_units(cfg.dense_units, "model.dense_units"), cfg.activation, cfg.dropout)
    return keras.Model(inputs, classification_head(x, n_classes), name=f"cnn_{cfg.conv_blocks}blocks")
