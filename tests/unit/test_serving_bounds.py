"""The server scenario's rules that keep its figures true and its searches bounded: the batching delay counts
from a query's arrival, the achieved rate from the completions, a probe ends once it cannot pass, a search
neither starts when one query alone is over the bound nor probes where a level would outlast its cap, and
its answer passed twice. Stand-ins for the model (sleeps, or figures made by the harness's own code)."""

import math
import time

import numpy as np
import pytest
from tests_support import level_record

from bench.serving.arrivals import ThreadGenerator
from bench.serving.batcher import serve_level
from bench.serving.figures import level_figures, most_over_bound
from bench.results import CaseResult
from bench.serving.levels import fill_row, floor_qps, longest_search_s
from bench.serving.search import MAX_PROBES, find_max_qps


class StandIn:
    """Serves any batch in `service_s` (a sleep); records when each batch started, from the level's origin."""

    def __init__(self, service_s):
        self.service_s, self.started = service_s, []

    def __call__(self, queries):
        self.started.append(time.perf_counter())
        time.sleep(self.service_s)


def test_the_batching_delay_counts_from_a_querys_arrival_not_from_its_pick_up():
    """Queries at 0 and 25 ms form a batch at 50 ms (the delay), served until 150 ms; a query arriving at 75 ms
    has waited 75 ms by then, more than the delay, so its batch starts at once (at pick-up + 50 ms: 200 ms).
    Milliseconds wide enough for a loaded machine's late wake-ups (30 ms of margin)."""
    model = StandIn(0.100)
    record = serve_level(model, np.array([0.0, 0.025, 0.075]), generator=ThreadGenerator(), max_batch=8,
                         max_delay_s=0.050, drain_s=1.0)
    started_ms = (np.array(model.started) - record.origin) * 1e3
    assert list(record.batch_sizes) == [2, 1]
    assert 49 < started_ms[0] < 75 and started_ms[1] < 180, started_ms


def test_a_server_that_keeps_up_is_not_overloaded_by_its_long_latency():
    """0.3 s a query at 100 queries a second, served as they come: the rate is the arrivals', whatever the
    latency (counting from the level's start, the last query's 0.3 s made it 91 and 'overloaded')."""
    figures = level_figures(level_record(np.full(300, 0.3), rate=100.0), 100.0)
    assert figures.status == "ok" and figures.achieved_qps == pytest.approx(100.0, rel=0.01)


def test_a_probe_ends_once_it_has_more_queries_over_the_bound_than_it_could_pass_with():
    offsets = np.arange(299) / 100.0  # 3 s of arrivals
    most = most_over_bound(len(offsets))
    assert most == 0  # 299 queries pass only with none over
    model = StandIn(0.030)
    record = serve_level(model, offsets, generator=ThreadGenerator(), max_batch=1, max_delay_s=0.0,
                         drain_s=1.0, bound_s=0.020, give_up=lambda over: over > most)
    # Counted, not timed: served one at a time, the level would run all 299; it stops at the first over.
    assert record.ended_early and len(model.started) == 1, len(model.started)
    figures = level_figures(record, 100.0)
    assert not figures.meets_bound(20.0) and figures.status == "ok" and "ended early" in figures.message


def test_no_search_when_one_query_alone_is_over_the_bound():
    search = find_max_qps(lambda qps: pytest.fail("no level may run"), capacity_qps=50.0, bound_ms=20.0,
                          unloaded_ms=25.0)
    assert search.best is None and search.probes == [] and "one query alone takes 25 ms" in search.describe()


def test_a_search_that_ran_no_level_is_an_over_bound_row_without_figures():
    search = find_max_qps(lambda qps: pytest.fail("no level may run"), capacity_qps=50.0, bound_ms=20.0,
                          unloaded_ms=25.0)
    row = CaseResult(device="cpu", model="mnist_cnn", mode="infer", scenario="server", load="p99<=20 ms",
                     batch_size=8, precision="float32", status="ok", flops_per_sample=1e6, peak_gflops=100.0)
    fill_row(row, None, search, max_delay_ms=0.0)
    assert (row.status, row.latency.rounds) == ("over_bound", 0) and math.isnan(row.max_qps_at_bound)
    assert row.message == "no level ran: one query alone takes 25 ms, over the bound: no load can meet it"


def test_a_search_probes_no_load_whose_level_would_outlast_its_cap():
    probed = []

    def never_within(qps):
        probed.append(qps)
        return level_figures(level_record(np.full(300, 0.050), rate=qps), qps)

    floor = floor_qps(5.0, 299)  # quick: 299 queries in at most 20 s
    search = find_max_qps(never_within, capacity_qps=100.0, bound_ms=20.0, floor_qps=floor)
    assert search.best is None and min(probed) >= floor and len(probed) < MAX_PROBES
    assert "no probe below 14.9 qps" in search.describe()
    assert longest_search_s(5.0) <= 4.5 * 60  # the quick profile's bound on a search, every level at its cap


def test_the_answer_is_a_load_that_passed_twice():
    draws = {}

    def flaky(qps):  # within 20 ms up to 600 qps, except 584.375's second draw
        draws[qps] = draws.get(qps, 0) + 1
        p99 = 10.0 if qps <= 600 and not (qps == 584.375 and draws[qps] == 2) else 40.0
        return level_figures(level_record(np.r_[np.full(400, 0.002), np.full(4, p99 / 1e3)], rate=qps), qps)

    search = find_max_qps(flaky, capacity_qps=1000.0, bound_ms=20.0)
    assert max(probe.offered_qps for probe in search.probes if probe.meets_bound(20.0)) == 584.375
    assert search.best.offered_qps < 584.375 and search.again.meets_bound(20.0) and draws[584.375] == 2
    assert "584.4 qps was over on its second draw" in search.describe()


def test_a_level_that_fails_its_second_draw_sends_the_search_below_it():
    draws = {}

    def knee_at_600_once(qps):  # within up to 600 qps on a first draw, up to 300 on later ones
        draws[qps] = draws.get(qps, 0) + 1
        p99 = 10.0 if qps <= (600 if draws[qps] == 1 else 300) else 40.0
        return level_figures(level_record(np.r_[np.full(400, 0.002), np.full(4, p99 / 1e3)], rate=qps), qps)

    search = find_max_qps(knee_at_600_once, capacity_qps=1000.0, bound_ms=20.0, floor_qps=15.0)
    assert search.best is not None and search.best.offered_qps <= 300 and search.again.meets_bound(20.0)
    assert "was over on its second draw" in search.describe() and "confirmed:" in search.describe()
