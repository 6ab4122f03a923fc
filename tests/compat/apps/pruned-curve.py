"""A Hydra app of a user's own that reports a learning curve to the hepsweep sweeper's trial:
the sphere's value plus a term that falls with each step, pruned when hopeless."""

import hydra
import optuna
from omegaconf import DictConfig

import hepsweep

STEPS = 8


@hydra.main(version_base=None, config_path="conf", config_name="config")
def curve(cfg: DictConfig) -> float:
    trial = hepsweep.current_trial()
    print(f"trial: {'none' if trial is None else trial.number}")
    value = float(cfg.x**2 + cfg.y**2)
    for step in range(1, STEPS + 1):
        value_now = value + (STEPS - step)
        if trial is not None:
            trial.report(value_now, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return value


if __name__ == "__main__":
    curve()
