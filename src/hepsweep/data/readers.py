"""Readers of the real file formats: HEPMASS-style CSV (streamed), NumPy .npz, whitespace text."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from hepsweep.data.arrays import Arrays
from hepsweep.errors import DataError, message_line

CSV_CHUNK_ROWS = 250_000


def require_file(path: Path) -> Path:
    """Return ``path`` if it is a readable file, else raise a DataError that says so."""
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist; check dataset.path (or dataset.test_path)")
    if not path.is_file():
        raise DataError(f"'{path}' is a folder, not a data file; point dataset.path at a file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise DataError(f"cannot read '{path}' ({exc.strerror}); fix its permissions") from exc
    return path


def _first_bad_cell(chunk: pd.DataFrame) -> tuple[int, str, object]:
    """(row in chunk, column, value) of the first cell that is not a number."""
    numeric = chunk.apply(pd.to_numeric, errors="coerce")
    row, col = np.argwhere(numeric.isna().to_numpy())[0]
    return int(row), str(chunk.columns[col]), chunk.iat[row, col]


def _csv_chunks(path: Path, n_columns: int, max_rows: int | None) -> Iterator[np.ndarray]:
    """Yield float32 blocks of a CSV with a header line, checking shape and numeric cells.

    pandas' C parser reads each block (as float64, its fastest path); a block whose columns are
    not all numeric is searched for the first offending cell to say which line and column.
    """
    try:
        first_line = 2  # line 1 is the header
        for chunk in pd.read_csv(path, chunksize=CSV_CHUNK_ROWS, nrows=max_rows, engine="c"):
            if chunk.shape[1] != n_columns:
                raise DataError(
                    f"'{path.name}' has {chunk.shape[1]} columns but {n_columns} are expected "
                    "(label, f0..f26, mass); give a HEPMASS-format CSV"
                )
            if chunk.empty:  # a header and no rows: the caller refuses an empty dataset
                continue
            if not all(pd.api.types.is_numeric_dtype(dtype) for dtype in chunk.dtypes):
                row, column, value = _first_bad_cell(chunk)
                raise DataError(
                    f"'{path.name}' line {first_line + row}, column '{column}' holds {value!r}, "
                    "not a number; fix or drop that row"
                )
            values = chunk.to_numpy(dtype=np.float64)
            with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
                block = values.astype(np.float32)
            bad = ~np.isfinite(block)  # empty, NaN, inf, or beyond float32 (1e39): the scaler would turn it all to NaN
            if bad.any():
                row, col = np.argwhere(bad)[0]
                value = values[row, col]
                what = "is empty or NaN" if np.isnan(value) else f"holds {value:g}, not a finite 32-bit number"
                raise DataError(
                    f"'{path.name}' line {first_line + row}, column '{chunk.columns[col]}' {what}; fix or drop that row"
                )
            first_line += len(chunk)
            yield block
    except pd.errors.EmptyDataError:
        raise DataError(f"'{path.name}' is empty; give a CSV with a header line and data rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"'{path.name}' is not a well-formed CSV ({message_line(exc)}); "
            "every row needs the same number of comma-separated values"
        ) from exc
    except (UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"cannot read '{path.name}' as CSV ({exc}); give a .csv or .csv.gz file") from exc


def read_label_first_csv(
    path: Path, n_features: int, max_events: int | None = None
) -> Iterator[Arrays]:
    """Stream a CSV whose first column is the label and the next ``n_features`` columns the inputs.

    Chunks of ``CSV_CHUNK_ROWS`` rows are yielded as they are parsed, so a multi-GB HEPMASS file
    never sits in memory as one DataFrame: the cache writes each chunk straight to disk.
    """
    require_file(path)
    n_rows = 0
    for block in _csv_chunks(path, n_features + 1, max_events):
        labels = block[:, 0]
        if not np.all(np.isin(labels, (0.0, 1.0))):
            raise DataError(
                f"'{path.name}' has labels other than 0 and 1 in its first column; fix the labels"
            )
        n_rows += len(block)
        yield Arrays(np.ascontiguousarray(block[:, 1:]), labels.astype(np.int64))
    if n_rows == 0:
        raise DataError(f"'{path.name}' holds no events; give a file with at least one data row")


def read_npz(path: Path, max_events: int | None = None) -> Arrays:
    """Read an ``.npz`` holding ``x`` (N, ...), integer labels ``y`` (N,) and, optionally,
    per-event weights ``w`` (N,)."""
    require_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise DataError(
                    f"'{path.name}' lacks array(s) {sorted(missing)}; save it with "
                    "np.savez(path, x=events, y=labels)"
                )
            x, y = archive["x"], archive["y"]
            w = archive["w"] if "w" in archive.files else None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read '{path.name}' as .npz ({exc}); write it with np.savez") from exc
    if max_events is not None:
        x, y = x[:max_events], y[:max_events]
        w = None if w is None else w[:max_events]
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"'{path.name}' has non-numeric labels y; store class ids 0..K-1")
    if w is not None and (w.ndim != 1 or not np.issubdtype(w.dtype, np.number)):
        raise DataError(f"'{path.name}' has weights w of shape {w.shape}; store one number per event")
    if x.ndim == 3:  # greyscale images (N, H, W) get their channel axis
        x = x[..., None]
    return Arrays(x, y.astype(np.int64), None if w is None else w.astype(np.float64))


def read_label_first_text(path: Path, n_values: int, max_events: int | None = None) -> Arrays:
    """Read whitespace-separated rows: class id, then ``n_values`` numbers (no header)."""
    require_file(path)
    try:
        data = np.loadtxt(path, dtype=np.float32, max_rows=max_events, ndmin=2)
    except ValueError as exc:
        raise DataError(
            f"'{path.name}' is not whitespace-separated numbers ({message_line(exc)}); "
            "fix the file"
        ) from exc
    if data.shape[1] != n_values + 1:
        raise DataError(
            f"'{path.name}' rows have {data.shape[1]} values but {n_values + 1} are expected "
            "(class id, then the pixel charges); give a file in that format"
        )
    return Arrays(data[:, 1:], data[:, 0].astype(np.int64))
