"""A case's row: latency statistics, the percentile rule (checked by simulation), derived rates."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from bench.results import CaseResult, LatencyStats, rounds_needed


def test_latency_stats_of_known_samples():
    stats = LatencyStats.from_seconds([0.001 * i for i in range(1, 301)])  # 1..300 ms
    assert stats.rounds == 300
    assert stats.min_ms == pytest.approx(1) and stats.max_ms == pytest.approx(300)
    assert stats.median_ms == pytest.approx(150.5) and stats.mean_ms == pytest.approx(150.5)
    assert stats.p90_ms == pytest.approx(270.1) and stats.p99_ms == pytest.approx(297.01)
    assert stats.stddev_ms == pytest.approx(np.std(np.arange(1, 301), ddof=1))


def test_latency_stats_are_ordered_on_skewed_samples():
    rng = np.random.default_rng(1)
    stats = LatencyStats.from_seconds(rng.lognormal(-5, 0.8, size=337))
    assert stats.min_ms <= stats.median_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms


@pytest.mark.parametrize("rounds,has_p90,has_p99", [(5, False, False), (28, False, False), (29, True, False),
                                                    (298, True, False), (299, True, True)])
def test_a_percentile_is_left_empty_below_the_rounds_that_support_it(rounds, has_p90, has_p99):
    stats = LatencyStats.from_seconds(np.linspace(0.001, 0.002, rounds))
    assert math.isnan(stats.p90_ms) != has_p90 and math.isnan(stats.p99_ms) != has_p99
    assert not math.isnan(stats.median_ms)


def test_the_rounds_rule_bounds_the_percentile_by_simulation():
    """With rounds_needed(p) rounds, the slowest lies above the true p-th percentile in >= 95% of runs;
    with a tenth of them (a "p99" from 30 rounds) it mostly does not: that figure would be a guess."""
    rng = np.random.default_rng(7)
    for fraction in (0.90, 0.99):
        true = math.exp(0.3 * NormalDist().inv_cdf(fraction))  # of lognormal(0, 0.3)
        for rounds, low, high in ((rounds_needed(fraction), 0.94, 0.97), (rounds_needed(fraction) // 10, 0.0, 0.30)):
            draws = rng.lognormal(0, 0.3, size=(4000, rounds))  # skewed, like step times
            covered = (draws.max(axis=1) > true).mean()
            assert low <= covered <= high, (fraction, rounds, covered)


def test_latency_stats_need_samples():
    with pytest.raises(ValueError, match="no timed rounds"):
        LatencyStats.from_seconds([])


def make_result(**overrides):
    fields = dict(device="cpu", device_name="cpu", model="mnist_cnn", params=10, mode="infer",
                  batch_size=32, precision="float32", jit_compile="off", status="ok",
                  flops_per_sample=1e6)
    return CaseResult(**{**fields, **overrides})


def test_rates_derive_from_the_median():
    result = make_result().with_latency([0.004, 0.002, 0.003])
    assert result.samples_per_s == pytest.approx(32 / 0.003)
    assert result.gflops_per_s == pytest.approx(1e6 * 32 / 0.003 / 1e9)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="Received: status='fine'"):
        make_result(status="fine")


def test_a_failed_case_keeps_no_measured_figure():
    result = make_result(energy_j=2.0, samples_per_j=16.0).with_latency([0.004, 0.002, 0.003])
    result.status = "error"
    result.clear_measurements()
    row = result.flat()
    for column in ("median_ms", "p99_ms", "samples_per_s", "gflops_per_s", "energy_j", "samples_per_j"):
        assert math.isnan(row[column]), column
    assert row["rounds"] == 0
