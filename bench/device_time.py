"""Device time beside wall time: how long a GPU was busy during a case's calls, where its backend can tell.

The timed rounds' clock is the host's (perf_counter around the step and the backend's synchronize): what a
caller waits. A GPU may be idle for most of that, waiting for the host to launch its next kernel; at small
batches a row then measures Python, Keras and the launches, not the device. So after its timed rounds a GPU
case's call runs DEVICE_CALLS more times under its backend's profiler, and the device's busy time per call
is the row's `device_ms`: the union of the intervals of its kernels and copies on the device's timeline
(two streams' overlapping kernels count once), read by the backend's own profiler library, never the
timed calls (a profiler slows what it records). `device_clock` says which:

- JAX: `jax.profiler.trace`, read by `jax.profiler.ProfileData`; TensorFlow: `tf.profiler.experimental`,
  read by TensorFlow's own XPlane protobuf classes. Both write the XLA/TSL trace: the plane
  "/device:GPU:N" holds one line per CUDA stream ("Stream #..."), whose events are kernels and copies.
- PyTorch: `torch.profiler` with CUDA activity (Kineto over CUPTI): its events on the CUDA device.
  (CUDA events around the call would span the gaps between kernels too, launch delays included: wall
  time again, on the device's clock.)

CPU rows stay empty: host and device are one; a CPU row's overhead shows in the `forward` mode and the
per-call floor. A row whose wall median exceeds OVERHEAD_BOUND times its device time is marked
overhead-bound in the summary: the device waited for the host most of the time.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DEVICE_CALLS = 10  # profiled calls after the timed rounds: their mean busy time is the row's
OVERHEAD_BOUND = 2.0  # wall / device above this: the device was idle more than busy


@dataclass(frozen=True)
class DeviceTime:
    ms: float  # the device's busy time per call
    clock: str  # how it was read


# A trace as the backends' readers give it: planes of (name, lines); lines of (name, [(start_ns, duration_ns)]).
Lines = list[tuple[str, list[tuple[float, float]]]]
Planes = list[tuple[str, Lines]]


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of (start, end) intervals, in their unit: time covered by at least one."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def gpu_busy_ms(planes: Planes, gpu_index: int, calls: int) -> float | None:
    """Busy time per call on GPU `gpu_index` in an XLA/TSL trace: the union of its stream lines' events; None
    where the trace holds no such event (a profiler that could not reach the device: CUPTI missing or busy)."""
    wanted = f"/device:GPU:{gpu_index}"
    intervals = [(start, start + duration) for name, lines in planes if name == wanted
                 for line, events in lines if line.startswith("Stream") for start, duration in events]
    if not intervals:
        return None
    return union_length(intervals) / calls / 1e6


def profile_folder_trace(folder: Path) -> Path | None:
    """The newest trace (`*.xplane.pb`) a JAX or TensorFlow profiler session wrote under `folder`."""
    traces = sorted(folder.rglob("*.xplane.pb"), key=lambda path: path.stat().st_mtime)
    return traces[-1] if traces else None


def xla_trace_busy(profiling: Callable, read_trace: Callable[[Path], Planes], call, calls: int, device, *,
                   clock: str) -> DeviceTime | None:
    """`call` run `calls` times inside `profiling(folder)` (a JAX or TensorFlow profiler session writing its
    XLA/TSL trace there), the trace read by `read_trace`: the device's busy time per call, None where the
    trace holds no event on it."""
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as folder:
        with profiling(folder):
            for _ in range(calls):
                call()
        planes = read_trace(Path(folder))
    busy = gpu_busy_ms(planes, device.index, calls)
    return DeviceTime(busy, clock) if busy else None


def measure(backend, call, device) -> tuple[float, str]:
    """A GPU case's (device_ms, device_clock), its call profiled DEVICE_CALLS times by `backend`; empty where
    the backend cannot tell, and where its profiler fails, which device_clock then names (the row keeps its
    wall time: a profiler already running elsewhere in the process, CUPTI refused)."""
    try:
        measured = backend.device_time(call, DEVICE_CALLS, device)
    except Exception as error:  # noqa: BLE001 - the reason goes into the row
        return math.nan, f"none: {type(error).__name__}: {' '.join(str(error).split())}"[:200]
    return (measured.ms, measured.clock) if measured else (math.nan, "")
