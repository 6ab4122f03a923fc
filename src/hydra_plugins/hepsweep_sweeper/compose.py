"""Composing a sweep's job configs once per shape instead of once per job.

Hydra composes every job from scratch (``ConfigLoader.load_sweep_config``: the defaults tree,
the YAML files, the merges), about 0.2-0.4 s, although a study's trials differ only in values
(``model.units=56``). :class:`JobComposer` composes once per *shape* (the overrides that choose
config groups, add or delete keys) and gives each job a copy with its value overrides applied by
Hydra's own override code, then the bookkeeping Hydra would write (``hydra.overrides``,
``hydra.job.override_dirname``). Anything it does not handle the same way (the same key given
twice, a sweep expression) is composed by Hydra as before; ``tests/compat`` checks that both
give the same config.
"""

import copy
from typing import Dict, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.config_loader import ConfigLoader
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.hepsweep_sweeper._hydra_private import apply_value_overrides, overrides_dirname


class JobComposer:
    """The job configs of one sweep (its master config), composed as Hydra's launchers do."""

    def __init__(self, loader: ConfigLoader, master: DictConfig) -> None:
        self.loader, self.master = loader, master
        self.parser = OverridesParser.create()
        self._bases: Dict[Tuple[str, ...], DictConfig] = {}
        self._groups = set(master.hydra.runtime.choices.keys())

    @property
    def compositions(self) -> int:
        """How many configs were composed from scratch: one per shape of job seen so far."""
        return len(self._bases)

    def _changes_shape(self, override: Override) -> bool:
        """Whether ``override`` changes the config's shape (which files compose it, which keys
        exist) rather than a value in it."""
        key = override.key_or_group
        return (
            override.is_add()
            or override.is_delete()
            or override.is_sweep_override()
            or override.package is not None
            or "/" in key
            or key in self._groups
        )

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The job's config: what ``load_sweep_config(master, overrides)`` returns."""
        parsed = self.parser.parse_overrides(list(overrides))
        keys = [o.key_or_group for o in parsed]
        if len(set(keys)) != len(keys):
            return self.loader.load_sweep_config(self.master, list(overrides))
        shape = tuple(o.input_line for o in parsed if self._changes_shape(o))
        if shape not in self._bases:
            self._bases[shape] = self.loader.load_sweep_config(self.master, list(shape))
        config = copy.deepcopy(self._bases[shape])
        apply_value_overrides([o for o in parsed if not self._changes_shape(o)], config)
        every = self.parser.parse_overrides(list(self.master.hydra.overrides.hydra)) + parsed
        task = [o for o in every if not o.is_hydra_override()]
        job = config.hydra.job
        with open_dict(config.hydra):
            config.hydra.overrides.hydra = [o.input_line for o in every if o.is_hydra_override()]
            config.hydra.overrides.task = [o.input_line for o in task]
            job.override_dirname = overrides_dirname(
                overrides=task,
                kv_sep=job.config.override_dirname.kv_sep,
                item_sep=job.config.override_dirname.item_sep,
                exclude_keys=job.config.override_dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=self.master, to_config=config)
        return config


def composer_for(loader: ConfigLoader, master: DictConfig, cache: Dict[int, JobComposer]) -> JobComposer:
    """The composer of ``master`` in ``cache`` (one per sweep a process serves)."""
    if id(master) not in cache:
        cache[id(master)] = JobComposer(loader, master)
    return cache[id(master)]
