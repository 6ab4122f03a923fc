"""Residual networks: a small configurable ResNet, or Keras' ResNet50 with ``weights=None``.

:func:`validate_resnet` needs no Keras (only the builders import it): it runs before TensorFlow starts.
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

RESNET50_MIN_SIZE = 32
# Fast-moving batch-norm statistics: small CPU-sized datasets give few steps per epoch, and
# with the Keras default (0.99) the inference statistics lag far behind the training ones.
BN_MOMENTUM = 0.9


def require_images(input_shape: tuple[int, ...]) -> None:
    check_images("resnet", input_shape, "use model=mlp, or an image representation (e.g. dataset=cms_images)")


def validate_resnet(cfg: DictConfig, input_shape: tuple[int, ...]) -> None:
    require_images(input_shape)
    if cfg.variant not in ("small", "resnet50"):
        raise ConfigError(f"model.variant={cfg.variant!r} is unknown; use small or resnet50")
    check_activation(cfg.activation)
    check_dropout(cfg.dropout)
    check_units(cfg.dense_units, "model.dense_units")
    if cfg.variant == "resnet50":
        if min(input_shape[:2]) < RESNET50_MIN_SIZE:
            raise InvalidArchitectureError(
                f"model=resnet50 needs images of at least {RESNET50_MIN_SIZE}x{RESNET50_MIN_SIZE}, "
                f"got {input_shape[0]}x{input_shape[1]}; use model=resnet (variant small) or larger images"
            )
        return
    if not cfg.stages or any(blocks < 1 for blocks in cfg.stages) or cfg.filters < 1:
        raise ConfigError(
            f"model.stages={list(cfg.stages)} and model.filters={cfg.filters} must be positive; "
            "e.g. model.stages=[2,2] model.filters=16"
        )
    # no size check for the small variant: its strided stages pad ("same"), so an image never
    # shrinks below 1x1 however many stages there are


def _residual_block(x: keras.KerasTensor, filters: int, stride: int, activation: str) -> keras.KerasTensor:
    import keras  # heavy: TensorFlow, for the builder only

    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(y)
    y = keras.layers.Activation(activation)(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(shortcut)
    return keras.layers.Activation(activation)(keras.layers.Add()([y, shortcut]))


def build_resnet(cfg: DictConfig, input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    import keras  # heavy: TensorFlow, for the builder only

    inputs = keras.Input(shape=input_shape, name="inputs")
    if cfg.variant == "resnet50":
        backbone = keras.applications.ResNet50(
            include_top=False, weights=None, input_shape=input_shape, pooling="avg"
        )
        x = backbone(inputs)
    else:
        x = keras.layers.Conv2D(cfg.filters, 3, padding="same", use_bias=False)(inputs)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.Activation(cfg.activation)(x)
        for stage, blocks in enumerate(cfg.stages):
            filters = cfg.filters * 2**stage
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                x = _residual_block(x, filters, stride, cfg.activation)
        x = keras.layers.GlobalAveragePooling2D()(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout)(x)
    x = dense_stack(x, check_units(cfg.dense_units, "model.dense_units"), cfg.activation, cfg.dropout)
    name = "resnet50" if cfg.variant == "resnet50" else f"resnet_{'-'.join(map(str, cfg.stages))}"
    return keras.Model(inputs, classification_head(x, n_classes), name=name)
