"""What ``hepsweep resume`` may take from the command saved with a study: a strict allow-list.

The study's storage is often shared (a PostgreSQL server), so whoever can write it could rewrite
the saved command. Resume therefore never takes the program, the interpreter, the working
folder or a Hydra flag from it, and keeps only overrides whose key is on the list below and
whose value can name neither code nor a path: config group choices (``sweep=quickstart``,
``model=cnn``), the task's own knobs (``model.units=64``), the search space
(``hydra.sweeper.params.*``), the budget and scheduling keys of the sweeper and the sizes of a
launcher. Anything else (launcher setup lines, search paths, callbacks, config folders, output
folders, data paths, URLs, environment variables, interpolations) the user gives again on the
resume command line, or resume refuses in one line.
"""

from __future__ import annotations

import re
from typing import Sequence

# groups whose option may be chosen: the option is a config file of the installed search path
GROUPS = ("sweep", "dataset", "model", "optimizer", "device", "train", "tracking", "approach", "hydra/launcher", "hydra/sweeper/sampler")
# the task's groups whose keys may be set, and its top-level keys
TASK_GROUPS = ("dataset", "model", "optimizer", "device", "train", "tracking")
TASK_KEYS = ("objective", "report")
# task keys that name a file, a folder or a server: never taken from the store
PATH_KEYS = ("dataset.path", "dataset.test_path", "dataset.cache_dir", "tracking.uri")
SWEEPER_KEYS = (
    "n_trials", "n_jobs", "study_name", "direction", "sampler", "pruner", "seed", "max_failure_rate",
    "heartbeat_interval", "grace_period", "max_retry", "retrain_best",
    "tracking.enabled", "tracking.experiment", "tracking.retry_after_s",
)  # fmt: skip
# sizes and queues of hepsweep's, joblib's and submitit's launchers (never ``setup`` or paths)
LAUNCHER_KEYS = (
    "workers", "threads", "recycle_mb", "n_jobs", "timeout_min", "cpus_per_task", "gpus_per_node",
    "tasks_per_node", "mem_gb", "nodes", "partition", "qos", "account", "constraint", "array_parallelism",
)  # fmt: skip
FLAGS = ("-m", "--multirun")

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_DOTTED = rf"{_NAME}(?:\.{_NAME})*"
_ARGUMENT = re.compile(r"(?P<prefix>\+{0,2}|~)(?P<key>[A-Za-z][A-Za-z0-9_./]*)(?:=(?P<value>.*))?", re.DOTALL)
_PLAIN_OPTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# values: numbers, words, lists, sweep expressions (choice, range, interval, tag); no '$' (an
# interpolation reads the environment), no '/' or '\' (a path), no '~' (a home folder)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.,:+\-\[\]{}() '\"=@*]*")


def key_of(argument: str) -> str:
    """The config key an override sets (``+model.units=8`` -> ``model.units``)."""
    return argument.split("=", 1)[0].lstrip("+~")


def _allowed_key(key: str) -> bool:
    if key in GROUPS or key in TASK_KEYS:
        return True
    if key in PATH_KEYS:
        return False
    group, _, rest = key.partition(".")
    if group in TASK_GROUPS:
        return re.fullmatch(_DOTTED, rest) is not None
    if key.startswith("hydra.sweeper.params."):
        searched = key.removeprefix("hydra.sweeper.params.")
        return searched not in PATH_KEYS and (searched in TASK_KEYS or _allowed_key(searched)) and "/" not in searched
    if key.startswith("hydra.sweeper."):
        setting = key.removeprefix("hydra.sweeper.")
        head = setting.split(".", 1)[0]
        if setting in SWEEPER_KEYS:
            return True
        return head in ("sampler", "pruner") and re.fullmatch(_DOTTED, setting) is not None
    if key.startswith("hydra.launcher."):
        return key.removeprefix("hydra.launcher.") in LAUNCHER_KEYS
    return False


def is_allowed(argument: str) -> bool:
    """Whether resume may take ``argument`` from a saved command as it is."""
    if argument.startswith("-"):
        return argument in FLAGS
    match = _ARGUMENT.fullmatch(argument)
    if match is None or "_target_" in argument:
        return False
    key, value = match["key"], match["value"]
    if not _allowed_key(key):
        return False
    if value is None:
        return match["prefix"] == "~"
    if key in GROUPS:
        return value == "null" or _PLAIN_OPTION.fullmatch(value) is not None
    return _SAFE_VALUE.fullmatch(value) is not None


def split_saved(arguments: Sequence[str]) -> tuple[list[str], list[str]]:
    """The saved arguments resume may run, and those it may not."""
    kept, refused = [], []
    for argument in arguments:
        (kept if is_allowed(argument) else refused).append(argument)
    return kept, refused
