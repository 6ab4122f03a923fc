"""Choosing where TensorFlow trains: cpu, gpu (refused without one) or auto (falls back to CPU)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


def _set_visible_gpus(gpus: list[tf.config.PhysicalDevice]) -> None:
    try:
        tf.config.set_visible_devices(gpus, "GPU")
    except RuntimeError:  # TensorFlow already initialised its devices in this process
        visible = tf.config.get_visible_devices("GPU")
        if len(visible) != len(gpus):
            log.warning("device: TensorFlow is already initialised; keeping its %d visible GPU(s)", len(visible))


def configure_device(cfg: DictConfig) -> DeviceChoice:
    """Apply ``cfg.device`` to TensorFlow before any tensor is created."""
    if cfg.name not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"device={cfg.name!r} is unknown; use device=auto, device=cpu or device=gpu")
    if cfg.intra_op_threads or cfg.inter_op_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(cfg.intra_op_threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(cfg.inter_op_threads))
        except RuntimeError:
            log.warning("device: thread counts cannot change once TensorFlow is initialised")
    gpus = tf.config.list_physical_devices("GPU")
    if cfg.name == "gpu" and not gpus:
        raise DeviceError(
            "device=gpu but TensorFlow sees no GPU on this machine; use device=auto or device=cpu"
        )
    if cfg.name == "cpu" or not gpus:
        if cfg.name == "auto":
            log.info("device=auto: no GPU found, training on the CPU")
        _set_visible_gpus([])
        if cfg.mixed_precision:
            log.info("device: mixed precision is a GPU feature; training in float32 on the CPU")
        return DeviceChoice("cpu")
    _set_visible_gpus(gpus)
    if cfg.memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass
    if cfg.mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    log.info("device=%s: training on %d GPU(s)", cfg.name, len(gpus))
    return DeviceChoice("gpu", tuple(g.name for g in gpus), bool(cfg.mixed_precision))
