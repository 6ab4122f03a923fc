"""Registers ``hydra/sweeper=hepsweep``, the ``hydra/sweeper/sampler`` group, as
hydra-optuna-sweeper does (``override hydra/sweeper/sampler: tpe``), and ``hydra/launcher=hepsweep``.

The nodes themselves are defined once, in :mod:`~hydra_plugins.hepsweep_sweeper._config_nodes`
(which Hydra's plugin scan does not run again); this module, which the scan runs in every Hydra
app, stores them.
"""

from hydra.core.config_store import ConfigStore

from hydra_plugins.hepsweep_sweeper._config_nodes import (
    SAMPLER_OPTIONS,
    HepsweepLauncherConf,
    HepsweepSweeperConf,
    TrackingConf,
    config_node,
)

__all__ = ["SAMPLER_OPTIONS", "HepsweepLauncherConf", "HepsweepSweeperConf", "TrackingConf", "config_node"]

_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="hepsweep", node=HepsweepSweeperConf, provider="hepsweep")
for _name, _node in SAMPLER_OPTIONS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="hepsweep")
_store.store(group="hydra/launcher", name="hepsweep", node=HepsweepLauncherConf, provider="hepsweep")
