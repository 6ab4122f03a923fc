"""A physicist's own ntuples: one file set per physics process, or one file set and a label
expression; features, a selection and per-event weights from the user's config; jagged
collections padded to their leading objects, or one row per object.

Files are read through :mod:`hepsweep.data.formats` in chunks of ``dataset.step_size`` rows,
so a file larger than memory streams into the binary cache chunk by chunk. Every mistake that a
file can reveal (a missing tree or branch, a jagged feature without ``objects``, files of one
class that differ, NaN values, an empty class) ends in one line that names the fix.
"""

from __future__ import annotations

import glob
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import awkward as ak
import numpy as np
from omegaconf import DictConfig

from hepsweep.data._base import DatasetFamily
from hepsweep.data.arrays import Arrays
from hepsweep.data.expressions import Expression
from hepsweep.data.formats import TableInfo, extensions, format_of
from hepsweep.data.formats._base import closest
from hepsweep.errors import ConfigError, DataError

_GLOB_CHARACTERS = set("*?[")


def expand(pattern: str, key: str) -> list[Path]:
    """The files a path or glob names, sorted; a DataError when it names none."""
    text = str(Path(str(pattern)).expanduser())
    if _GLOB_CHARACTERS & set(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not files:
            raise DataError(f"{key}: '{pattern}' matches no file; check the pattern and the folder it is relative to")
        return files
    path = Path(text)
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist; check {key}")
    if not path.is_file():
        raise DataError(f"'{path}' is a folder, not a data file; point {key} at files or a glob like '{path}/*.root'")
    format_of(path)  # refuses an unknown extension now, in one line
    return [path]


@dataclass(frozen=True)
class _Feature:
    """One entry of ``dataset.features``: a column read as it is, or an expression."""

    text: str
    expression: Expression | None  # None: the text is a column of the table

    def names(self) -> set[str]:
        return {self.text} if self.expression is None else set(self.expression.names)

    def values(self, columns: dict[str, Any]) -> Any:
        return columns[self.text] if self.expression is None else self.expression.evaluate(columns)


@dataclass(frozen=True)
class _Plan:
    """What to read from a table and how to turn it into rows, built from the config once per table."""

    features: tuple[_Feature, ...]
    selection: Expression | None
    weight: Expression | None
    label: Expression | None

    @classmethod
    def of(cls, cfg: DictConfig, table: TableInfo) -> "_Plan":
        features = tuple(
            _Feature(str(f), None if str(f) in table.columns else Expression.parse(f, "dataset.features"))
            for f in cfg.features
        )

        def parse(key: str) -> Expression | None:
            value = cfg.get(key)
            return None if value is None else Expression.parse(value, f"dataset.{key}")

        return cls(features, parse("selection"), parse("weight"), parse("label"))

    def columns(self) -> set[str]:
        names = set().union(*(f.names() for f in self.features))
        for expression in (self.selection, self.weight, self.label):
            if expression is not None:
                names |= expression.names
        return names


def _is_jagged(values: Any) -> bool:
    return isinstance(values, ak.Array) and values.ndim > 1


def _numbers(values: Any) -> np.ndarray:
    return np.asarray(ak.to_numpy(values), dtype=np.float64) if isinstance(values, ak.Array) else np.asarray(values, dtype=np.float64)


class Ntuple(DatasetFamily):
    """``dataset=ntuple``: the user's own ROOT, HDF5, Parquet or CSV files."""

    name = "ntuple"
    file_formats = tuple(extensions())

    # --- classes ---------------------------------------------------------------------------------
    def class_names(self, cfg: DictConfig) -> list[str]:
        if cfg.classes:
            names = [str(k) for k in cfg.classes]
            if len(names) < 2:
                raise ConfigError(
                    f"dataset.classes names only {names}; give two or more classes, e.g. "
                    "{signal: [signal.root], background: [ttbar.root, wjets.root]}"
                )
            if cfg.label is not None:
                raise ConfigError("dataset.classes and dataset.label both give the classes; keep one of them")
            if cfg.test_path:
                raise ConfigError("dataset.test_path goes with dataset.path and dataset.label; with dataset.classes, "
                                  "the test events are cut from the class files (dataset.split.test)")
            return names
        if cfg.path:
            if cfg.label is None:
                raise ConfigError(
                    "dataset.path needs dataset.label, an expression giving each row's class "
                    "(e.g. 'Jet_hadronFlavour == 5'), or give the classes as dataset.classes={signal: [...], background: [...]}"
                )
            names = [str(n) for n in cfg.label_classes]
            if len(names) < 2 or len(set(names)) != len(names):
                raise ConfigError(f"dataset.label_classes={names} must name two or more distinct classes, in label order")
            return names
        raise ConfigError(
            "dataset=ntuple reads your files: give dataset.classes={signal: [sig.root], background: [bkg.root]} "
            "(or dataset.path with dataset.label); `hepsweep example-ntuples` writes example files"
        )

    def signal_class(self, cfg: DictConfig) -> int | None:
        names = self.class_names(cfg)
        if cfg.signal_class is not None:
            if cfg.signal_class not in names:
                raise ConfigError(
                    f"dataset.signal_class={cfg.signal_class!r} is not a class{closest(str(cfg.signal_class), names)}; "
                    f"use one of {names}"
                )
            return names.index(cfg.signal_class)
        return names.index("signal") if "signal" in names else 0

    def check_config(self, cfg: DictConfig) -> None:
        if cfg.classes is not None and not hasattr(cfg.classes, "items"):
            raise ConfigError(
                "dataset.classes must map class names to their files, e.g. "
                "{signal: [sig.root], background: [ttbar.root, wjets.root]}"
            )
        names = [str(k) for k in cfg.classes] if cfg.classes else [str(n) for n in cfg.label_classes]
        if not cfg.classes and (len(names) < 2 or len(set(names)) != len(names)):
            raise ConfigError(f"dataset.label_classes={names} must name two or more distinct classes, in label order")
        if cfg.signal_class is not None and cfg.signal_class not in names:
            raise ConfigError(
                f"dataset.signal_class={cfg.signal_class!r} is not a class{closest(str(cfg.signal_class), names)}; "
                f"use one of {names}"
            )
        if not cfg.features:
            raise ConfigError("dataset.features is empty; list the branches (or expressions) to train on, e.g. [MET_pt, Jet_pt]")
        for key in ("selection", "weight", "label"):
            if cfg.get(key) is not None:
                Expression.parse(cfg.get(key), f"dataset.{key}")
        objects = cfg.objects or {}
        if not hasattr(objects, "items") or not all(isinstance(v, int) and v >= 1 for v in objects.values()):
            raise ConfigError(
                f"dataset.objects={objects} must map collection names to whole numbers of leading objects, e.g. {{Jet: 4}}"
            )
        if cfg.per_object is not None and objects:
            raise ConfigError("dataset.per_object and dataset.objects exclude each other: one row per object, or "
                              "the leading objects of each event")
        if int(cfg.step_size) < 1:
            raise ConfigError(f"dataset.step_size={cfg.step_size} must be at least 1, e.g. 200000")

    def cache_key(self, cfg: DictConfig) -> dict[str, Any]:
        key = super().cache_key(cfg)
        for unused in ("seed", "n_events"):  # the events are the files', not drawn
            key.pop(unused, None)
        return key

    def input_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        """With ``dataset.per_object`` each feature is one column; otherwise a feature is one
        column or, when the files hold a collection, ``dataset.objects`` columns: the files tell."""
        return (len(cfg.features),) if cfg.per_object is not None and cfg.features else None

    def generate(self, cfg: DictConfig, rng: np.random.Generator) -> Arrays:
        self.class_names(cfg)  # says what to give
        raise AssertionError("an ntuple dataset always has files")  # pragma: no cover

    # --- files -----------------------------------------------------------------------------------
    def _file_sets(self, cfg: DictConfig, path: str | None) -> list[tuple[int | None, str, list[Path]]]:
        """(class id or None for a label expression, config key, files) for each file set."""
        self.class_names(cfg)
        if cfg.classes:
            sets = []
            for k, (name, patterns) in enumerate(cfg.classes.items()):
                patterns = [patterns] if isinstance(patterns, str) else list(patterns)
                if not patterns:
                    raise ConfigError(f"dataset.classes.{name} lists no file; give its files or globs")
                files = [f for p in patterns for f in expand(p, f"dataset.classes.{name}")]
                sets.append((k, f"dataset.classes.{name}", list(dict.fromkeys(files))))
            return sets
        key = "dataset.test_path" if path == cfg.test_path and cfg.test_path else "dataset.path"
        return [(None, key, expand(str(path), key))]

    def input_files(self, cfg: DictConfig, path: str | None) -> list[Path]:
        return [f for _, _, files in self._file_sets(cfg, path or cfg.path) for f in files]

    def read_files(self, files: list[Path], cfg: DictConfig, path: str | None = None) -> Iterator[Arrays]:
        names = self.class_names(cfg)
        counts: Counter[int] = Counter()
        for label, key, file_set in self._file_sets(cfg, path or cfg.path):
            before = sum(counts.values())
            for chunk in self._read_set(file_set, key, label, cfg, len(names)):
                for k, n in zip(*np.unique(chunk.y, return_counts=True)):
                    counts[int(k)] += int(n)
                yield chunk
            if label is not None and counts[label] == 0:
                where = f" after dataset.selection={cfg.selection!r}" if cfg.selection else ""
                raise DataError(f"class {names[label]} ({key}) has no events{where}; loosen the selection or check its files")
            if label is None and sum(counts.values()) == before:
                where = f" after dataset.selection={cfg.selection!r}" if cfg.selection else ""
                raise DataError(f"{key} has no events{where}; loosen the selection or check the files")
        if cfg.label is not None and len([k for k in counts if counts[k]]) < 2:
            only = ", ".join(names[int(k)] for k in counts if counts[k]) or "none"
            raise DataError(
                f"dataset.label={cfg.label!r} gives one class only ({only}); a classifier needs two or more: "
                "check the expression and dataset.label_classes"
            )

    def _read_set(self, files: list[Path], key: str, label: int | None, cfg: DictConfig, n_classes: int) -> Iterator[Arrays]:
        tables = [(f, format_of(f).describe(f, cfg.tree)) for f in files]
        remaining = None if cfg.max_events is None else int(cfg.max_events)
        step = int(cfg.step_size)
        for path, table in tables:
            plan = _Plan.of(cfg, table)
            self._check_columns(plan, path, table, tables, key)
            for chunk in format_of(path).iterate(path, table.name, sorted(plan.columns()), step, remaining):
                rows = _Rows(plan, cfg, path, n_classes).make(dict(chunk), label)
                if remaining is not None:
                    remaining -= len(next(iter(chunk.values()))) if chunk else 0
                if len(rows):
                    yield rows
            if remaining is not None and remaining <= 0:
                return

    @staticmethod
    def _check_columns(plan: _Plan, path: Path, table: TableInfo, tables: list[tuple[Path, TableInfo]], key: str) -> None:
        for column in sorted(plan.columns() - set(table.columns)):
            having = [p.name for p, t in tables if column in t.columns]
            if having:
                raise DataError(
                    f"the files of {key} differ: '{path.name}' has no branch {column}, which '{having[0]}' has; "
                    "give files with the same branches (or leave that feature out)"
                )
            where = f" in {table.name}" if table.name else ""
            raise DataError(
                f"'{path.name}' has no branch {column}{where}{closest(column, table.columns)}; "
                f"check dataset.features, dataset.selection and dataset.weight"
            )


class _Rows:
    """Turns one chunk of columns into rows of features, labels and weights."""

    def __init__(self, plan: _Plan, cfg: DictConfig, path: Path, n_classes: int) -> None:
        self.plan, self.path, self.n_classes = plan, path, n_classes
        self.objects = {str(k): int(v) for k, v in (cfg.objects or {}).items()}
        self.per_object = None if cfg.per_object is None else str(cfg.per_object)
        self.pad_value = float(cfg.pad_value)

    def make(self, columns: dict[str, Any], label: int | None) -> Arrays:
        plan = self.plan
        if plan.selection is not None:
            keep = plan.selection.evaluate(columns)
            if _is_jagged(keep):
                raise ConfigError(
                    f"dataset.selection={plan.selection.text!r} gives a value per object, not per event; "
                    "reduce it, e.g. any(Jet_pt > 30) or num(Jet_pt) >= 4"
                )
            keep = np.asarray(ak.to_numpy(keep) if isinstance(keep, ak.Array) else keep, dtype=bool)
            columns = {k: v[keep] for k, v in columns.items()}
        n_events = len(next(iter(columns.values())))
        blocks, names = [], []
        reference = None
        for feature in plan.features:
            values = feature.values(columns)
            if self.per_object is not None:
                if _is_jagged(values):
                    reference = values if reference is None else reference
                    blocks.append(values)
                else:
                    blocks.append(values)
                names.append(feature.text)
                continue
            if _is_jagged(values):
                count = self._count(feature)
                padded = ak.fill_none(ak.pad_none(values, count, axis=1, clip=True), self.pad_value)
                blocks.append(np.asarray(ak.to_numpy(padded), dtype=np.float64).reshape(n_events, count))
                names += [f"{feature.text}_{i}" for i in range(count)]
            else:
                blocks.append(np.broadcast_to(_numbers(values), (n_events,)).reshape(n_events, 1))
                names.append(feature.text)
        weights = None if plan.weight is None else plan.weight.evaluate(columns)
        labels = np.full(n_events, label) if label is not None else plan.label.evaluate(columns)  # type: ignore[union-attr]
        if self.per_object is not None:
            if reference is None:
                raise ConfigError(
                    f"dataset.per_object={self.per_object} but no feature is a {self.per_object} collection; "
                    f"list some, e.g. {self.per_object}_pt"
                )
            blocks = [self._per_object(b, reference, text) for b, text in zip(blocks, names)]
            if weights is not None:
                weights = self._per_object(weights, reference, "dataset.weight")[:, 0]
            labels = self._per_object(labels, reference, "dataset.label")[:, 0]
        elif _is_jagged(labels) or _is_jagged(weights):
            what = "dataset.label" if _is_jagged(labels) else "dataset.weight"
            raise ConfigError(f"{what} gives a value per object; use dataset.per_object=COLLECTION for one row per object, "
                              "or reduce it to one value per event")
        x = np.concatenate(blocks, axis=1) if blocks else np.zeros((n_events, 0))
        self._check_finite(x, names)
        y = self._labels(labels)
        w = None if weights is None else np.broadcast_to(_numbers(weights), (len(y),)).copy()
        if w is not None and not np.isfinite(w).all():
            raise DataError(
                f"'{self.path.name}': dataset.weight={self.plan.weight.text!r} is NaN or infinite in "  # type: ignore[union-attr]
                f"{int((~np.isfinite(w)).sum())} rows; fix the weights or select those rows away"
            )
        return Arrays(x.astype(np.float32), y, w, names)

    def _per_object(self, values: Any, reference: ak.Array, what: str) -> np.ndarray:
        """``values`` as one column with a row per object of ``reference``'s collection (event
        values repeated for each of the event's objects)."""
        try:
            flat = ak.flatten(ak.broadcast_arrays(values, reference)[0], axis=1)
        except ValueError:  # awkward cannot line up two different collections
            raise ConfigError(
                f"{what} is not one value per event nor one per {self.per_object} (another collection?); "
                f"with dataset.per_object={self.per_object}, use {self.per_object}_* columns and event columns"
            ) from None
        return np.asarray(ak.to_numpy(flat), dtype=np.float64)[:, None]

    def _count(self, feature: _Feature) -> int:
        for name in sorted(feature.names()):
            prefix = name.split("_", 1)[0]
            if prefix in self.objects:
                return self.objects[prefix]
        prefix = sorted(feature.names())[0].split("_", 1)[0]
        raise ConfigError(
            f"feature {feature.text} is a collection (one value per {prefix}); add dataset.objects={{{prefix}: 4}} "
            f"for the leading 4, or dataset.per_object={prefix} for one row per {prefix}"
        )

    def _check_finite(self, x: np.ndarray, names: list[str]) -> None:
        bad = ~np.isfinite(x)
        if bad.any():
            column = int(np.argmax(bad.any(axis=0)))
            raise DataError(
                f"'{self.path.name}': feature {names[column]} is NaN or infinite in {int(bad[:, column].sum())} rows; "
                "fix those values, select them away (dataset.selection) or pad collections with dataset.objects"
            )

    def _labels(self, labels: Any) -> np.ndarray:
        values = _numbers(labels)
        if not np.all(np.isin(values, np.arange(self.n_classes))):
            bad = values[~np.isin(values, np.arange(self.n_classes))][0]
            raise DataError(
                f"dataset.label={self.plan.label.text!r} gives {bad:g}, not a class id 0..{self.n_classes - 1}; "  # type: ignore[union-attr]
                "make it a comparison (True is class 1) or a whole number per dataset.label_classes"
            )
        return values.astype(np.int64)
