"""Training one model: :func:`run` (config -> data -> model -> fit -> evaluate -> outputs).

The names are loaded on first use, so that ``hepsweep.train.objective`` and friends can be read
by the sweeper without importing TensorFlow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Objective", "RunResult", "RunSummary", "run"]

_HOMES = {
    "Objective": "hepsweep.train.objective",
    "RunResult": "hepsweep.train.training",
    "RunSummary": "hepsweep.train.benchmark",
    "run": "hepsweep.train.training",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'hepsweep.train' has no attribute {name!r}")
    import importlib  # heavy: the name's module may import TensorFlow, so it is loaded on first use

    return getattr(importlib.import_module(_HOMES[name]), name)
