"""hepsweep's launcher composes a job's config once per shape and copies it (see
``hydra_plugins/hepsweep_sweeper/compose.py``): the config it gives each job must be the one
Hydra's own ``load_sweep_config`` composes from scratch."""

from __future__ import annotations

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hepsweep._resources import config_dir
from hepsweep.config import register_configs
from hydra_plugins.hepsweep_sweeper.compose import JobComposer

JOBS = [
    ["sweep=hepmass_mlp", "model.units=56", "optimizer.lr=0.001", "++hydra.job.env_set.HEPSWEEP_TRIAL=abc"],
    ["sweep=hepmass_mlp", "model.units=112", "optimizer.lr=0.01", "++hydra.job.env_set.HEPSWEEP_TRIAL=xyz"],
    ["model=cnn", "dataset=ntd_pits", "model.filters=8", "train.epochs=3"],
    ["model=cnn", "dataset=ntd_pits", "model.filters=16", "train.epochs=2"],
    ["+extra=1", "train.epochs=4", "hydra.sweep.subdir=best_retrained"],
    ["optimizer=sgd", "optimizer.momentum=0.5", "train.batch_size=64"],
    ["train.epochs=2", "train.epochs=3"],  # the same key twice: Hydra's order decides
]


@pytest.fixture(scope="module")
def master() -> tuple[ConfigLoaderImpl, DictConfig]:
    register_configs()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(config_dir())))
    return loader, loader.load_configuration("config", ["hydra.sweeper.n_trials=3"], run_mode=RunMode.MULTIRUN)


def plain(config: DictConfig) -> dict:
    return OmegaConf.to_container(config, resolve=False)  # type: ignore[return-value]


def test_each_job_gets_the_config_hydra_would_compose(master: tuple[ConfigLoaderImpl, DictConfig]) -> None:
    loader, config = master
    composer = JobComposer(loader, config)
    for overrides in JOBS:
        ours = composer.compose(overrides)
        assert plain(ours) == plain(loader.load_sweep_config(config, overrides)), overrides
        assert OmegaConf.is_struct(ours) and ours.hydra.overrides.task == [o for o in overrides if not o.startswith(("hydra.", "++hydra."))]
    assert composer.compositions == 4  # one composition per shape, not per job


def test_a_copy_is_never_shared_between_jobs(master: tuple[ConfigLoaderImpl, DictConfig]) -> None:
    loader, config = master
    composer = JobComposer(loader, config)
    first = composer.compose(JOBS[0])
    second = composer.compose(JOBS[1])
    first.train.epochs = 99
    assert second.model.units == 112 and second.train.epochs != 99
    assert composer.compose(JOBS[0]).train.epochs != 99
