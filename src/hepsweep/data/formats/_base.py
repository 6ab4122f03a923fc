"""What every file format provides: its tables, their columns, and chunks of column values."""

from __future__ import annotations

import abc
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import awkward as ak

from hepsweep.errors import DataError, message_line

# column name -> values of that column for the rows of one chunk
Chunk = Mapping[str, ak.Array]


@dataclass(frozen=True)
class TableInfo:
    """One table of a file: its name (None for a format with one table per file) and its columns."""

    name: str | None
    columns: tuple[str, ...]


class Format(abc.ABC):
    """A file format: which tables a file holds and how to read columns of one, in chunks."""

    name: str
    extensions: tuple[str, ...]

    @abc.abstractmethod
    def tables(self, path: Path) -> list[str]:
        """Names of the tables in ``path`` (empty for a format with one table per file)."""

    @abc.abstractmethod
    def describe(self, path: Path, table: str | None) -> TableInfo:
        """The columns of ``table`` (None: the file's only table)."""

    @abc.abstractmethod
    def iterate(
        self, path: Path, table: str | None, columns: Sequence[str], step: int, stop: int | None = None
    ) -> Iterator[Chunk]:
        """Values of ``columns``, ``step`` rows at a time, up to row ``stop``."""

    def resolve_table(self, path: Path, table: str | None) -> str | None:
        """The table to read: ``table`` if the file has it, else the file's only one."""
        names = self.tables(path)
        if not names:
            if table is not None:
                raise DataError(
                    f"'{path.name}' is a {self.name} file with one table; remove dataset.tree={table}"
                )
            return None
        if table is None:
            if len(names) == 1:
                return names[0]
            raise DataError(
                f"'{path.name}' holds several tables ({', '.join(names)}); choose one with dataset.tree=NAME"
            )
        if table not in names:
            raise DataError(
                f"'{path.name}' has no table '{table}'{closest(table, names)}; it holds "
                f"{', '.join(names) or 'none'}: set dataset.tree to one of them"
            )
        return table


def closest(name: str, candidates: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the nearest candidate names, or nothing."""
    near = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def open_error(path: Path, fmt: str, exc: Exception) -> DataError:
    """The one line for a file that cannot be read as ``fmt``."""
    reason = message_line(exc)
    return DataError(f"cannot read '{path.name}' as {fmt} ({reason}); check that the file is whole and in that format")
