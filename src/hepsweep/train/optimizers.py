"""Keras optimisers from the ``optimizer`` config group."""

from __future__ import annotations

import keras
from omegaconf import DictConfig, OmegaConf

from hepsweep.errors import ConfigError


def check_learning_rate(cfg: DictConfig) -> float:
    """The learning rate of ``cfg``, refused unless positive and finite."""
    lr = float(cfg.lr)
    if not 0 < lr < float("inf"):
        raise ConfigError(f"optimizer.lr={cfg.lr} must be positive; e.g. optimizer.lr=0.001")
    return lr


# the ``optimizer`` group's choices and the Keras classes they name; each choice's schema
# (hepsweep.config) holds exactly the keyword arguments of its class. Not ``_target_`` nodes:
# a trial's config comes back from the study store and from ``hepsweep resume``, and only this
# fixed table (never a class path in the config) decides what code builds the optimiser.
KERAS_CLASSES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def make_optimizer(cfg: DictConfig) -> keras.optimizers.Optimizer:
    """The Keras optimiser ``cfg`` describes, built by Keras from its config (``keras.optimizers.get``)."""
    check_learning_rate(cfg)
    if cfg.name not in KERAS_CLASSES:
        raise ConfigError(f"optimizer={cfg.name!r} is unknown; use optimizer=adam, sgd or rmsprop")
    settings = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(settings, dict)
    settings.pop("name")
    settings["learning_rate"] = float(settings.pop("lr"))
    config = {k: v for k, v in settings.items() if v is not None}  # unset: Keras' default
    return keras.optimizers.get({"class_name": KERAS_CLASSES[cfg.name], "config": config})
