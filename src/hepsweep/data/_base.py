"""What every dataset family provides, and the split arrays that training consumes."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hepsweep.data.arrays import Arrays
from hepsweep.data.readers import read_npz
from hepsweep.errors import DataError


@dataclass
class SplitData:
    """Scaled train/validation/test arrays plus what a model needs to know about them."""

    train: Arrays
    val: Arrays
    test: Arrays
    class_names: list[str]
    train_weights: np.ndarray | None = None  # the training loss's sample_weight (data.weights)
    signal_class: int | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    feature_names: list[str] | None = None  # one per input column of feature-vector data

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.train.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3


class DatasetFamily(abc.ABC):
    """A dataset: a seeded generator that mimics the physics and a reader of the real file format."""

    name: str
    file_formats: tuple[str, ...] = (".npz",)

    @abc.abstractmethod
    def class_names(self, cfg: DictConfig) -> list[str]:
        """Names of the classes, in label order."""

    @abc.abstractmethod
    def generate(self, cfg: DictConfig, rng: np.random.Generator) -> Arrays:
        """Draw ``cfg.n_events`` events from the built-in generator."""

    def read(self, path: Path, cfg: DictConfig) -> Iterator[Arrays]:
        """Read a real file in chunks; the default reads ``.npz`` files holding ``x`` and ``y``."""
        yield read_npz(path, max_events=cfg.max_events)

    def input_files(self, cfg: DictConfig, path: str | None) -> list[Path]:
        """The files behind the events of ``path`` (``dataset.path`` or ``dataset.test_path``);
        none when the built-in generator makes them."""
        if path is None:
            return []
        file = Path(path).expanduser()
        if not file.exists():
            raise DataError(f"data file '{file}' does not exist; check dataset.path (or dataset.test_path)")
        self.check_format(file)
        return [file]

    def read_files(self, files: list[Path], cfg: DictConfig, path: str | None = None) -> Iterator[Arrays]:
        """The events of ``files`` (from :meth:`input_files`), chunk by chunk."""
        for file in files:
            yield from self.read(file, cfg)

    def feature_names(self, cfg: DictConfig) -> list[str] | None:
        """Names of the input columns of feature-vector data, in order; None for images."""
        return None

    def input_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        """The shape of one event's input, as loading gives it (``SplitData.input_shape``), from
        the config alone: no event is drawn or read. None when only the data tells; by default a
        family knows its generator's events (:meth:`generated_shape`) and not a user's files
        (``dataset.path``). The preflight checks the model against it before TensorFlow starts."""
        return None if cfg.get("path") else self.generated_shape(cfg)

    def generated_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        """The shape of one generated event's input; None (the default): known once generated."""
        return None

    def signal_class(self, cfg: DictConfig) -> int | None:
        """The class treated as signal in signal-vs-background figures (binary: class 1)."""
        return 1 if len(self.class_names(cfg)) == 2 else None

    def cache_key(self, cfg: DictConfig) -> dict[str, Any]:
        """The config values that change the raw (unsplit, unscaled) arrays."""
        keys = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(keys, dict)
        for unused in ("split", "cache_dir", "test_path", "balance_classes", "negative_weights"):
            keys.pop(unused, None)
        return keys

    def check_config(self, cfg: DictConfig) -> None:
        """Refuse what the family's own keys get wrong, before any file is read (default: nothing)."""

    def check_format(self, path: Path) -> None:
        if not any(path.name.endswith(ext) for ext in self.file_formats):
            raise DataError(
                f"dataset {self.name} cannot read '{path.name}'; give a file ending in "
                f"{' or '.join(self.file_formats)}"
            )
