"""Compiled models kept between the trials of one process, one per architecture.

Tracing a model's training, validation and prediction steps costs about a second on a CPU, more
than several epochs of a small MLP, and a sweep pays it for every trial. Trials that differ only
in the learning rate, the batch size or the number of epochs share an architecture: this cache
hands such a trial the model already compiled, with its weights and optimizer state set back to
what a freshly built model has (same seed, same initial values) and the trial's learning rate.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np


@dataclass
class _Compiled:
    model: keras.Model
    weights: list[np.ndarray]
    optimizer_state: list[np.ndarray]


def architecture_key(**parts: Any) -> str:
    """A stable text key from plain config values (dicts, lists, numbers, strings)."""
    return json.dumps(parts, sort_keys=True, default=str)


class CompiledModels:
    """Up to ``capacity`` compiled models, least recently used dropped first."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Compiled] = OrderedDict()
        self.hits = 0

    def get(self, key: str, build: Callable[[], keras.Model], learning_rate: float) -> keras.Model:
        """The model for ``key`` in its initial state, built and compiled by ``build`` if new."""
        entry = self._entries.get(key)
        if entry is None:
            model = build()
            optimizer = model.optimizer
            optimizer.build(model.trainable_variables)  # its slots exist now, so they can be reset
            entry = _Compiled(model, model.get_weights(), [np.array(v) for v in optimizer.variables])
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(key)
            entry.model.set_weights(entry.weights)
            for variable, value in zip(entry.model.optimizer.variables, entry.optimizer_state):
                variable.assign(value)
        entry.model.optimizer.learning_rate = learning_rate
        return entry.model

    def clear(self) -> None:
        self._entries.clear()


COMPILED_MODELS = CompiledModels()
