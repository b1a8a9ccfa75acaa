"""The server scenario against queueing theory, with a stand-in model of fixed service time S (a sleep; no
Keras): Poisson arrivals served one at a time are an M/D/1 queue, whose mean latency is
S + rho S / (2 (1 - rho)). Real clocks and threads: each level runs 5 to 12 seconds, all five at once, each in
a fresh process of its own (they sleep far more than they compute: together they take the longest level's
time, not the sum's 47 s).

S is 20 ms so that the harness's own hand-off from generator to server (0.6 to 2 ms a query on the
2-core VM, docs/measurements.md) stays a few percent of the latency."""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from bench.serving.arrivals import GENERATORS, poisson_schedule
from bench.serving.batcher import serve_level
from bench.serving.figures import level_figures

pytestmark = pytest.mark.simulation

SERVICE_S = 0.020


class StandIn:
    """Serves any batch in SERVICE_S (as a GPU below its saturation does); records the real service times."""

    def __init__(self):
        self.service_s = []

    def __call__(self, queries):
        start = time.perf_counter()
        time.sleep(SERVICE_S)
        self.service_s.append(time.perf_counter() - start)


def _level(load, *, max_batch=1, generator="thread", duration_s=12.0):
    model = StandIn()
    qps = load / SERVICE_S
    record = serve_level(model, poisson_schedule(qps, duration_s), generator=GENERATORS[generator](),
                         max_batch=max_batch, max_delay_s=0.0, drain_s=1.0)
    return level_figures(record, qps), float(np.mean(model.service_s))


LEVELS = {("md1", 0.5, "thread"): {"load": 0.5}, ("md1", 0.8, "thread"): {"load": 0.8},
          ("md1", 0.5, "process"): {"load": 0.5, "generator": "process"},
          "alone": {"load": 1.5, "duration_s": 5.0}, "batched": {"load": 1.5, "max_batch": 8, "duration_s": 5.0}}


@pytest.fixture(scope="module")
def levels() -> dict:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no thread of this one comes along
    with ProcessPoolExecutor(len(LEVELS), mp_context=context) as pool:
        running = {name: pool.submit(_level, **settings) for name, settings in LEVELS.items()}
        return {name: future.result() for name, future in running.items()}


@pytest.mark.parametrize("load, generator", [(0.5, "thread"), (0.8, "thread"), (0.5, "process")])
def test_one_query_at_a_time_is_an_md1_queue(levels, load, generator):
    figures, service_s = levels["md1", load, generator]
    rho = figures.offered_qps * service_s  # the load the real (slightly longer than asked) sleeps make
    theory_ms = 1e3 * (service_s + rho * service_s / (2 * (1 - rho)))
    assert figures.latency.mean_ms == pytest.approx(theory_ms, rel=0.10)
    assert figures.achieved_qps == pytest.approx(figures.offered_qps, rel=0.03)
    assert figures.status == "ok" and figures.mean_batch == 1.0


def test_batching_keeps_the_tail_bounded_above_one_over_s(levels):
    """At 1.5 / S one query at a time falls behind for good; batches of up to 8 keep up, with a short tail."""
    alone, _ = levels["alone"]
    batched, service_s = levels["batched"]
    assert alone.status == "overloaded" and alone.achieved_qps < 0.8 * alone.offered_qps
    assert batched.status == "ok" and batched.unfinished == 0
    assert batched.mean_batch > 1.5
    assert batched.latency.p99_ms < 10 * service_s * 1e3 < alone.latency.p99_ms
