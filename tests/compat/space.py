"""A custom search space reached by its import path (``hydra.sweeper.custom_search_space``)."""

from __future__ import annotations

from omegaconf import DictConfig
from optuna import Trial


def suggest_width(cfg: DictConfig, trial: Trial) -> None:
    trial.suggest_int("width", cfg.low, cfg.high)
