"""Device time (bench.device_time): the union of a trace's device intervals, read from each backend's profiler.

No GPU here: the GPU planes are stand-ins in the layout of the XLA/TSL trace, and the readers run on the real
profilers' CPU traces (they must read a trace, and find no GPU in it)."""

import math

import numpy as np
import pytest
from tests_support import StandInBackend

from bench.backends import Device
from bench.device_time import OVERHEAD_BOUND, DeviceTime, gpu_busy_ms, union_length, xla_trace_busy
from bench.output.summary import overhead_bound_lines, summary_lines
from bench.results import CaseResult

CPU = Device("cpu", "the host")
GPU = Device("gpu:1", "a stand-in: no GPU here")


def traced(read_trace, seen):
    """`read_trace`, keeping what it read in `seen`."""
    def reading(folder):
        seen.extend(read_trace(folder))
        return seen
    return reading


@pytest.mark.parametrize("seed", range(5))
def test_the_union_length_is_the_time_covered_by_at_least_one_interval(seed):
    rng = np.random.default_rng(seed)
    starts = rng.uniform(0, 100, 12)
    intervals = list(zip(starts, starts + rng.uniform(0, 15, 12)))
    grid = np.linspace(0, 120, 240_001)  # the definition, counted on a fine grid
    covered = np.zeros_like(grid, dtype=bool)
    for start, end in intervals:
        covered |= (grid >= start) & (grid < end)
    assert union_length(intervals) == pytest.approx(covered.mean() * 120, abs=0.01)
    assert union_length([(0, 10), (2, 5), (10, 12), (20, 21)]) == 13  # nested, touching, apart


def test_gpu_busy_time_counts_its_streams_kernels_once_per_moment_and_nothing_else():
    planes = [
        ("/host:CPU", [("python", [(0, 9_000_000)])]),
        ("/device:GPU:0", [("Stream #7(Compute)", [(1_000_000, 2_000_000), (5_000_000, 1_000_000)]),
                           ("Stream #9(MemcpyD2H)", [(2_500_000, 1_000_000)]),  # overlaps the first kernel by 0.5 ms
                           ("XLA Ops", [(0, 8_000_000)])]),  # ops span their kernels: not device work of their own
        ("/device:GPU:1", [("Stream #7(Compute)", [(0, 9_000_000)])]),
    ]
    assert gpu_busy_ms(planes, 0, calls=2) == pytest.approx((2.5 + 1.0) / 2)  # 1 to 3.5 ms, 5 to 6 ms
    assert gpu_busy_ms(planes, 1, calls=1) == pytest.approx(9.0)
    assert gpu_busy_ms(planes, 2, calls=1) is None and gpu_busy_ms(planes[:1], 0, calls=1) is None


def test_an_xla_trace_is_profiled_around_the_calls_and_read_for_the_devices_streams():
    events, calls = [], []

    class Profiling:  # the shape of jax.profiler.trace and tf.profiler.experimental.Profile
        def __init__(self, folder):
            self.folder = folder

        def __enter__(self):
            events.append(("start", self.folder))

        def __exit__(self, *exc):
            events.append(("stop", self.folder))

    def read(folder):
        assert events[-2:] == [("start", str(folder)), ("stop", str(folder))] and len(calls) % 4 == 0
        return [("/device:GPU:1", [("Stream #3(Compute)", [(0, 6_000_000), (1_000_000, 1_000_000)])])]

    assert xla_trace_busy(Profiling, read, lambda: calls.append(1), 4, GPU, clock="c") == DeviceTime(1.5, "c")
    assert xla_trace_busy(Profiling, read, lambda: calls.append(1), 4, Device("gpu:0", "other"), clock="c") is None
    assert (GPU.index, CPU.index, len(calls)) == (1, 0, 8)


def test_jax_reads_its_own_profilers_trace_and_finds_no_gpu_in_a_cpu_one():
    jax = pytest.importorskip("jax")
    from bench.backends.jax import JaxBackend, read_trace

    step = jax.jit(lambda a: (a @ a).sum())
    array = jax.numpy.ones((64, 64))
    step(array).block_until_ready()
    planes = []
    busy = xla_trace_busy(jax.profiler.trace, traced(read_trace, planes), lambda: step(array).block_until_ready(),
                          3, GPU, clock="jax")
    host = dict(planes)["/host:CPU"]
    assert sum(len(events) for _, events in host) > 0 and all(d >= 0 for _, events in host for _, d in events)
    assert busy is None and gpu_busy_ms(planes, 0, calls=3) is None
    assert JaxBackend().device_time(lambda: None, 3, CPU) is None  # CPU rows are not profiled


