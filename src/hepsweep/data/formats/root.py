"""ROOT files through uproot: TTrees and RNTuples, flat branches and jagged collections, every
compression codec ROOT writes (ZLIB, LZMA, LZ4, ZSTD)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import uproot

from hepsweep.data.formats._base import Chunk, Format, TableInfo, open_error

_TABLE_CLASSES = ("TTree", "ROOT::RNTuple")


class RootFormat(Format):
    name = "ROOT"
    extensions = (".root",)

    def _open(self, path: Path) -> Any:
        try:
            return uproot.open(path, array_cache=None)  # chunks are read once: no cache to grow
        except Exception as exc:  # uproot raises many kinds for a file that is not ROOT
            raise open_error(path, self.name, exc) from exc

    def tables(self, path: Path) -> list[str]:
        with self._open(path) as file:
            names = file.classnames(recursive=True)
        return sorted({key.split(";")[0] for key, kind in names.items() if kind in _TABLE_CLASSES})

    def describe(self, path: Path, table: str | None) -> TableInfo:
        name = self.resolve_table(path, table)
        with self._open(path) as file:
            tree = file[name]
            return TableInfo(name, tuple(tree.keys()))

    def iterate(
        self, path: Path, table: str | None, columns: Sequence[str], step: int, stop: int | None = None
    ) -> Iterator[Chunk]:
        name = self.resolve_table(path, table)
        with self._open(path) as file:
            tree = file[name]
            # plain branch names only: uproot's own expression language is never used
            for start in range(0, int(tree.num_entries) if stop is None else min(stop, int(tree.num_entries)), step):
                end = start + step if stop is None else min(start + step, stop)
                arrays = tree.arrays(list(columns), entry_start=start, entry_stop=end, library="ak")
                yield {column: arrays[column] for column in columns}
