"""CSV files with a header line naming the columns (plain or gzipped), read in chunks by pandas."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Iterator, Sequence

import awkward as ak
import pandas as pd

from hepsweep.data.formats._base import Chunk, Format, TableInfo, open_error


class CsvFormat(Format):
    name = "CSV"
    extensions = (".csv", ".csv.gz")

    def tables(self, path: Path) -> list[str]:
        return []

    def describe(self, path: Path, table: str | None) -> TableInfo:
        self.resolve_table(path, table)
        try:
            header = pd.read_csv(path, nrows=0)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError,
                zipfile.BadZipFile, zlib.error) as exc:
            raise open_error(path, self.name, exc) from exc
        return TableInfo(None, tuple(str(c) for c in header.columns))

    def iterate(
        self, path: Path, table: str | None, columns: Sequence[str], step: int, stop: int | None = None
    ) -> Iterator[Chunk]:
        self.resolve_table(path, table)
        try:
            for frame in pd.read_csv(path, usecols=list(columns), chunksize=step, nrows=stop):
                numeric = frame.apply(pd.to_numeric, errors="coerce")
                yield {c: ak.Array(numeric[c].to_numpy()) for c in columns}
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise open_error(path, self.name, exc) from exc
