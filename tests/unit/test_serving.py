"""The server scenario's parts without a model: the schedule, the batcher, a level's figures and rules,
the early-stopping test and the search. (Against queueing theory, with real sleeps: tests/simulation.)"""

import math
import time

import numpy as np
import pytest
from scipy import stats

from tests_support import level_record

from bench.results import rounds_needed
from bench.serving.arrivals import DONE, Generator, poisson_schedule
from bench.serving.batcher import serve_level
from bench.serving.endpoint import bucket_sizes
from bench.serving.figures import level_figures, meets_bound
from bench.serving.search import HEADROOM, MAX_PROBES, RESOLUTION, find_max_qps


def test_schedule_offers_exactly_the_rate_with_exponential_gaps_and_is_seeded():
    offsets = poisson_schedule(200.0, 20.0)
    assert len(offsets) == 4000 and np.all(np.diff(offsets) >= 0) and 0 <= offsets[0] and offsets[-1] < 20.0
    gaps = np.diff(offsets)
    assert gaps.mean() == pytest.approx(1 / 200, rel=0.05)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 200)).pvalue > 0.001  # Poisson arrivals: exponential gaps
    assert np.array_equal(offsets, poisson_schedule(200.0, 20.0))  # every run offers the same arrivals
    assert not np.array_equal(offsets[:100], poisson_schedule(201.0, 20.0)[:100])


def test_schedule_runs_until_it_has_the_queries_a_p99_needs():
    offsets = poisson_schedule(20.0, 5.0, min_queries=rounds_needed(0.99))
    assert len(offsets) == 299 and offsets[-1] < 299 / 20.0
    with pytest.raises(ValueError, match="qps=0"):
        poisson_schedule(0.0, 5.0)


@pytest.mark.parametrize("max_batch, buckets", [(1, [1]), (8, [1, 2, 4, 8]), (6, [1, 2, 4, 6]), (9, [1, 2, 4, 8, 9])])
def test_buckets_are_powers_of_two_up_to_the_largest_batch(max_batch, buckets):
    assert bucket_sizes(max_batch) == buckets


class BurstGenerator(Generator):
    """Issues the whole schedule at once, at start (a burst): the batcher's choices are then deterministic."""

    def start(self, offsets):
        self._pending = [*range(len(offsets)), DONE]
        self._issued = np.full(len(offsets), time.perf_counter())
        return self._issued[0]

    def _get(self, timeout):
        import queue

        if not self._pending:
            raise queue.Empty
        return self._pending.pop(0)

    def finish(self):
        return np.zeros(1)


@pytest.mark.parametrize("max_batch, sizes", [(4, [4, 4, 2]), (1, [1] * 10), (16, [10])])
def test_batcher_takes_up_to_max_batch_of_what_is_queued(max_batch, sizes):
    served = []
    record = serve_level(served.append, np.zeros(10), generator=BurstGenerator(), max_batch=max_batch,
                         max_delay_s=0.0, drain_s=5.0)
    assert served == sizes and list(record.batch_sizes) == sizes
    assert not np.isnan(record.completed).any()


def test_a_level_that_keeps_up_is_ok_with_its_rate_and_percentiles():
    latencies = np.full(1000, 0.005)
    figures = level_figures(level_record(latencies), 100.0)
    assert figures.status == "ok" and figures.queries == 1000 and figures.unfinished == 0
    assert figures.achieved_qps == pytest.approx(100.0, rel=0.01)
    assert figures.latency.p99_ms == pytest.approx(5.0) and math.isnan(figures.latency.p999_ms)  # 1,000 < 2,995
    assert figures.mean_batch == 1.0 and figures.generator_late_p99_ms == pytest.approx(0.0)


def test_too_few_queries_leave_the_p99_empty():
    figures = level_figures(level_record(np.full(298, 0.005)), 100.0)
    assert math.isnan(figures.latency.p99_ms) and figures.latency.p90_ms == pytest.approx(5.0)


