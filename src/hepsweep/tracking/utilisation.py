"""CPU, memory and GPU utilisation sampled in a background thread while a model trains.

CPU and memory come from psutil (this process). GPUs come from NVML through ``pynvml`` and only
the GPUs this process trains on are sampled (none for a CPU run): those SLURM gave the job
(``SLURM_JOB_GPUS``, in NVML's numbering, when NVML lists them all), else those named in
``CUDA_VISIBLE_DEVICES``, else those where NVML lists this process, else the first one. A machine
without a GPU or without the NVIDIA driver records ``gpu_present = False``; NVML errors never
reach the training.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

from hepsweep.metrics import GPU_UTIL_PERCENT_MEAN

log = logging.getLogger(__name__)


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml  # optional: a broken or missing NVML means "no GPU", never a crash
    except ImportError:
        return None
    return pynvml


@dataclass
class GpuReading:
    index: int
    utilisation_percent: float
    memory_used_mb: float
    power_w: float | None


@dataclass
class UtilisationSummary:
    """Means and maxima over the samples, plus the raw series for per-step logging."""

    n_samples: int = 0
    gpu_present: bool = False
    gpu_indices: list[int] = field(default_factory=list)
    gpu_name: str | None = None
    series: list[dict[str, float]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """``cpu_percent_mean``, ``gpu0_util_percent_max`` ... over every sampled quantity."""
        out: dict[str, float] = {}
        if not self.series:
            return out
        for key in self.series[0]:
            if key == "t_s":
                continue
            values = [s[key] for s in self.series if key in s]
            out[f"{key}_mean"] = sum(values) / len(values)
            out[f"{key}_max"] = max(values)
        if self.gpu_indices:
            utils = [out[f"gpu{i}_util_percent_mean"] for i in self.gpu_indices if f"gpu{i}_util_percent_mean" in out]
            if utils:
                out[GPU_UTIL_PERCENT_MEAN] = sum(utils) / len(utils)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "gpu_present": self.gpu_present,
            "gpu_indices": self.gpu_indices,
            "gpu_name": self.gpu_name,
            **self.metrics(),
        }


class NvmlProbe:
    """Readings of the GPUs this process uses; ``available`` is False when NVML cannot start."""

    def __init__(self, nvml: ModuleType | None = None, uses_gpu: bool = False) -> None:
        self.nvml = nvml if nvml is not None else _load_nvml()
        self.uses_gpu = uses_gpu
        self.available = False
        self.name: str | None = None
        self._handles: dict[int, Any] = {}
        if self.nvml is None:
            return
        try:
            self.nvml.nvmlInit()
            count = self.nvml.nvmlDeviceGetCount()
            self._handles = {i: self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)}
            self.available = count > 0
        except Exception as exc:  # pynvml.NVMLError and friends: no driver, no GPU
            log.debug("NVML unavailable: %s", exc)
            self.available = False

    def _visible_indices(self) -> list[int] | None:
        # SLURM's ids are the node's (NVML's) numbering; under device cgroups NVML may see only
        # the job's GPUs, renumbered from 0, and then CUDA_VISIBLE_DEVICES names them
        granted = os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS")
        if granted:
            tokens = [t.strip() for t in granted.split(",") if t.strip()]
            if tokens and all(t.isdigit() and int(t) in self._handles for t in tokens):
                return sorted({int(t) for t in tokens})
        return self._indices_named(os.environ.get("CUDA_VISIBLE_DEVICES"))

    def _indices_named(self, visible: str | None) -> list[int] | None:
        if visible is None:
            return None
        indices = []
        for token in visible.split(","):
            token = token.strip()
            if token.isdigit() and int(token) in self._handles:
                indices.append(int(token))
            elif token.startswith("GPU-"):
                for i, handle in self._handles.items():
                    try:
                        uuid = self.nvml.nvmlDeviceGetUUID(handle)
                    except Exception:
                        continue
                    if (uuid.decode() if isinstance(uuid, bytes) else uuid) == token:
                        indices.append(i)
        return indices

    def _indices_running_this_process(self) -> list[int]:
        pid = os.getpid()
        found = []
        for i, handle in self._handles.items():
            try:
                procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:
                continue
            if any(getattr(p, "pid", None) == pid for p in procs):
                found.append(i)
        return found

    def gpus_in_use(self) -> list[int]:
        if not self.available or not self.uses_gpu:
            return []
        visible = self._visible_indices()
        if visible is not None:
            return visible
        running = self._indices_running_this_process()
        if running:
            return running
        return sorted(self._handles)[:1]

    def read(self, index: int) -> GpuReading | None:
        handle = self._handles[index]
        try:
            rates = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            if self.name is None:
                name = self.nvml.nvmlDeviceGetName(handle)
                self.name = name.decode() if isinstance(name, bytes) else str(name)
        except Exception as exc:
            log.debug("NVML read of GPU %d failed: %s", index, exc)
            return None
        try:
            power: float | None = self.nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except Exception:
            power = None
        return GpuReading(index, float(rates.gpu), memory.used / 2**20, power)

    def close(self) -> None:
        if self.available:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


class UtilisationSampler:
    """Samples every ``interval_s`` seconds between :meth:`start` and :meth:`stop`.

    Example:
        >>> sampler = UtilisationSampler(interval_s=0.5).start()
        >>> summary = sampler.stop()
        >>> summary.gpu_present in (True, False)
        True
    """

    def __init__(self, interval_s: float = 1.0, uses_gpu: bool = False, nvml: ModuleType | None = None) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, but got {interval_s=}.")
        self.interval_s = interval_s
        self._nvml, self._uses_gpu = nvml, uses_gpu
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.summary = UtilisationSummary()
        self._probe: NvmlProbe | None = None
        self._t0 = 0.0

    def start(self) -> "UtilisationSampler":
        self._probe = NvmlProbe(self._nvml, self._uses_gpu)
        self._process.cpu_percent(None)  # prime: the first call always returns 0
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="hepsweep-utilisation", daemon=True)
        self._thread.start()
        return self

    def sample(self) -> dict[str, float]:
        """One reading of every quantity (also called once more at :meth:`stop`)."""
        reading: dict[str, float] = {"t_s": time.perf_counter() - self._t0}
        try:
            cpu = self._process.cpu_percent(None)
            reading["cpu_percent"] = cpu / (psutil.cpu_count() or 1)
            reading["cpu_percent_of_one_core"] = cpu
            reading["memory_rss_mb"] = self._process.memory_info().rss / 2**20
            reading["system_cpu_percent"] = psutil.cpu_percent(None)
        except psutil.Error as exc:
            log.debug("psutil sample failed: %s", exc)
        probe = self._probe
        if probe is not None and probe.available:
            for index in probe.gpus_in_use():
                gpu = probe.read(index)
                if gpu is None:
                    continue
                reading[f"gpu{index}_util_percent"] = gpu.utilisation_percent
                reading[f"gpu{index}_memory_used_mb"] = gpu.memory_used_mb
                if gpu.power_w is not None:
                    reading[f"gpu{index}_power_w"] = gpu.power_w
                if index not in self.summary.gpu_indices:
                    self.summary.gpu_indices.append(index)
        self.summary.series.append(reading)
        self.summary.n_samples += 1
        return reading

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except Exception as exc:  # never let monitoring kill training
                log.debug("utilisation sample failed: %s", exc)

    def stop(self) -> UtilisationSummary:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.interval_s + 1)
        try:
            self.sample()
        except Exception:
            pass
        probe = self._probe
        self.summary.gpu_present = bool(probe and probe.available)
        self.summary.gpu_name = probe.name if probe else None
        if probe is not None:
            probe.close()
        return self.summary
