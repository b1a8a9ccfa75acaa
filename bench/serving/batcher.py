"""The server loop: queries wait in a queue; the batcher gathers them into batches and runs each on the model.

A batch closes when it holds `max_batch` queries or when its oldest query has waited
`max_delay_s` in the queue (Triton's max_queue_delay, TF Serving's batch_timeout);
with a delay of 0 it takes whatever is queued when the model is free, and
`max_batch` 1 serves queries one at a time.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.serving.arrivals import Generator


@dataclass(frozen=True)
class LevelRecord:
    """What one load level recorded: per query, clock times in seconds (time.perf_counter)."""

    scheduled: np.ndarray  # when each query was due
    issued: np.ndarray  # when the generator issued it (NaN: never, the level was stopped first)
    completed: np.ndarray  # when its result was on the host (NaN: unfinished when the level was stopped)
    batch_sizes: np.ndarray  # the size of every batch the batcher formed, in order
    origin: float  # the clock time of offset 0
    stopped: float  # when the level ended: its last completion, or the drain limit


def serve_level(serve: Callable[[int], object], offsets: np.ndarray, *, generator: Generator, max_batch: int,
                max_delay_s: float, drain_s: float) -> LevelRecord:
    """Issues the arrivals `offsets` through `generator` and serves them with `serve(k)`, which runs
    one batch of k queries and returns when its results are on the host.

    Queries still queued `drain_s` after the last arrival are left unfinished (an overloaded level
    would otherwise take as long to drain as its backlog). Python's garbage collector is held off
    during the level: a full collection of a process holding Keras, TensorFlow and pytest stops every
    thread for up to 0.3 s (docs/measurements.md), a pause of the harness, not of the model.
    """
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    origin = generator.start(offsets)
    completed = np.full(len(offsets), np.nan)
    queued: deque[tuple[int, float]] = deque()  # (query, when the batcher received it)
    batch_sizes = []
    stop_at = origin + offsets[-1] + drain_s

    def take_in(timeout: float) -> None:
        indexes = generator.receive(timeout)
        now = time.perf_counter()
        queued.extend((index, now) for index in indexes)

    try:
        while (queued or not generator.exhausted) and time.perf_counter() < stop_at:
            if not queued:
                take_in(stop_at - time.perf_counter())
                continue
            close_at = queued[0][1] + max_delay_s
            while len(queued) < max_batch and not generator.exhausted and time.perf_counter() < close_at:
                take_in(close_at - time.perf_counter())
            take_in(0)  # whatever else has arrived meanwhile
            batch = [queued.popleft()[0] for _ in range(min(max_batch, len(queued)))]
            serve(len(batch))
            completed[batch] = time.perf_counter()
            batch_sizes.append(len(batch))
    finally:
        issued = generator.finish()
        if collecting:
            gc.enable()
    stopped = np.nanmax(completed) if not queued and generator.exhausted else time.perf_counter()
    return LevelRecord(scheduled=origin + offsets, issued=issued, completed=completed,
                       batch_sizes=np.asarray(batch_sizes, dtype=int), origin=origin, stopped=float(stopped))
