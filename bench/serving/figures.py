"""One load level's figures, and the rules that judge them.

Latency: from a query's scheduled arrival to the moment its result is on the host, so the
time it queued counts. Percentiles follow the harness's rule (bench.results.rounds_needed:
299 queries for a p99, 2,995 for a p99.9) and are left empty below it.

Overloaded: the server did not keep up. Its completions fell behind the arrivals by more
than OVERLOAD_SHORTFALL (achieved rate below 95% of the offered), or queries were still
queued when the level's drain time ran out (their latencies are then counted up to that
moment: lower bounds, so the percentiles are not flattered). The achieved rate counts the
completions in the arrivals' window shifted by the median latency: a server that keeps up
completes queries as they arrive, one median latency later, whatever that latency is
(counting from the level's start would put the last query's latency into the rate, and
call a slow but steady server overloaded); one that falls behind completes fewer there.

Generator late (a mark beside the status): the load generator issued queries behind schedule
by enough to change what was measured. A late issue delays the query's entry into the queue: its latency, counted
from the schedule, grows by up to the lateness. The level is marked when the generator's
p99 lateness exceeds LATE_SHARE (10%) of the latencies' 99th percentile (taken even where
too few queries support a reported p99): the tail the level reports is then the
generator's as much as the server's. Lateness only adds to latencies, so a marked level
still stands for its median, and within a bound it is within it.

Within a latency bound: LoadGen's early-stopping test. With n queries of which t took longer
than the bound, the level meets "p99 <= bound" when, were the true 99th percentile exactly at
the bound, seeing n - t or more queries within it would have a probability of at most
1 - CONFIDENCE (the regularized incomplete beta I_0.99(n - t, t + 1)). With t = 0 that asks
for 299 queries, the p99 rule above; each query over the bound asks for more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from bench.results import CONFIDENCE, LatencyStats
from bench.serving.batcher import LevelRecord

OVERLOAD_SHORTFALL = 0.05
LATE_SHARE = 0.10
BOUND_PERCENTILE = 0.99


@dataclass(frozen=True)
class LevelFigures:
    """What a load level measured, as the run's row shows it."""

    offered_qps: float
    achieved_qps: float
    queries: int  # scheduled (and issued, unless the level was stopped first)
    unfinished: int  # still queued when the level was stopped
    latency: LatencyStats  # over every query, unfinished ones counted up to the stop
    mean_batch: float
    generator_late_p99_ms: float
    latencies_ms: np.ndarray
    status: str  # ok or overloaded
    generator_late: bool  # the generator's lateness is large enough to be in the tail (see above)
    message: str

    def meets_bound(self, bound_ms: float) -> bool:
        """Whether the level's p99 is within `bound_ms`, by LoadGen's early-stopping test (see above). A late
        generator only adds to latencies: a level within the bound despite it is within the bound."""
        return self.status == "ok" and meets_bound(self.latencies_ms, bound_ms)


def meets_bound(latencies_ms: np.ndarray, bound_ms: float, *, percentile: float = BOUND_PERCENTILE) -> bool:
    """Early stopping: are there within-bound queries enough to say, with CONFIDENCE, that the
    `percentile` of the latency is within `bound_ms`?"""
    over = int(np.count_nonzero(latencies_ms > bound_ms))
    within = len(latencies_ms) - over
    return within > 0 and special.betainc(within, over + 1, percentile) <= 1 - CONFIDENCE


def most_over_bound(queries: int, *, percentile: float = BOUND_PERCENTILE) -> int:
    """The most queries of `queries` that may exceed the bound for the level to meet it (-1: none can)."""
    over = -1
    while over + 1 < queries and special.betainc(queries - over - 1, over + 2, percentile) <= 1 - CONFIDENCE:
        over += 1
    return over


def achieved_qps(record: LevelRecord) -> float:
    """Completions a second in the arrivals' window shifted by the median latency (see above)."""
    finished = ~np.isnan(record.completed)
    window = record.scheduled[-1] - record.scheduled[0]
    if not finished.any():
        return 0.0
    if window <= 0:
        return np.count_nonzero(finished) / (record.stopped - record.origin)
    shift = float(np.median(record.completed[finished] - record.scheduled[finished]))
    done = record.completed[finished]
    inside = np.count_nonzero((done >= record.scheduled[0] + shift) & (done <= record.scheduled[-1] + shift))
    return max(inside - 1, 0) / window


def level_figures(record: LevelRecord, offered_qps: float) -> LevelFigures:
    """The figures of a level served at `offered_qps`, and its status by the rules above."""
    queries = len(record.scheduled)
    unfinished = int(np.isnan(record.completed).sum())
    finished_at = np.where(np.isnan(record.completed), record.stopped, record.completed)
    latencies_ms = (finished_at - record.scheduled) * 1e3
    achieved = achieved_qps(record)
    lateness_ms = (record.issued - record.scheduled)[~np.isnan(record.issued)] * 1e3
    late_p99 = float(np.percentile(lateness_ms, 99)) if lateness_ms.size else math.nan
    latency = LatencyStats.from_seconds(latencies_ms / 1e3)
    mean_batch = float(record.batch_sizes.mean()) if record.batch_sizes.size else math.nan
    notes = []
    status = "ok"
    if record.ended_early:  # a probe cut short: its unfinished queries say nothing of overload
        notes.append(f"ended early: {unfinished} of {queries} queries not served, as more were over the bound "
                     "than it could pass with")
    elif unfinished or achieved < (1 - OVERLOAD_SHORTFALL) * offered_qps:
        status = "overloaded"
        notes.append(f"served {achieved:.4g} of {offered_qps:.4g} queries/s offered")
        if unfinished:
            notes.append(f"{unfinished} of {queries} queries unfinished (latencies counted to the stop)")
    tail_ms = float(np.percentile(latencies_ms, 99))
    generator_late = bool(late_p99 > LATE_SHARE * tail_ms)
    if generator_late:
        notes.append(f"generator late: its p99 lateness ({late_p99:.3g} ms) is over {LATE_SHARE:.0%} of the "
                     f"latency's 99th percentile ({tail_ms:.3g} ms)")
    return LevelFigures(offered_qps=offered_qps, achieved_qps=achieved, queries=queries, unfinished=unfinished,
                        latency=latency, mean_batch=mean_batch, generator_late_p99_ms=late_p99,
                        latencies_ms=latencies_ms, status=status, generator_late=generator_late,
                        message="; ".join(notes))