def test_tensorflow_reads_its_own_profilers_trace_and_finds_no_gpu_in_a_cpu_one():
    import tensorflow as tf

    from bench.backends.tensorflow import TensorFlowBackend, read_trace

    step = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    array = tf.ones((64, 64))
    step(array)
    planes = []
    busy = xla_trace_busy(tf.profiler.experimental.Profile, traced(read_trace, planes), lambda: step(array), 3, GPU,
                          clock="tf")
    events = [event for name, lines in planes if name.startswith("/host") for _, line in lines for event in line]
    assert events and all(duration >= 0 for _, duration in events)
    assert busy is None and gpu_busy_ms(planes, 0, calls=3) is None
    assert TensorFlowBackend().device_time(lambda: None, 3, CPU) is None


def test_torch_busy_time_is_the_union_of_one_devices_profiled_events():
    torch = pytest.importorskip("torch")
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from bench.backends.torch import TorchBackend, busy_ms

    matrix = torch.ones(128, 128)
    with profile(activities=[ProfilerActivity.CPU]) as trace:  # the CPU's events stand in for a GPU's
        for _ in range(4):
            torch.tanh(matrix @ matrix)
    events = trace.events()
    index = events[0].device_index
    busy = busy_ms(events, DeviceType.CPU, index, calls=4)
    spans = [(e.time_range.start, e.time_range.end) for e in events if e.device_index == index]
    assert 0 < busy <= (max(end for _, end in spans) - min(start for start, _ in spans)) / 1e3 / 4
    assert busy_ms(events, DeviceType.CUDA, 0, calls=4) is None
    assert TorchBackend().device_time(lambda: None, 4, CPU) is None


def _row(device, median_ms, device_ms=math.nan, mode="forward"):
    return CaseResult(device=device, model="resnet50", mode=mode, batch_size=1, precision="float32",
                      status="ok", device_ms=device_ms).with_latency([median_ms / 1e3] * 3)


def test_the_summary_shows_device_time_and_marks_the_rows_the_host_holds_back():
    rows = [_row("cpu", 40.0), _row("gpu:0", 13.0, 1.2, mode="infer"), _row("gpu:0", 2.0, 1.9)]
    lines = summary_lines(rows)
    assert "device ms" in lines[0]
    assert overhead_bound_lines(rows) == [f"overhead-bound (wall median over {OVERHEAD_BOUND:g}x the device's busy "
                                          "time): resnet50 infer b1 gpu:0 (wall x10.8)"]
    assert overhead_bound_lines(rows[:1] + rows[2:]) == []  # forward at 2.0 against 1.9 ms: the device's time
    assert "device ms" not in summary_lines(rows[:1])[0]  # a CPU run has no such column


def test_a_gpu_rows_device_time_is_profiled_after_its_timed_rounds(monkeypatch):
    """The runner on a stand-in GPU (the model runs on the CPU): the profiler gets the case's own call after pass
    1's rounds, and its reading lands in the row with how it was read; the CPU row of the case gets none."""
    import contextlib

    from bench.device_time import DEVICE_CALLS, DeviceTime
    from bench.options import HarnessConfig
    from bench.plan import Plan
    from bench.runner import CaseRunner
    from bench.worker import _PassOneRounds

    class StandInGpu(StandInBackend):
        def __init__(self):
            self.profiled, self.placed_on = [], "cpu"

        def gpus(self):
            return [Device("gpu:0", "stand-in GPU", 1000)]

        def device_of(self, tensor):
            return self.placed_on

        def device_scope(self, device):
            self.placed_on = device.name
            return contextlib.nullcontext()

        def device_time(self, call, calls, device):
            for _ in range(calls):
                call()
            self.profiled.append((device.name, calls))
            return DeviceTime(0.25, "stand-in profiler")

    backend = StandInGpu()
    monkeypatch.setattr("bench.backends.active", lambda: backend)
    config = HarnessConfig.from_values({"models": "mnist_cnn", "modes": "forward", "batch_sizes": "1",
                                        "devices": "cpu,gpu:0", "passes": "1"})
    plan = Plan(config)
    runner, rounds = CaseRunner(config, plan), _PassOneRounds()
    for case in plan.cases():
        runner.run(case, 1, rounds)
    cpu, gpu = runner.results
    assert backend.profiled == [("gpu:0", DEVICE_CALLS)]
    assert (gpu.device_ms, gpu.device_clock) == (0.25, "stand-in profiler") and gpu.latency.rounds > 0
    assert math.isnan(cpu.device_ms) and cpu.device_clock == ""


def test_a_profiler_that_fails_leaves_the_row_its_wall_time_and_says_why():
    from bench.device_time import measure

    class Busy(StandInBackend):
        def device_time(self, call, calls, device):
            raise RuntimeError("another profiler\n is running")

    assert measure(StandInBackend(), lambda: None, CPU) == (pytest.approx(math.nan, nan_ok=True), "")
    ms, clock = measure(Busy(), lambda: None, Device("gpu:0", "stand-in"))
    assert math.isnan(ms) and clock == "none: RuntimeError: another profiler is running"
