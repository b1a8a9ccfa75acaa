"""A server case's measurement: its load level (or its search over levels) on a warm endpoint, and its row."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.results import CaseResult
from bench.serving.arrivals import GENERATORS, poisson_schedule
from bench.serving.batcher import serve_level
from bench.serving.figures import LevelFigures, level_figures, most_over_bound
from bench.serving.search import CONFIRM_LEVELS, MAX_PROBES, Search, find_max_qps

# Queries still queued this long after a level's last arrival are left unfinished (at least
# DRAIN_MIN_S, else a quarter of the level): an overloaded level would drain for as long as it ran.
DRAIN_MIN_S = 1.0
DRAIN_SHARE = 0.25
# A level lasts --duration, or until it has the queries its percentiles need: at most this many
# times --duration (quick: 20 s), so a low load cannot take an hour. A --qps under the floor this
# sets is refused at start-up; a search does not probe under it.
LEVEL_CAP = 4


def drain_s(duration_s: float) -> float:
    return max(DRAIN_MIN_S, DRAIN_SHARE * duration_s)


def floor_qps(duration_s: float, min_queries: int) -> float:
    """The lowest load whose level gathers `min_queries` within its time cap."""
    return min_queries / (LEVEL_CAP * duration_s)


def longest_search_s(duration_s: float) -> float:
    """The most a search can take: every level it may run, each at its time cap and drain."""
    return (MAX_PROBES + CONFIRM_LEVELS) * (LEVEL_CAP * duration_s + drain_s(duration_s))


def level_runner(serve: Callable[[int], object], serving) -> Callable[..., LevelFigures]:
    """`measure(qps, bound_ms=None)`: one load level of `serving`'s settings (an options.Serving) on `serve`;
    with `bound_ms` (a search's probe), it ends once more queries are over the bound than it could pass with."""
    def measure(qps: float, bound_ms: float | None = None) -> LevelFigures:
        offsets = poisson_schedule(qps, serving.duration_s, min_queries=serving.min_queries)
        most_over = most_over_bound(len(offsets))
        record = serve_level(serve, offsets, generator=GENERATORS[serving.load_generator](),
                             max_batch=serving.max_batch, max_delay_s=serving.max_delay_ms / 1e3,
                             drain_s=drain_s(serving.duration_s),
                             bound_s=None if bound_ms is None else bound_ms / 1e3,
                             give_up=None if bound_ms is None else lambda over: over > most_over)
        return level_figures(record, qps)
    return measure


def measure_load(measure: Callable[..., LevelFigures], load, *, capacity_qps: float, unloaded_ms: float,
                 serving) -> tuple[LevelFigures | None, Search | None]:
    """The level a row reports: the load's own, or a search's answer (else its lowest probe; None when
    the search ran no level)."""
    if load.qps:
        return measure(load.qps), None
    search = find_max_qps(lambda qps: measure(qps, load.bound_ms), capacity_qps=capacity_qps,
                          bound_ms=load.bound_ms, unloaded_ms=unloaded_ms,
                          floor_qps=floor_qps(serving.duration_s, serving.min_queries))
    if search.best is not None:
        return search.best, search
    return (min(search.probes, key=lambda probe: probe.offered_qps) if search.probes else None), search


def fill_row(result: CaseResult, figures: LevelFigures | None, search: Search | None, *,
             max_delay_ms: float) -> None:
    """Sets a server row's figures: latency over queries, rates from the achieved rate, the search's answer
    (with its second draw's p99)."""
    if figures is None:  # a search that ran no level: nothing was measured
        result.clear_measurements()
        result.latency_bound_ms, result.max_qps_at_bound = search.bound_ms, math.nan
        result.status, result.message = "over_bound", f"no level ran: {search.describe()}"
        return
    result.latency = figures.latency
    result.offered_qps, result.achieved_qps = figures.offered_qps, figures.achieved_qps
    result.queries, result.mean_batch = figures.queries, figures.mean_batch
    result.generator_late_p99_ms, result.generator_late = figures.generator_late_p99_ms, figures.generator_late
    result.max_delay_ms = max_delay_ms
    result.samples_per_s = figures.achieved_qps
    result.gflops_per_s = result.flops_per_sample * figures.achieved_qps / 1e9
    result.with_peak(result.peak_gflops)
    result.status, result.message = figures.status, figures.message
    if search is None:
        return
    result.latency_bound_ms = search.bound_ms
    if search.best is figures:
        result.max_qps_at_bound = figures.offered_qps
        result.confirm_p99_ms = search.again.latency.p99_ms
        result.message = "; ".join(filter(None, [f"p99 within {search.bound_ms:g} ms on {figures.queries} queries",
                                                 figures.message, search.describe()]))
    else:
        result.max_qps_at_bound = math.nan
        result.status = "over_bound"
        result.message = "; ".join(filter(None, [f"no load met p99 <= {search.bound_ms:g} ms twice (lowest probe "
                                                 "shown)", figures.message, search.describe()]))
