"""Timing one case: first call, warm-up, then timed rounds through pytest-benchmark.

The timed call is the mode's step followed by the backend's synchronize: Keras'
steps return their outputs as host (numpy) values, the forward step leaves them on
the device and synchronize (or, on JAX, the step itself) waits for them, so the
clock stops only when the device has finished. What else is measured around the
rounds (memory, energy) is in bench.meters.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

from bench import backends
from bench.profiles import Profile

# What each mode times, given a compiled model and device-resident x, y.
# forward calls the model's compiled forward function directly (bench.backends: the
# backend's own path, outputs left on the device); predict_on_batch and train_on_batch
# run Keras' compiled predict/train function on one batch (outputs copied to numpy);
# model.predict adds its data-adapter and callback machinery.
MODE_STEPS = {
    "forward": lambda model, x, y, batch_size: backends.active().forward_step(model, x),
    "infer": lambda model, x, y, batch_size: lambda: model.predict_on_batch(x),
    "predict": lambda model, x, y, batch_size: lambda: model.predict(x, batch_size=batch_size, verbose=0),
    "train": lambda model, x, y, batch_size: lambda: model.train_on_batch(x, y),
}


# A later pass re-warms a case before timing it: right after other cases ran, a short
# step's first calls are slow again (caches and thread pools went to other cases;
# docs/measurements.md). Steps longer than this need no re-warming.
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


def timed_rounds(call, *, rounds: int, benchmark, after_round=None, rounds_meter=None, table_row=None) -> list[float]:
    """`rounds` timed calls through pytest-benchmark's `pedantic`, one call per round; returns their seconds.

    `rounds_meter` is a context manager that measures the timed rounds alone (e.g. energy).
    `table_row` is pytest-benchmark's row of the case's first pass (its `benchmark.stats`):
    a later pass's rounds join it and leave their own row empty, which pytest-benchmark
    leaves out, so that its table and JSON hold one row per case with all of its rounds.
    """
    with rounds_meter or contextlib.nullcontext():
        benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=0, teardown=after_round)
    seconds = list(benchmark.stats.stats.data)
    if table_row is not None and table_row is not benchmark.stats:
        # A fresh attribute dict also drops any statistic pytest-benchmark cached from the old data.
        table_row.stats.__dict__ = {"data": [*table_row.stats.data, *seconds]}
        benchmark.stats.stats.data.clear()
    return seconds


def timed_for(call, seconds: float) -> list[float]:
    """Calls `call` until `seconds` have passed (once at least); returns each call's seconds, timed as
    pytest-benchmark's pedantic times a round (perf_counter around one call). The paired gate's block."""
    times: list[float] = []
    started = time.perf_counter()
    while not times or time.perf_counter() - started < seconds:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times
