"""A CSV cell that is not a finite number is refused with its line and column: an infinite
value would make the scaler's mean infinite and every feature NaN, and training would
"complete" at chance level."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hepsweep.data import load_dataset
from hepsweep.errors import DataError

from .test_loading import write_hepmass_csv


@pytest.mark.parametrize(
    "cell, message",
    [
        ("inf", "holds inf, not a finite 32-bit number"),
        ("-inf", "holds -inf, not a finite 32-bit number"),
        ("1e999", "holds inf, not a finite 32-bit number"),
        ("1e39", "holds 1e+39, not a finite 32-bit number"),  # finite in float64, not in float32
        ("nan", "is empty or NaN"),
        ("", "is empty or NaN"),
    ],
)
def test_a_cell_that_is_not_a_finite_number_is_refused(tmp_path: Path, compose, cell: str, message: str) -> None:
    path = tmp_path / "cells.csv"
    write_hepmass_csv(path, 10)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[7] = cell
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape(f"line 4, column 'f6' {message}; fix or drop that row")):
        load_dataset(compose(f"dataset.path={path}").dataset)
