"""The sweeper's settings, read and checked once from ``hydra.sweeper``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from hepsweep.errors import ConfigError

DIRECTIONS = ("maximize", "minimize")


@dataclass
class TrackingSettings:
    enabled: bool = True
    uri: str | None = None
    experiment: str | None = None


@dataclass
class SweepSettings:
    """Everything a study run needs to know besides the search space and the launcher."""

    study_name: str = "hepsweep"
    directions: list[str] = field(default_factory=lambda: ["maximize"])
    sampler: Any = "tpe"
    pruner: Any = None
    storage: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    max_failure_rate: float = 0.5
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 2
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    retrain_best: bool = False
    retrain_overrides: list[str] = field(default_factory=list)

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | DictConfig) -> "SweepSettings":
        data = OmegaConf.to_container(raw, resolve=True) if isinstance(raw, DictConfig) else dict(raw)
        assert isinstance(data, dict)
        data.pop("_target_", None)
        direction = data.pop("direction", "maximize")
        directions = [str(d).lower() for d in (direction if isinstance(direction, list) else [direction])]
        for d in directions:
            if d not in DIRECTIONS:
                raise ConfigError(f"hydra.sweeper.direction={d!r} is unknown; use maximize or minimize (or a list)")
        tracking = TrackingSettings(**(data.pop("tracking", None) or {}))
        settings = cls(directions=directions, tracking=tracking, **data)
        settings.check()
        return settings

    def check(self) -> None:
        if self.n_trials < 1:
            raise ConfigError(f"hydra.sweeper.n_trials={self.n_trials} must be at least 1 (it is the study's total budget)")
        if self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_jobs={self.n_jobs} must be at least 1")
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be within [0, 1]")
        if self.heartbeat_interval < 1 or self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                "hydra.sweeper.grace_period must exceed heartbeat_interval (both in seconds, at least 1); "
                f"got heartbeat_interval={self.heartbeat_interval}, grace_period={self.grace_period}"
            )
        if not self.study_name or "/" in self.study_name:
            raise ConfigError(f"hydra.sweeper.study_name={self.study_name!r} must be a non-empty name without '/'")
