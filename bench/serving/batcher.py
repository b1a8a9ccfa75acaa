"""The server loop: queries wait in a queue; the batcher gathers them into batches and runs each on the model.

A batch closes when it holds `max_batch` queries or when its oldest query has waited
`max_delay_s` since it arrived, i.e. since the generator issued it into the queue
(Triton's max_queue_delay, TF Serving's batch_timeout): time it queued while an
earlier batch ran counts. With a delay of 0 it takes whatever is queued when the
model is free, and `max_batch` 1 serves queries one at a time.
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
    ended_early: bool = False  # `give_up` ended it: more queries were over the bound than it could pass with


def serve_level(serve: Callable[[int], object], offsets: np.ndarray, *, generator: Generator, max_batch: int,
                max_delay_s: float, drain_s: float, bound_s: float | None = None,
                give_up: Callable[[int], bool] | None = None) -> LevelRecord:
    """Issues the arrivals `offsets` through `generator` and serves them with `serve(k)`, which runs
    one batch of k queries and returns when its results are on the host.

    With `bound_s` and `give_up`, the level ends as soon as `give_up(over)` says that the `over`
    queries so far whose latency exceeded `bound_s` are more than it can pass with: the rest of it
    could not change its verdict (a search's probe), and would only cost time.

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
    queued: deque[tuple[int, float]] = deque()  # (query, when it arrived: the generator issued it)
    batch_sizes = []
    stop_at = origin + offsets[-1] + drain_s
    scheduled = origin + offsets
    over, ended_early = 0, False

    def take_in(timeout: float) -> None:
        queued.extend((index, generator.issued_at(index)) for index in generator.receive(timeout))

    try:
        while (queued or not generator.exhausted) and time.perf_counter() < stop_at and not ended_early:
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
            if give_up is not None:
                over += int(np.count_nonzero(completed[batch] - scheduled[batch] > bound_s))
                ended_early = give_up(over)
    finally:
        # The level's end is read before the generator is stopped (a process generator may take seconds).
        stopped = np.nanmax(completed) if not queued and generator.exhausted else time.perf_counter()
        issued = generator.finish()
        if collecting:
            gc.enable()
    return LevelRecord(scheduled=scheduled, issued=issued, completed=completed,
                       batch_sizes=np.asarray(batch_sizes, dtype=int), origin=origin, stopped=float(stopped),
                       ended_early=ended_early)
