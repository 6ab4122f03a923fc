"""Datasets: seeded generators that mimic the physics, readers of the real formats, tf.data input.

``load_dataset(cfg.dataset)`` returns scaled train/validation/test arrays; the raw arrays are
cached once in a binary form and memory-mapped afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from hepsweep.data import cache
from hepsweep.data._base import DatasetFamily, SplitData
from hepsweep.data.arrays import Arrays
from hepsweep.data.belle2 import Belle2Pixels
from hepsweep.data.cms import CmsEvents
from hepsweep.data.hepmass import Hepmass
from hepsweep.data.ntd_pits import NtdPits
from hepsweep.data.ntuple import Ntuple
from hepsweep.data.preprocessing import Scaler, split_fractions, split_indices
from hepsweep.data.weights import check_class_totals, check_policy, training_weights
from hepsweep.errors import ConfigError, DataError

FAMILIES: dict[str, DatasetFamily] = {
    family.name: family for family in (Hepmass(), NtdPits(), Belle2Pixels(), CmsEvents(), Ntuple())
}

__all__ = [
    "Arrays", "DatasetFamily", "FAMILIES", "SplitData", "check_dataset", "family_of", "load_dataset", "raw_arrays",
    "source_identity",
]


def family_of(cfg: DictConfig) -> DatasetFamily:
    try:
        return FAMILIES[cfg.name]
    except KeyError:
        raise ConfigError(
            f"dataset.name={cfg.name!r} is unknown; use one of {sorted(FAMILIES)}"
        ) from None


def source_identity(cfg: DictConfig) -> list[dict[str, object]]:
    """The identity (path, size, modification time) of every file behind ``cfg``'s events
    (``dataset.path``, ``dataset.test_path``, an ntuple's class files); empty for a generator."""
    family = family_of(cfg)
    files = family.input_files(cfg, cfg.path)
    if cfg.test_path:
        files += family.input_files(cfg, cfg.test_path)
    return [_file_identity(f) for f in files]


def _file_identity(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def raw_arrays(cfg: DictConfig, path: str | None = None) -> Arrays:
    """The unsplit, unscaled events of ``cfg`` (or of the file set ``path``), through the cache.

    The cache key covers every dataset key that shapes the events and the identity (path, size,
    modification time) of every file read, so a changed feature, selection or file reads again.
    """
    family = family_of(cfg)
    root = Path(cfg.cache_dir) if cfg.cache_dir else cache.default_cache_dir()
    files = family.input_files(cfg, path)
    key = family.cache_key(cfg)
    if files:
        key = {**key, "files": [_file_identity(f) for f in files]}
    entry = cache.cache_entry(root, key)
    events = cache.load(entry)
    if events is None:
        if files:
            chunks = family.read_files(files, cfg, path)
        else:
            chunks = iter([family.generate(cfg, np.random.default_rng(int(cfg.seed)))])
        events = cache.store(entry, chunks, source=key)
    if events.columns is None:  # a generator's events, fresh or from the cache
        events.columns = family.feature_names(cfg)
    return events


def check_dataset(cfg: DictConfig) -> None:
    """What the dataset config gets wrong on its own, before any file is read: its classes, its
    signal class, its split, its weight policy, and what the family checks (expressions)."""
    family = family_of(cfg)
    family.check_config(cfg)
    check_policy(str(cfg.negative_weights))
    split_fractions(cfg.split)
    family.class_names(cfg)
    family.signal_class(cfg)


def _check_labels(arrays: Arrays, n_classes: int, what: str) -> None:
    if not len(arrays):
        return
    low, high = int(arrays.y.min()), int(arrays.y.max())
    if low < 0 or high >= n_classes:
        raise DataError(
            f"{what} has labels outside 0..{n_classes - 1}; this dataset has classes "
            f"0..{n_classes - 1}: relabel the file"
        )
    if low == high:
        raise DataError(
            f"{what} holds events of class {low} only; a classifier needs events of at least two "
            f"classes (0..{n_classes - 1}): add the others"
        )


def load_dataset(cfg: DictConfig) -> SplitData:
    """Split and scale the events of ``cfg``; the scaler is fitted on the training split only.

    With ``dataset.test_path`` the test split is that file, untouched, and ``dataset.path`` is
    cut into training and validation in the ratio of ``split.train`` to ``split.val``.
    """
    check_dataset(cfg)
    family = family_of(cfg)
    class_names = family.class_names(cfg)
    fractions = split_fractions(cfg.split)
    if fractions[2] == 0 and not cfg.test_path:
        raise ConfigError(
            "dataset.split.test=0 leaves no test events; give an untouched test file with "
            "dataset.test_path=... or a positive dataset.split.test"
        )
    check_policy(str(cfg.negative_weights))
    events = raw_arrays(cfg, cfg.path)
    source = "dataset.path" if cfg.path else ("dataset.classes" if cfg.get("classes") else "the generator")
    _check_labels(events, len(class_names), source)
    if events.w is not None:
        check_class_totals(events.y, np.asarray(events.w), class_names, source)
    if cfg.test_path:
        test = raw_arrays(cfg, cfg.test_path)
        _check_labels(test, len(class_names), "dataset.test_path")
        share = fractions[0] / (fractions[0] + fractions[1])
        train_idx, val_idx, _ = split_indices(len(events), (share, 1 - share, 0.0), int(cfg.seed))
        test_arrays = test.take(np.arange(len(test)))
    else:
        train_idx, val_idx, test_idx = split_indices(len(events), fractions, int(cfg.seed))
        test_arrays = events.take(np.sort(test_idx))
    if min(len(train_idx), len(val_idx), len(test_arrays)) == 0:
        raise DataError(
            f"only {len(events)} events: a split came out empty; use more events "
            "(dataset.n_events or a larger file) or change dataset.split"
        )
    train = events.take(np.sort(train_idx))
    if train.x.shape[1:] != test_arrays.x.shape[1:]:
        raise DataError(
            f"dataset.test_path events have shape {test_arrays.x.shape[1:]} but dataset.path "
            f"events {train.x.shape[1:]}; give files of the same format"
        )
    scaler = Scaler().fit(train.x)
    signal_class = family.signal_class(cfg)
    feature_names = events.columns
    return SplitData(
        train=scaler.apply(train),
        train_weights=training_weights(
            train.y, train.w, len(class_names), bool(cfg.balance_classes), str(cfg.negative_weights)
        ),
        val=scaler.apply(events.take(np.sort(val_idx))),
        test=scaler.apply(test_arrays),
        class_names=class_names,
        signal_class=signal_class,
        preprocessing={
            **scaler.to_dict(),
            "features": feature_names,
            "class_names": class_names,
            "signal_class": signal_class,
        },
        feature_names=feature_names,
    )
