"""What is measured around a case's timed rounds, as small context managers: host memory,
device memory and device energy."""

from __future__ import annotations

import psutil


class HostMemory:
    """Peak resident set size of this process, sampled after each call."""

    def __init__(self):
        self._process = psutil.Process()
        self.peak_mb = 0.0

    def __enter__(self):
        self.sample()
        return self

    def sample(self, *_, **__):
        self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)

    def __exit__(self, *exc):
        self.sample()


class DeviceMemory:
    """Peak device memory over the case, where the backend reports it."""

    def __init__(self, backend, device):
        self._backend, self._device = backend, device
        self.peak_mb = None

    def __enter__(self):
        self._backend.reset_peak_memory(self._device)
        return self

    def __exit__(self, *exc):
        self.peak_mb = self._backend.peak_memory_mb(self._device)


class DeviceEnergy:
    """Energy a GPU drew over the timed rounds, from NVML's cumulative counter (nvidia-ml-py).

    `joules` stays None on the CPU, without nvidia-ml-py or an NVIDIA driver, and on
    GPUs older than Volta, which have no such counter. NVML numbers GPUs as CUDA
    does unless CUDA_VISIBLE_DEVICES reorders them.
    """

    def __init__(self, device):
        self.joules = None
        self._nvml = self._handle = None
        if not device.is_gpu:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device.index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)  # raises where unsupported
            self._nvml = pynvml
        except Exception:  # ImportError, or NVMLError for no driver / no counter: no energy figure
            self._handle = None

    def __enter__(self):
        if self._nvml:
            self._start_mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        return self

    def __exit__(self, *exc):
        if self._nvml:
            self.joules = (self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) - self._start_mj) / 1e3
