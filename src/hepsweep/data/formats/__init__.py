"""Readers of the file formats physicists keep their events in, one module each, keyed by extension.

Every format answers the same three questions about a file (:class:`Format`): which tables it
holds (TTrees and RNTuples, HDF5 datasets), which columns a table has, and the values of some
columns, chunk by chunk, as awkward arrays (flat columns one value per row, jagged collections
a list per row). A dataset family reads through :func:`format_of` and never opens a file itself;
adding a format is one module and one line in :data:`FORMATS`.
"""

from __future__ import annotations

from pathlib import Path

from hepsweep.data.formats._base import Chunk, Format, TableInfo
from hepsweep.data.formats.csv import CsvFormat
from hepsweep.data.formats.hdf5 import Hdf5Format
from hepsweep.data.formats.parquet import ParquetFormat
from hepsweep.data.formats.root import RootFormat
from hepsweep.errors import DataError

FORMATS: tuple[Format, ...] = (RootFormat(), Hdf5Format(), ParquetFormat(), CsvFormat())

__all__ = ["Chunk", "FORMATS", "Format", "TableInfo", "extensions", "format_of"]


def extensions() -> list[str]:
    """Every file extension a format reads."""
    return [ext for fmt in FORMATS for ext in fmt.extensions]


def format_of(path: Path) -> Format:
    """The format that reads ``path``, chosen by its extension."""
    name = path.name.lower()
    for fmt in FORMATS:
        if any(name.endswith(ext) for ext in fmt.extensions):
            return fmt
    raise DataError(f"cannot read '{path.name}': give a file ending in {', '.join(extensions())}")
