"""A write-once binary cache of raw event arrays, memory-mapped on every later read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hepsweep.data.arrays import Arrays
from hepsweep.errors import DataError

CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """``$HEPSWEEP_CACHE``, else ``~/.cache/hepsweep``."""
    env = os.environ.get("HEPSWEEP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hepsweep"


def cache_entry(root: Path, key: dict[str, Any]) -> Path:
    """The folder that holds (or will hold) the arrays described by ``key``."""
    digest = hashlib.sha256(
        json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True, default=str).encode()
    ).hexdigest()[:20]
    return root / f"{key.get('name', 'data')}-{digest}"


def load(entry: Path) -> Arrays | None:
    """Memory-map a finished cache entry, or None when there is none."""
    meta_path = entry / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if not meta["x_shape"][0]:  # an empty entry cannot be mapped; it is built again (and refused)
        return None
    n_events = meta["x_shape"][0]
    x = np.memmap(entry / "x.bin", dtype=meta["x_dtype"], mode="r", shape=tuple(meta["x_shape"]))
    y = np.memmap(entry / "y.bin", dtype=np.int64, mode="r", shape=(n_events,))
    w = np.memmap(entry / "w.bin", dtype=np.float64, mode="r", shape=(n_events,)) if meta.get("weighted") else None
    return Arrays(x, y, w, meta.get("columns"))


def store(entry: Path, chunks: Iterable[Arrays], source: dict[str, Any]) -> Arrays:
    """Write ``chunks`` to ``entry`` one at a time, then publish it atomically and map it.

    Weights are kept when the chunks carry them (all of them or none); the first chunk's
    column names name the columns."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        n_events, x_shape, x_dtype, weighted, columns = 0, None, None, None, None
        with contextlib.ExitStack() as files:
            x_file = files.enter_context(open(staging / "x.bin", "wb"))
            y_file = files.enter_context(open(staging / "y.bin", "wb"))
            w_file = None
            for chunk in chunks:
                if x_shape is None:
                    x_shape, x_dtype, weighted, columns = chunk.x.shape[1:], chunk.x.dtype, chunk.w is not None, chunk.columns
                    if weighted:
                        w_file = files.enter_context(open(staging / "w.bin", "wb"))
                if (chunk.w is not None) != weighted:
                    raise DataError("some files carry weights and some do not; give dataset.weight for all of them")
                np.ascontiguousarray(chunk.x, dtype=x_dtype).tofile(x_file)
                np.ascontiguousarray(chunk.y, dtype=np.int64).tofile(y_file)
                if w_file is not None and chunk.w is not None:
                    np.ascontiguousarray(chunk.w, dtype=np.float64).tofile(w_file)
                n_events += len(chunk)
        if n_events == 0 or x_shape is None or x_dtype is None:
            raise DataError(
                "the data holds no events; give dataset.n_events > 0, or a data file with at least one "
                "row after its header"
            )
        meta = {
            "x_shape": [n_events, *x_shape],
            "x_dtype": np.dtype(x_dtype).str,
            "weighted": bool(weighted),
            "columns": columns,
            "source": source,
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        try:
            staging.rename(entry)
        except OSError:  # another process published the same entry first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    cached = load(entry)
    assert cached is not None
    return cached
