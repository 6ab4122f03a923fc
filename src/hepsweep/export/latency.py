"""Per-event inference time of a prediction function, one event at a time (a trigger) and in
batches of 1024 (an offline analysis). Figures to print and log, never to assert."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

BATCHES = (1, 1024)


def per_event_seconds(predict: Callable[[np.ndarray], Any], x: np.ndarray, batch: int, budget_s: float = 1.0) -> float:
    """Median wall time of one call on ``batch`` events, divided by ``batch``:
    at least 3 calls (after one warm-up call), more while ``budget_s`` lasts, at most 200."""
    events = np.resize(x, (batch, *x.shape[1:])).astype(x.dtype)  # repeats x when it is short
    predict(events)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or (len(times) < 200 and time.perf_counter() - started < budget_s):
        start = time.perf_counter()
        predict(events)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / batch


def latency_table(predictors: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, budget_s: float = 1.0) -> dict[str, dict[int, float]]:
    """``{runtime: {batch: seconds per event}}`` for each runtime and each of :data:`BATCHES`."""
    return {name: {b: per_event_seconds(f, x, b, budget_s) for b in BATCHES} for name, f in predictors.items()}


def format_latency(table: dict[str, dict[int, float]]) -> str:
    """The table as text: microseconds per event, and each runtime's speed relative to Keras."""
    lines = [f"{'runtime':<14}" + "".join(f"{f'batch {b} (us/event)':>22}" for b in BATCHES) + f"{'vs keras (batch 1)':>20}"]
    keras_1 = table.get("keras", {}).get(1)
    for name, row in table.items():
        ratio = f"{keras_1 / row[1]:.1f}x" if keras_1 and row.get(1) else "-"
        lines.append(f"{name:<14}" + "".join(f"{row[b] * 1e6:>22.2f}" for b in BATCHES) + f"{ratio:>20}")
    return "\n".join(lines)


def latency_metrics(table: dict[str, dict[int, float]]) -> dict[str, float]:
    """MLflow metric names: ``latency_us_per_event_<runtime>_batch<N>``."""
    return {f"latency_us_per_event_{name}_batch{b}": s * 1e6 for name, row in table.items() for b, s in row.items()}
