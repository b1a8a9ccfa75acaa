"""A server case's measurement: its load level (or its search over levels) on a warm endpoint, and its row."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.results import CaseResult
from bench.serving.arrivals import GENERATORS, poisson_schedule
from bench.serving.batcher import serve_level
from bench.serving.figures import LevelFigures, level_figures
from bench.serving.search import Search, find_max_qps

# Queries still queued this long after a level's last arrival are left unfinished (at least
# DRAIN_MIN_S, else a quarter of the level): an overloaded level would drain for as long as it ran.
DRAIN_MIN_S = 1.0
DRAIN_SHARE = 0.25


def level_runner(serve: Callable[[int], object], serving) -> Callable[[float], LevelFigures]:
    """`measure(qps)`: one load level of `serving`'s settings (an options.Serving) on `serve`."""
    def measure(qps: float) -> LevelFigures:
        offsets = poisson_schedule(qps, serving.duration_s, min_queries=serving.min_queries)
        record = serve_level(serve, offsets, generator=GENERATORS[serving.load_generator](),
                             max_batch=serving.max_batch, max_delay_s=serving.max_delay_ms / 1e3,
                             drain_s=max(DRAIN_MIN_S, DRAIN_SHARE * serving.duration_s))
        return level_figures(record, qps)
    return measure


def measure_load(measure: Callable[[float], LevelFigures], load, *, capacity_qps: float) -> tuple[LevelFigures, Search | None]:
    """The level a row reports: the load's own, or a search's best (else its lowest probe)."""
    if load.qps:
        return measure(load.qps), None
    search = find_max_qps(measure, capacity_qps=capacity_qps, bound_ms=load.bound_ms)
    return search.best or min(search.probes, key=lambda probe: probe.offered_qps), search


def fill_row(result: CaseResult, figures: LevelFigures, search: Search | None, *, max_delay_ms: float) -> None:
    """Sets a server row's figures: latency over queries, rates from the achieved rate, the search's answer."""
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
        result.message = "; ".join(filter(None, [f"p99 within {search.bound_ms:g} ms on {figures.queries} queries",
                                                 figures.message, search.describe()]))
    else:
        result.max_qps_at_bound = math.nan
        result.status = "over_bound"
        result.message = f"no load met p99 <= {search.bound_ms:g} ms (lowest shown); {search.describe()}"
