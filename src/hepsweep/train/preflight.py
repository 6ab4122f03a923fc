"""The checks a run's config passes before anything heavy starts: no TensorFlow, no data read.

A mistake the config alone shows (an unknown objective, a working point that is no whole
percent, a dataset without files, an expression that does not parse, negative epochs, a network
the dataset's declared input shape cannot feed) is refused here in one line, before
TensorFlow's seconds of start-up; the command line runs it first, and
:func:`hepsweep.train.training.run` again for callers from Python.
"""

from __future__ import annotations

from typing import Iterable

from omegaconf import DictConfig, OmegaConf

from hepsweep.config_checks import check_values
from hepsweep.data import check_dataset, family_of
from hepsweep.metrics import figures_of_merit
from hepsweep.models import validate_input, validate_model
from hepsweep.train.objective import Objective


def check_config(cfg: DictConfig, swept: Iterable[str] | None = ()) -> None:
    """Refuse, in one line, what ``cfg`` (a composed config without Hydra's node) gets wrong
    on its own: a value out of its range (:mod:`hepsweep.config_checks`), the objective, the
    working points, the dataset's own keys, and the model for the input shape the dataset
    declares (:func:`check_model`; ``swept``: the keys a sweep's search space sets, None when
    they cannot be known: a custom search space)."""
    check_values(cfg)
    objective = Objective.parse(cfg.objective)
    figures_of_merit(cfg.metrics.signal_efficiencies, also=objective.names)
    check_dataset(cfg.dataset)
    check_model(cfg, swept)


def check_model(cfg: DictConfig, swept: Iterable[str] | None = ()) -> None:
    """Refuse a network that cannot be built for the input shape the dataset declares from its
    config (``DatasetFamily.input_shape``; a user's files declare none: the run checks the
    model on the loaded shape). In a sweep whose search space sets a key that may change the
    network or the shape (a ``model`` or ``dataset`` key, a config group), each trial's values
    replace the fixed config's: a trial that cannot build fails alone, as a config failure;
    when it sets only the family's own keys (``model.units``), the family still has to take the
    dataset's kind of input (no CNN on vectors). A search space that cannot be known
    (``swept=None``: a custom search space's function), or a swept key that the model or the
    dataset reads through an interpolation, leaves the model to the trials."""
    if swept is None:
        return
    swept = [key for key in swept if key.lstrip("+~").split(".", 1)[0] != "hydra"]
    if swept and _interpolated(cfg):
        return  # ``model.units: ${width}`` with ``width`` swept: the trials' values decide
    changes = [_may_change_the_network(cfg, key) for key in swept]
    if any(change == "shape" for change in changes):
        return
    shape = family_of(cfg.dataset).input_shape(cfg.dataset)
    if shape is None:
        return
    if any(change == "model" for change in changes):
        validate_input(cfg.model, shape)
    else:
        validate_model(cfg.model, shape)


def _may_change_the_network(cfg: DictConfig, key: str) -> str | None:
    """What a sweep's key (``model.conv_blocks``, ``approach``, ``optimizer.lr``) may change:
    ``"model"`` for a key of the model family (``model.units``), ``"shape"`` for the model
    family, a ``dataset`` key or anything that is not one of the config's plain values (a
    config group, a key the trial adds), None for the rest."""
    name = key.lstrip("+~").split("@", 1)[0]
    root, _, leaf = name.partition(".")
    if root == "hydra":
        return None
    if root == "model" and leaf and leaf != "name":
        return "model"
    if root in ("model", "dataset"):
        return "shape"
    value = OmegaConf.select(cfg, name, default=None, throw_on_missing=False)
    return "shape" if value is None or OmegaConf.is_config(value) else None


def _interpolated(cfg: DictConfig) -> bool:
    """Whether a value of ``model`` or ``dataset`` is an interpolation (``${...}``), which a
    swept key outside them may feed."""
    texts = [OmegaConf.to_container(cfg[group], resolve=False) for group in ("model", "dataset") if group in cfg]
    return "${" in str(texts)
