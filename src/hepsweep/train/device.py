"""Choosing where TensorFlow trains: cpu, gpu (refused without one) or auto (falls back to CPU).

GPUs are never hidden from the process; a run is pinned to its device with ``tf.device``
instead, because TensorFlow fixes the visible devices once per process and one process may
run many trials (the in-process launcher), some on the CPU and some on a GPU.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Iterator

import keras
import tensorflow as tf
from omegaconf import DictConfig

from hepsweep.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceChoice:
    """What training runs on: ``cpu`` or ``gpu``, and the GPUs TensorFlow may use."""

    kind: str
    gpus: tuple[str, ...] = ()
    mixed_precision: bool = False

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Place the ops built and run inside on this device."""
        with tf.device("/GPU:0" if self.kind == "gpu" else "/CPU:0"):
            yield


def _prepare_gpus(gpus: list[tf.config.PhysicalDevice], memory_growth: bool) -> None:
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, memory_growth)
        except (RuntimeError, ValueError):  # TensorFlow already initialised its devices
            pass


def configure_device(cfg: DictConfig) -> DeviceChoice:
    """Check ``cfg.device`` against the machine and set TensorFlow's precision policy."""
    if cfg.name not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"device={cfg.name!r} is unknown; use device=auto, device=cpu or device=gpu")
    if cfg.intra_op_threads or cfg.inter_op_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(cfg.intra_op_threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(cfg.inter_op_threads))
        except RuntimeError:
            log.warning("device: thread counts cannot change once TensorFlow is initialised")
    gpus = tf.config.list_physical_devices("GPU")
    _prepare_gpus(gpus, bool(cfg.memory_growth))
    if cfg.name == "gpu" and not gpus:
        raise DeviceError(
            "device=gpu but TensorFlow sees no GPU on this machine; use device=auto or device=cpu"
        )
    use_gpu = bool(gpus) and cfg.name != "cpu"
    mixed = bool(cfg.mixed_precision) and use_gpu
    if cfg.mixed_precision and not use_gpu:
        log.info("device: mixed precision is a GPU feature; training in float32 on the CPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    if not use_gpu:
        if cfg.name == "auto":
            log.info("device=auto: no GPU found, training on the CPU")
        return DeviceChoice("cpu")
    log.info("device=%s: training on %s", cfg.name, gpus[0].name)
    return DeviceChoice("gpu", tuple(g.name for g in gpus), mixed)
