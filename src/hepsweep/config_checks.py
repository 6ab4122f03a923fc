"""The range of every value of hepsweep's config groups, checked once the config is composed.

The schemas in :mod:`hepsweep.config` refuse a value of the wrong type; the rules here refuse
one of the right type that cannot work (a negative ``dataset.n_events``, an empty
``model.activation``, ``tracking.uri=garbage://x``), in one line, before anything is loaded.
The command line checks them before Hydra starts; ``hepsweep.run`` checks them again, so every
trial of a sweep does too. Rules that need the data (a file's columns) or the input shape (a
pooling too deep for the image) stay where that is known.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from hepsweep.config import DATASET_SCHEMAS, MODEL_SCHEMAS, OPTIMIZER_SCHEMAS, check_plain_name
from hepsweep.errors import ConfigError

ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid", "leaky_relu")
# the MLflow stores hepsweep can write to: a SQLAlchemy database, a server, a folder, Databricks
TRACKING_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc", "uc")

# which trials log an MLflow model (tracking.log_models)
LOG_MODELS = ("best", "all", "none")

# how ``hepsweep report`` can present a study (hepsweep.studies.VIEWS, in its order)
REPORT_VIEWS = ("trials", "hipster", "batch_size", "hepmass", "cms")

# a rule returns None for a good value, else what the value must be
Rule = Callable[[Any], "str | None"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def at_least(low: float) -> Rule:
    return lambda v: None if _number(v) and v >= low else f"must be at least {low:g}"


def positive(v: Any) -> str | None:
    return None if _number(v) and v > 0 else "must be positive (and finite)"


def fraction(v: Any) -> str | None:
    return None if _number(v) and 0 <= v <= 1 else "must be within [0, 1]"


def below_one(v: Any) -> str | None:
    return None if _number(v) and 0 <= v < 1 else "must be within [0, 1)"


def seed(v: Any) -> str | None:
    return None if isinstance(v, int) and 0 <= v < 2**32 else "must be a whole number in [0, 2**32)"


def one_of(*names: str) -> Rule:
    return lambda v: None if v in names else f"is unknown; use one of {', '.join(names)}"


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must not be empty"


def optional(rule: Rule) -> Rule:
    return lambda v: None if v is None else rule(v)


def widths(allow_empty: bool) -> Rule:
    def check(v: Any) -> str | None:
        if not isinstance(v, (list, ListConfig)) or (not allow_empty and len(v) == 0):
            return "must list layer sizes, e.g. [64,32]" + ("" if allow_empty else " (at least one)")
        return None if all(isinstance(u, int) and u >= 1 for u in v) else "must list positive whole numbers, e.g. [64,32]"

    return check


def names(minimum: int) -> Rule:
    def check(v: Any) -> str | None:
        if not isinstance(v, (list, ListConfig)) or len(v) < minimum or any(text(u) for u in v):
            return f"must list at least {minimum} non-empty name(s)"
        return None if len(set(v)) == len(v) else "must not name one twice"

    return check


def mapping(v: Any) -> str | None:
    """A leaf where a mapping belongs (a mapping's own values are leaves of their own)."""
    return None if v is None else "must map names to values, e.g. {Jet: 4}"


def finite(v: Any) -> str | None:
    return None if _number(v) else "must be a finite number"


def efficiencies(v: Any) -> str | None:
    if not isinstance(v, (list, ListConfig)):
        return "must list signal efficiencies, e.g. [0.3, 0.5, 0.7]"
    return None if all(_number(u) and 0 < u < 1 for u in v) else "must list fractions between 0 and 1, e.g. [0.3, 0.5, 0.7]"


def positives(v: Any) -> str | None:
    if not isinstance(v, (list, ListConfig)) or len(v) == 0:
        return "must list at least one value"
    return None if all(_number(u) and u > 0 for u in v) else "must list positive numbers"


def tracking_uri(v: Any) -> str | None:
    if text(v):
        return "must not be empty; leave it unset for the store under output_root"
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", v)
    if scheme is None:
        return None  # a folder
    if scheme.group(1).split("+", 1)[0].lower() not in TRACKING_SCHEMES:
        return f"has an unknown scheme; use one of {', '.join(s + '://' for s in TRACKING_SCHEMES)} (or a folder)"
    return None


def plain_name(v: Any) -> str | None:
    try:
        check_plain_name(v, "")
    except ConfigError:
        return "is not a plain name; use letters, digits and _ . - + = @ (no '/' or '..')"
    return None


RULES: dict[str, Rule] = {
    "dataset.name": one_of(*DATASET_SCHEMAS),
    "dataset.path": optional(text),
    "dataset.test_path": optional(text),
    "dataset.cache_dir": optional(text),
    "dataset.n_events": at_least(1),
    "dataset.max_events": optional(at_least(1)),
    "dataset.seed": seed,
    "dataset.split.train": fraction,
    "dataset.split.val": fraction,
    "dataset.split.test": fraction,
    "dataset.masses": positives,
    "dataset.image_size": at_least(1),
    "dataset.representation": one_of("image", "features"),
    # belle2's species list (an ntuple's classes are a mapping, whose files are leaves of their own)
    "dataset.classes": optional(lambda v: None if isinstance(v, (list, ListConfig)) and len(v) >= 2 else "must list two or more classes"),
    "dataset.radius_scale": positive,
    "dataset.negative_weights": one_of("keep", "drop", "abs"),
    "dataset.label": optional(text),
    "dataset.label_classes": names(2),
    "dataset.signal_class": optional(text),
    "dataset.tree": optional(text),
    "dataset.features": names(1),
    "dataset.selection": optional(text),
    "dataset.weight": optional(text),
    "dataset.objects": mapping,
    "dataset.pad_value": finite,
    "dataset.per_object": optional(text),
    "dataset.step_size": at_least(1),
    "metrics.signal_efficiencies": efficiencies,
    "model.name": one_of(*MODEL_SCHEMAS),
    "model.n_layers": at_least(0),
    "model.units": at_least(1),
    "model.hidden_units": optional(widths(allow_empty=True)),
    "model.activation": one_of(*ACTIVATIONS),
    "model.dropout": below_one,
    "model.conv_blocks": at_least(1),
    "model.filters": at_least(1),
    "model.filter_growth": positive,
    "model.kernel_size": at_least(1),
    "model.padding": one_of("same", "valid"),
    "model.pool_size": at_least(1),
    "model.dense_units": widths(allow_empty=True),
    "model.variant": one_of("small", "resnet50"),
    "model.stages": widths(allow_empty=False),
    "optimizer.name": one_of(*OPTIMIZER_SCHEMAS),
    "optimizer.lr": positive,
    "optimizer.clipnorm": optional(positive),
    "optimizer.weight_decay": optional(at_least(0)),
    "optimizer.beta_1": below_one,
    "optimizer.beta_2": below_one,
    "optimizer.epsilon": positive,
    "optimizer.momentum": below_one,
    "optimizer.rho": below_one,
    "device.name": one_of("auto", "cpu", "gpu"),
    "device.intra_op_threads": at_least(0),
    "device.inter_op_threads": at_least(0),
    "train.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.early_stopping_patience": at_least(0),
    "train.seed": seed,
    "train.steps_per_execution": at_least(1),
    "tracking.uri": optional(tracking_uri),
    "tracking.experiment": optional(plain_name),
    "tracking.utilisation_interval_s": positive,
    "tracking.log_models": one_of(*LOG_MODELS),
    "tracking.register_as": optional(text),
    "output_root": text,
    "report": one_of(*REPORT_VIEWS),
}
# ``objective`` is checked by hepsweep.train.objective.Objective.parse, which knows the metrics
# ``hydra/launcher=hepsweep`` (hydra_plugins.hepsweep_sweeper.launcher)
LAUNCHER_RULES: dict[str, Rule] = {
    "hydra.launcher.workers": at_least(1),
    "hydra.launcher.threads": optional(at_least(1)),
    "hydra.launcher.recycle_mb": positive,
}


def leaves(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of ``node`` by its dotted key (lists are leaves)."""
    found: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def check_values(cfg: DictConfig, rules: Mapping[str, Rule] = RULES) -> None:
    """Refuse the first value of ``cfg`` (a composed hepsweep config) that is out of its range."""
    values = leaves(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    for key, rule in rules.items():
        if key in values:
            problem = rule(values[key])
            if problem:
                raise ConfigError(f"{key}={_shown(values[key])} {problem}")


def _shown(value: Any) -> str:
    return "''" if value == "" else str(value)
