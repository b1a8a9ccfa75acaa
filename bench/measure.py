"""Timing one case: first call, warm-up, then timed rounds through pytest-benchmark.

The timed call is the mode's step followed by the backend's synchronize, and
every step returns its outputs as host (numpy) values, so the clock stops only
when the device has finished. Memory is tracked by small context managers.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import psutil

from bench.options import Profile

# What each mode times, given a compiled model and device-resident x, y.
# predict_on_batch and train_on_batch run Keras' compiled predict/train function
# on one batch; model.predict adds its data-adapter and callback machinery.
MODE_STEPS = {
    "infer": lambda model, x, y, batch_size: lambda: model.predict_on_batch(x),
    "predict": lambda model, x, y, batch_size: lambda: model.predict(x, batch_size=batch_size, verbose=0),
    "train": lambda model, x, y, batch_size: lambda: model.train_on_batch(x, y),
}


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
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(int(device.name.split(":")[1]))
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


@dataclass
class Timings:
    first_call_s: float
    warmup_s: list[float] = field(default_factory=list)
    samples_s: list[float] = field(default_factory=list)


def time_case(call, *, profile: Profile, benchmark, after_round=None, rounds_meter=None) -> Timings:
    """Times `call` (a step that returns only when the device is done).

    The first call (tracing, compilation) is timed alone; warm-up calls follow
    until the profile's count and time are both reached; the warm step time sets
    the number of timed rounds, which pytest-benchmark's `pedantic` runs inside
    `rounds_meter` (a context manager measuring the timed rounds alone, e.g. energy).
    With --benchmark-disable, only the first call runs and no samples are kept.
    """
    start = time.perf_counter()
    call()
    timings = Timings(first_call_s=time.perf_counter() - start)
    if benchmark.disabled:
        return timings
    warm_start = time.perf_counter()
    while len(timings.warmup_s) < profile.warmup_calls or time.perf_counter() - warm_start < profile.warmup_s:
        start = time.perf_counter()
        call()
        timings.warmup_s.append(time.perf_counter() - start)
    rounds = profile.rounds_for(min(timings.warmup_s[-profile.warmup_calls:]))
    with rounds_meter or contextlib.nullcontext():
        benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=0, teardown=after_round)
    timings.samples_s = list(benchmark.stats.stats.data)
    return timings
