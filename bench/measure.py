"""Timing one case: first call, warm-up, then timed rounds through pytest-benchmark.

The timed call is the mode's step followed by the backend's synchronize, and
every step returns its outputs as host (numpy) values, so the clock stops only
when the device has finished. Memory is tracked by small context managers.
"""

from __future__ import annotations

import contextlib
import math
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


# A later pass re-warms a case before timing it: right after other cases ran, a 1 ms
# step's first call took 1.6x its usual time, a 30 ms step's 1.14x, a 70 ms step's
# 1.01x (2-core CPU, TensorFlow). Steps longer than this need no re-warming.
REWARM_S = 0.05


@dataclass
class Warmup:
    first_call_s: float
    warmup_s: list[float] = field(default_factory=list)
    step_s: float = 0.0  # the warm step time: the fastest of the last `warmup_calls` calls


def first_call_and_warmup(call, *, profile: Profile, smoke_only: bool = False, agree=lambda value: value) -> Warmup:
    """Times the first call (tracing, compilation) alone, then warms up.

    Warm-up runs until the profile's count and time are both reached; with
    `smoke_only` (--benchmark-disable) only the first call runs. `agree` makes
    every process of a multi-process run take process 0's decisions, so that
    all make the same calls (each one is a collective step).
    """
    start = time.perf_counter()
    call()
    warmup = Warmup(first_call_s=time.perf_counter() - start)
    warmup.step_s = warmup.first_call_s
    if smoke_only:
        return warmup
    warm_start = time.perf_counter()
    while agree(len(warmup.warmup_s) < profile.warmup_calls or time.perf_counter() - warm_start < profile.warmup_s):
        start = time.perf_counter()
        call()
        warmup.warmup_s.append(time.perf_counter() - start)
    warmup.step_s = agree(min(warmup.warmup_s[-profile.warmup_calls:]))
    return warmup


def rewarm(call, step_s: float) -> int:
    """Before a later pass: REWARM_S worth of calls, at the warm step time `step_s`. Returns the count."""
    calls = math.ceil(REWARM_S / step_s) if 0 < step_s < REWARM_S else 0
    for _ in range(calls):
        call()
    return calls


def timed_rounds(call, *, rounds: int, benchmark, after_round=None, rounds_meter=None) -> list[float]:
    """`rounds` timed calls through pytest-benchmark's `pedantic`, one call per round.

    `rounds_meter` is a context manager that measures the timed rounds alone (e.g. energy).
    """
    with rounds_meter or contextlib.nullcontext():
        benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=0, teardown=after_round)
    return list(benchmark.stats.stats.data)
