"""``hepsweep://`` config source: the ``sweep`` group, served from hepsweep's ``sweeps/`` folder.

The studies live in a top-level ``sweeps/`` folder (one file per study) in a checkout, and inside
the package in an installed wheel. This source maps them to the config group ``sweep`` so that
``hepsweep -m sweep=quickstart`` works from any working directory.
"""

from __future__ import annotations

import os
from typing import List, Optional

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

from hepsweep._resources import sweeps_dir
from hydra_plugins.hepsweep_sweeper._hydra_private import config_file_name, config_header

GROUP = "sweep"


class HepsweepSweepsConfigSource(ConfigSource):
    def __init__(self, provider: str, path: str) -> None:
        super().__init__(provider=provider, path=path)
        self._folder = str(sweeps_dir())

    @staticmethod
    def scheme() -> str:
        return "hepsweep"

    def _file(self, config_path: str) -> Optional[str]:
        head, _, name = config_path.partition("/")
        if head != GROUP or not name:
            return None
        return os.path.join(self._folder, config_file_name(name))

    def load_config(self, config_path: str) -> ConfigResult:
        file = self._file(config_path)
        if file is None or not os.path.isfile(file):
            raise ConfigLoadError(f"Config not found : {config_path}")
        with open(file, encoding="utf-8") as handle:
            header = config_header(handle.read(512))
            handle.seek(0)
            config = OmegaConf.load(handle)
        return ConfigResult(config=config, path=self.full_path(), provider=self.provider, header=header)

    def available(self) -> bool:
        return os.path.isdir(self._folder)

    def is_group(self, config_path: str) -> bool:
        return config_path in ("", GROUP)

    def is_config(self, config_path: str) -> bool:
        file = self._file(config_path)
        return file is not None and os.path.isfile(file)

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
        if config_path == "":
            return [GROUP] if results_filter in (None, ObjectType.GROUP) else []
        if config_path != GROUP or results_filter == ObjectType.GROUP:
            return []
        return sorted(f[: -len(".yaml")] for f in os.listdir(self._folder) if f.endswith(".yaml"))
