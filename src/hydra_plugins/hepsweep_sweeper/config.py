"""Registers ``hydra/sweeper=hepsweep``: hepsweep's sweeper settings plus the sweeper class."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from hepsweep.sweep.settings import SweepSettings


@dataclass
class HepsweepSweeperConf(SweepSettings):
    _target_: str = "hydra_plugins.hepsweep_sweeper.sweeper.HepsweepSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="hepsweep", node=HepsweepSweeperConf, provider="hepsweep")
