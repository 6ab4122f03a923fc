"""HDF5 files through h5py: a compound (structured) dataset is a table whose fields are columns;
a group of equally long datasets is a table whose datasets are columns. A column of shape (N, k)
is a fixed-size collection of k entries per row, read like a jagged one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import awkward as ak
import h5py
import numpy as np

from hepsweep.data.formats._base import Chunk, Format, TableInfo, open_error
from hepsweep.errors import DataError


def _is_table_group(group: h5py.Group) -> bool:
    lengths = {len(item) for item in group.values() if isinstance(item, h5py.Dataset) and item.shape}
    return len(lengths) == 1 and all(isinstance(item, h5py.Dataset) for item in group.values())


class Hdf5Format(Format):
    name = "HDF5"
    extensions = (".h5", ".hdf5", ".hdf")

    def _open(self, path: Path) -> h5py.File:
        try:
            return h5py.File(path, "r")
        except Exception as exc:  # OSError: not an HDF5 file
            raise open_error(path, self.name, exc) from exc

    def tables(self, path: Path) -> list[str]:
        names: list[str] = []

        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and item.dtype.names:
                names.append(name)
            elif isinstance(item, h5py.Group) and len(item) and _is_table_group(item):
                names.append(name)

        with self._open(path) as file:
            if len(file) and _is_table_group(file):
                return ["/"]
            file.visititems(visit)
        return sorted(names)

    def describe(self, path: Path, table: str | None) -> TableInfo:
        name = self.resolve_table(path, table)
        with self._open(path) as file:
            node = file[name]
            if isinstance(node, h5py.Dataset):
                return TableInfo(name, tuple(node.dtype.names or ()))
            return TableInfo(name, tuple(node.keys()))

    def iterate(
        self, path: Path, table: str | None, columns: Sequence[str], step: int, stop: int | None = None
    ) -> Iterator[Chunk]:
        name = self.resolve_table(path, table)
        with self._open(path) as file:
            node = file[name]
            n_rows = len(node) if isinstance(node, h5py.Dataset) else len(next(iter(node.values())))
            end = n_rows if stop is None else min(stop, n_rows)
            for start in range(0, end, step):
                rows = slice(start, min(start + step, end))
                if isinstance(node, h5py.Dataset):
                    block = node.fields(list(columns))[rows] if len(columns) > 1 else node[rows]
                    yield {c: _as_awkward(block[c], path, c) for c in columns}
                else:
                    yield {c: _as_awkward(node[c][rows], path, c) for c in columns}


def _as_awkward(values: np.ndarray, path: Path, column: str) -> ak.Array:
    if values.dtype.names:
        raise DataError(
            f"'{path.name}' column '{column}' is itself a compound of {list(values.dtype.names)}; "
            "name one of its fields as a table (dataset.tree) instead"
        )
    if values.ndim > 2:
        raise DataError(f"'{path.name}' column '{column}' has shape {values.shape[1:]} per row; give flat or (N, k) columns")
    return ak.Array(values) if values.ndim == 1 else ak.from_regular(ak.Array(values), axis=1)
