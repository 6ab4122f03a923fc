"""A Hydra app of a user's own, as the README shows it: it reports a learning curve to the
hepsweep sweeper's trial (which also sends it to the trial's MLflow run) and logs one more
figure per step with ``hepsweep.log_metrics``."""

import hydra
import optuna
from omegaconf import DictConfig

import hepsweep

STEPS = 5


@hydra.main(version_base=None, config_path="conf", config_name="config")
def curve(cfg: DictConfig) -> float:
    trial = hepsweep.current_trial()
    value = float(cfg.x**2 + cfg.y**2)
    for step in range(1, STEPS + 1):  # steps count from 1, as hepsweep's epochs do
        value_now = value + (STEPS - step)
        hepsweep.log_metrics({"distance": value_now**0.5}, step=step)
        if trial is not None:
            trial.report(value_now, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return value


if __name__ == "__main__":
    curve()