def test_a_queue_growing_to_the_end_is_overloaded():
    # Served at half the offered rate: each query waits longer than the one before.
    latencies = 0.005 + np.arange(1000) * 0.01
    figures = level_figures(level_record(latencies), 100.0)
    assert figures.status == "overloaded" and figures.achieved_qps < 60
    assert "served" in figures.message


def test_unfinished_queries_count_up_to_the_stop_and_mark_the_level():
    figures = level_figures(level_record(np.full(400, 0.005), unfinished=10), 100.0)
    assert figures.status == "overloaded" and figures.unfinished == 10 and "10 of 400 queries unfinished" in figures.message
    assert figures.latency.max_ms > 900  # counted to the stop, a second after the last result


def test_a_late_generator_marks_the_level():
    on_time = level_figures(level_record(np.full(1000, 0.010), issued_late_s=0.0005), 100.0)
    late = level_figures(level_record(np.full(1000, 0.010), issued_late_s=0.002), 100.0)
    assert on_time.status == "ok" and not on_time.generator_late and on_time.generator_late_p99_ms == pytest.approx(0.5)
    assert late.status == "ok" and late.generator_late and "generator late: its p99 lateness (2 ms)" in late.message
    assert late.meets_bound(20.0)  # lateness only adds to latencies: within the bound despite it is within it


@pytest.mark.parametrize("over", [0, 1, 3, 10])
def test_early_stopping_matches_the_binomial_tail(over):
    """The level meets the bound when P(at least n - t within | true p99 at the bound) <= 5%."""
    for queries in range(over + 1, 3000, 7):
        latencies = np.r_[np.full(queries - over, 1.0), np.full(over, 100.0)]
        expected = stats.binom.sf(queries - over - 1, queries, 0.99) <= 0.05
        assert meets_bound(latencies, 10.0) == expected, (queries, over)


def test_early_stopping_needs_299_queries_with_none_over_and_more_with_each_over():
    assert not meets_bound(np.ones(298), 10.0) and meets_bound(np.ones(299), 10.0)
    assert not meets_bound(np.r_[np.ones(299), 100.0], 10.0)
    assert meets_bound(np.r_[np.ones(600), 100.0], 10.0)
    assert not meets_bound(np.r_[np.ones(1000), np.full(20, 100.0)], 10.0)  # 2% over: the p99 is not within


def _fake_level(capacity_qps, *, service_ms=2.0):
    """measure(qps) for a server whose p99 grows as 1 / (1 - load) and that overloads above capacity."""
    def measure(qps):
        load = qps / capacity_qps
        p99 = service_ms / (1 - load) if load < 1 else math.inf
        latencies = np.r_[np.full(2000, service_ms), np.full(30, p99)]
        record = level_record(latencies / 1e3, rate=qps)
        return level_figures(record, qps)
    return measure


def test_search_finds_the_highest_load_within_the_bound():
    # p99 = 2 / (1 - qps / 1000) ms: within 20 ms up to 900 qps.
    search = find_max_qps(_fake_level(1000.0), capacity_qps=1000.0, bound_ms=20.0)
    assert search.best is not None and search.best.meets_bound(20.0)
    assert 900 * (1 - 2 * RESOLUTION) <= search.best.offered_qps <= 900
    assert len(search.probes) <= MAX_PROBES and search.probes[0].offered_qps == pytest.approx(HEADROOM * 500)
    assert search.describe() == ("probes (qps): 550 within, 825 within, 962.5 over, 893.8 within, 928.1 over; "
                                 "confirmed: 893.8 qps within twice (p99 18.8 and 18.8 ms)")


def test_search_without_any_load_within_the_bound_has_no_best():
    search = find_max_qps(_fake_level(1000.0, service_ms=30.0), capacity_qps=1000.0, bound_ms=20.0)
    assert search.best is None and len(search.probes) == MAX_PROBES
