"""Parquet files through pyarrow, one row group batch at a time; list columns become jagged."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import awkward as ak
import pyarrow.parquet as pq

from hepsweep.data.formats._base import Chunk, Format, TableInfo, open_error


class ParquetFormat(Format):
    name = "Parquet"
    extensions = (".parquet", ".pq")

    def _open(self, path: Path) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(path)
        except Exception as exc:  # pyarrow's ArrowInvalid and friends
            raise open_error(path, self.name, exc) from exc

    def tables(self, path: Path) -> list[str]:
        return []

    def describe(self, path: Path, table: str | None) -> TableInfo:
        self.resolve_table(path, table)
        file = self._open(path)
        return TableInfo(None, tuple(file.schema_arrow.names))

    def iterate(
        self, path: Path, table: str | None, columns: Sequence[str], step: int, stop: int | None = None
    ) -> Iterator[Chunk]:
        self.resolve_table(path, table)
        seen = 0
        for batch in self._open(path).iter_batches(batch_size=step, columns=list(columns)):
            arrays = ak.from_arrow(batch)
            if stop is not None:
                arrays = arrays[: max(stop - seen, 0)]
            seen += len(arrays)
            yield {column: arrays[column] for column in columns}
            if stop is not None and seen >= stop:
                return
