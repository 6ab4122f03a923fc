"""Keras optimisers from the ``optimizer`` config group."""

from __future__ import annotations

import keras
from omegaconf import DictConfig

from hepsweep.errors import ConfigError


def check_learning_rate(cfg: DictConfig) -> float:
    """The learning rate of ``cfg``, refused unless positive and finite."""
    lr = float(cfg.lr)
    if not 0 < lr < float("inf"):
        raise ConfigError(f"optimizer.lr={cfg.lr} must be positive; e.g. optimizer.lr=0.001")
    return lr


def make_optimizer(cfg: DictConfig) -> keras.optimizers.Optimizer:
    check_learning_rate(cfg)
    common = {"learning_rate": float(cfg.lr)}
    if cfg.clipnorm is not None:
        common["clipnorm"] = float(cfg.clipnorm)
    if cfg.weight_decay is not None:
        common["weight_decay"] = float(cfg.weight_decay)
    if cfg.name == "adam":
        return keras.optimizers.Adam(
            beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon, amsgrad=cfg.amsgrad, **common
        )
    if cfg.name == "sgd":
        return keras.optimizers.SGD(momentum=cfg.momentum, nesterov=cfg.nesterov, **common)
    if cfg.name == "rmsprop":
        return keras.optimizers.RMSprop(
            rho=cfg.rho, momentum=cfg.momentum, epsilon=cfg.epsilon, centered=cfg.centered, **common
        )
    raise ConfigError(f"optimizer={cfg.name!r} is unknown; use optimizer=adam, sgd or rmsprop")
