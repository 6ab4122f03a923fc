"""Model families (MLP, CNN, ResNet): a check that the config builds a valid network, and the builder.

Each family's validator is light (no Keras): :func:`validate_model` runs before TensorFlow
starts, on the input shape a dataset declares from its config (``train/preflight.py``), and
again on the loaded data's shape; only the builders import Keras, when they build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from omegaconf import DictConfig

from hepsweep.errors import ConfigError
from hepsweep.models import cnn, resnet
from hepsweep.models.cnn import build_cnn, validate_cnn
from hepsweep.models.mlp import build_mlp, validate_mlp
from hepsweep.models.resnet import build_resnet, validate_resnet

if TYPE_CHECKING:
    import keras

Builder = Callable[[DictConfig, tuple[int, ...], int], "keras.Model"]
Validator = Callable[[DictConfig, tuple[int, ...]], None]
InputCheck = Callable[[tuple[int, ...]], None]

FAMILIES: dict[str, tuple[Validator, Builder]] = {
    "mlp": (validate_mlp, build_mlp),
    "cnn": (validate_cnn, build_cnn),
    "resnet": (validate_resnet, build_resnet),
}

# what kind of input a family takes, whatever its other keys (an MLP flattens images: any)
INPUTS: dict[str, InputCheck] = {"cnn": cnn.require_images, "resnet": resnet.require_images}

__all__ = ["FAMILIES", "INPUTS", "build_model", "validate_input", "validate_model"]


def _family(cfg: DictConfig) -> tuple[Validator, Builder]:
    try:
        return FAMILIES[cfg.name]
    except KeyError:
        raise ConfigError(f"model.name={cfg.name!r} is unknown; use one of {sorted(FAMILIES)}") from None


def validate_model(cfg: DictConfig, input_shape: tuple[int, ...]) -> None:
    """Refuse, with the key to change, a config that cannot build a network for ``input_shape``."""
    _family(cfg)[0](cfg, input_shape)


def validate_input(cfg: DictConfig, input_shape: tuple[int, ...]) -> None:
    """Refuse an input the model family cannot take at all (vectors for a CNN), whatever its
    other keys: what a sweep over the family's own keys can already be told."""
    _family(cfg)
    check = INPUTS.get(cfg.name)
    if check is not None:
        check(input_shape)


def build_model(cfg: DictConfig, input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """The network ``cfg`` describes; :func:`validate_model` has accepted ``cfg`` (a run checks
    it once, before it loads anything heavy)."""
    return _family(cfg)[1](cfg, input_shape, n_classes)
