"""hydra-optuna-sweeper's multi-objective example (Binh and Korn), with the hepsweep sweeper."""

from typing import Tuple

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="multi-objective-conf", config_name="config")
def binh_and_korn(cfg: DictConfig) -> Tuple[float, float]:
    first = 4 * cfg.x**2 + 4 * cfg.y**2
    second = (cfg.x - 5) ** 2 + (cfg.y - 5) ** 2
    return first, second


if __name__ == "__main__":
    binh_and_korn()
