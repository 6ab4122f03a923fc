"""The Hydra internals the sweeper plugin relies on, in one place.

Hydra offers no public way to do what these functions do; each says what it reads and why.
Every other module of the plugin uses Hydra's public API. ``tests/compat/test_private_apis.py``
checks that each name used here still exists with the expected signature, and fails naming this
module when a Hydra release changes one; ``pyproject.toml`` pins the range of Hydra versions
tested.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.config_source import ConfigSource
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig

__all__ = [
    "apply_value_overrides",
    "command_line_flags",
    "config_file_name",
    "config_header",
    "failed_job",
    "is_basic_launcher",
    "job_value",
    "overrides_dirname",
    "submitit_cluster",
]


def apply_value_overrides(overrides: List[Override], config: DictConfig) -> None:
    """Apply overrides that change values (not the config's shape) to a composed ``config`` in
    place, with the code Hydra's own composition runs for them."""
    ConfigLoaderImpl._apply_overrides_to_config(overrides, config)


def overrides_dirname(overrides: List[Override], exclude_keys: List[str], item_sep: str, kv_sep: str) -> str:
    """``hydra.job.override_dirname`` of a job with the task ``overrides``, as Hydra writes it."""
    return get_overrides_dirname(overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep)


def config_header(text: str) -> Dict[str, Optional[str]]:
    """The ``# @package``-style header of a config file's first lines, read as Hydra's own config
    sources read it."""
    return ConfigSource._get_header_dict(text)


def config_file_name(name: str) -> str:
    """A config's file name (``.yaml`` added where missing), as Hydra's own config sources name it."""
    return ConfigSource._normalize_file_name(name)


def failed_job(overrides: Sequence[str], error: BaseException) -> JobReturn:
    """The return of a job that failed with ``error``, as Hydra's ``run_job`` builds one (through
    the public setter: kept here beside :func:`job_value`, which reads it back)."""
    result = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    result.return_value = error
    return result


def job_value(result: JobReturn) -> Any:
    """What a job returned, or for a failed job what it raised, without raising it: the public
    ``JobReturn.return_value`` of a failed job writes "Error executing job" to stderr and
    re-raises the exception."""
    return result._return_value


def is_basic_launcher(launcher: Launcher) -> bool:
    """Whether ``launcher`` is Hydra's basic launcher, which runs one job at a time in the
    sweeper's process (Hydra keeps the class in its internal core plugins). Hydra's plugin scan
    executes that module again, so the class is also looked up where it lives now."""
    current = getattr(sys.modules.get(BasicLauncher.__module__), "BasicLauncher", BasicLauncher)
    return isinstance(launcher, (BasicLauncher, current))


def submitit_cluster(launcher: Launcher) -> str:
    """The submitit cluster of one of hydra-submitit-launcher's launchers (``slurm`` or
    ``local``), which the launcher keeps as a class attribute of its own."""
    return str(getattr(type(launcher), "_EXECUTOR"))


@functools.lru_cache(maxsize=None)
def command_line_flags() -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """Hydra's own command-line flags, read from the parser ``hydra.main`` parses with: those that
    take no value (``-m``; ``--info``, whose value is optional), and those that take one
    (``--config-name NAME``). Hydra keeps the parser in its internal utilities, and argparse
    lists a parser's options only in its ``_actions``."""
    bare: set = set()
    valued: set = set()
    for action in get_args_parser()._actions:
        if action.option_strings:  # not the positional overrides
            (valued if action.nargs is None or action.nargs == 1 else bare).update(action.option_strings)
    return frozenset(bare), frozenset(valued)
