"""Utilisation sampling: psutil for real, NVML through a stand-in library with pynvml's API."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from hepsweep.tracking.utilisation import NvmlProbe, UtilisationSampler, UtilisationSummary


class FakeNvml:
    """The part of pynvml's API the sampler uses, for a host with ``count`` GPUs."""

    class NVMLError(Exception):
        pass

    def __init__(self, count: int = 2, running_pid: int | None = None, fail_init: bool = False) -> None:
        self.count, self.running_pid, self.fail_init = count, running_pid, fail_init
        self.shutdown_called = False

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shutdown_called = True

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-uuid-{handle}"

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"Fake H100"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=40 + 10 * handle, memory=5)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=(1 + handle) * 2**30, total=80 * 2**30)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 150_000 + handle

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=self.running_pid)] if handle == 1 and self.running_pid else []


def test_cpu_and_memory_are_sampled_without_a_gpu() -> None:
    sampler = UtilisationSampler(interval_s=0.05).start()
    deadline = time.monotonic() + 60  # a bound for a stuck sampler, not an expectation of speed
    while sampler.summary.n_samples < 4 and time.monotonic() < deadline:
        sum(i * i for i in range(20000))  # keep a core busy until the sampler has read it a few times
    summary = sampler.stop()
    assert summary.n_samples >= 3
    metrics = summary.metrics()
    assert metrics["cpu_percent_of_one_core_mean"] > 10
    assert metrics["memory_rss_mb_max"] > 10
    assert not any(key.startswith("gpu") for key in metrics)


def _sampled(sampler: UtilisationSampler, n: int = 3) -> UtilisationSummary:
    """Run ``sampler`` until it took ``n`` samples (bounded: a stuck sampler fails the test)."""
    sampler.start()
    deadline = time.monotonic() + 60
    while sampler.summary.n_samples < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return sampler.stop()


def test_this_machine_s_nvml_gives_a_consistent_summary_and_the_cpu_figures() -> None:
    """Whatever this host's NVML says (no library, no driver, GPUs), sampling goes on: the CPU
    and memory figures are there, and GPU figures only for a GPU the summary reports."""
    summary = _sampled(UtilisationSampler(interval_s=0.05, uses_gpu=True))
    metrics = summary.metrics()
    assert summary.n_samples >= 3 and metrics["memory_rss_mb_max"] > 10 and "cpu_percent_of_one_core_mean" in metrics
    gpu_keys = {key for key in metrics if key.startswith("gpu")}
    if summary.gpu_present and summary.gpu_indices:
        assert summary.gpu_name and {f"gpu{i}_util_percent_mean" for i in summary.gpu_indices} <= gpu_keys
    else:
        assert not gpu_keys


def test_missing_driver_means_absent_and_the_cpu_is_still_sampled() -> None:
    summary = _sampled(UtilisationSampler(interval_s=0.05, nvml=FakeNvml(fail_init=True), uses_gpu=True))  # type: ignore[arg-type]
    assert summary.gpu_present is False and summary.gpu_indices == [] and summary.gpu_name is None
    metrics = summary.metrics()
    assert metrics["memory_rss_mb_max"] > 10 and "cpu_percent_of_one_core_mean" in metrics
    assert not any(key.startswith("gpu") for key in metrics)
    assert NvmlProbe(nvml=FakeNvml(fail_init=True)).available is False  # type: ignore[arg-type]
    assert NvmlProbe(nvml=FakeNvml(count=0)).available is False  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _outside_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests say which GPUs SLURM granted, if any; the environment they run in does not."""
    monkeypatch.delenv("SLURM_JOB_GPUS", raising=False)
    monkeypatch.delenv("SLURM_STEP_GPUS", raising=False)


def test_only_the_gpus_in_cuda_visible_devices_are_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-uuid-1")
    nvml = FakeNvml(count=2)
    sampler = UtilisationSampler(interval_s=0.05, nvml=nvml, uses_gpu=True).start()  # type: ignore[arg-type]
    time.sleep(0.15)
    summary = sampler.stop()
    assert summary.gpu_present and summary.gpu_indices == [1] and summary.gpu_name == "Fake H100"
    metrics = summary.metrics()
    assert metrics["gpu1_util_percent_mean"] == 50 and metrics["gpu_util_percent_mean"] == 50
    assert metrics["gpu1_memory_used_mb_max"] == pytest.approx(2048)
    assert metrics["gpu1_power_w_mean"] == pytest.approx(150.001)
    assert "gpu0_util_percent_mean" not in metrics
    assert nvml.shutdown_called


def test_without_cuda_visible_devices_the_gpu_running_this_process_is_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    summary = UtilisationSampler(interval_s=0.05, nvml=FakeNvml(count=3, running_pid=os.getpid()), uses_gpu=True).start().stop()  # type: ignore[arg-type]
    assert summary.gpu_indices == [1]


def test_a_host_gpu_this_cpu_run_does_not_use_is_not_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    summary = UtilisationSampler(interval_s=0.05, nvml=FakeNvml(count=2), uses_gpu=False).start().stop()  # type: ignore[arg-type]
    assert summary.gpu_present is True and summary.gpu_indices == []


@pytest.mark.gpu
def test_a_gpu_kept_busy_is_sampled_through_nvml() -> None:
    """On a GPU machine: NVML names the device and sees the utilisation of TensorFlow's matmuls."""
    import tensorflow as tf  # heavy: only this GPU check trains on the device

    sampler = UtilisationSampler(interval_s=0.05, uses_gpu=True).start()
    with tf.device("/GPU:0"):
        a = tf.random.normal((4096, 4096))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            a = tf.linalg.matmul(a, a) / 4096.0
        float(tf.reduce_sum(a))  # wait for the device
    summary = sampler.stop()
    metrics = summary.metrics()
    assert summary.gpu_present and summary.gpu_name and summary.gpu_indices
    assert metrics["gpu_util_percent_mean"] > 0
    assert any(key.startswith("gpu") and "memory" in key and value > 0 for key, value in metrics.items())


def test_only_the_gpus_slurm_gave_the_job_are_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    """``gpus_per_task=1`` on a 4-GPU node: SLURM grants GPU 2 (the node's numbering) and sets
    CUDA_VISIBLE_DEVICES for CUDA; NVML sees all four, and only GPU 2 is sampled."""
    monkeypatch.setenv("SLURM_JOB_GPUS", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    summary = UtilisationSampler(interval_s=0.05, nvml=FakeNvml(count=4), uses_gpu=True).start().stop()  # type: ignore[arg-type]
    assert summary.gpu_indices == [2]


def test_under_device_cgroups_cuda_visible_devices_names_the_jobs_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SLURM's device cgroups NVML sees only the job's GPU, as index 0: SLURM's id (3) is
    not NVML's, so CUDA_VISIBLE_DEVICES decides."""
    monkeypatch.setenv("SLURM_JOB_GPUS", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    summary = UtilisationSampler(interval_s=0.05, nvml=FakeNvml(count=1), uses_gpu=True).start().stop()  # type: ignore[arg-type]
    assert summary.gpu_indices == [0]
