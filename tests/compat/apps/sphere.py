"""hydra-optuna-sweeper's first example app, here with ``hydra/sweeper: hepsweep``: the sphere
function x² + y², minimised; ``error=true`` makes every job fail."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def sphere(cfg: DictConfig) -> float:
    if cfg.get("error", False):
        raise RuntimeError("cfg.error is True")
    return cfg.x**2 + cfg.y**2


if __name__ == "__main__":
    sphere()
