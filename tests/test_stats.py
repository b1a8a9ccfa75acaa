"""The comparison statistics on synthetic samples with known answers."""

import numpy as np
import pytest

from bench import stats


def test_mann_whitney_exact_values():
    # Complete separation of 5 against 5: 2 arrangements of 252 are as extreme.
    assert stats.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    # Interleaved: U = 6 of 16; reference: scipy.stats.mannwhitneyu(method="exact").
    assert stats.mann_whitney_p([1, 3, 5, 7], [2, 4, 6, 8]) == pytest.approx(0.6857142857)


def test_mann_whitney_normal_approximation_with_ties():
    # Reference value: scipy.stats.mannwhitneyu(a, b, method="asymptotic").pvalue
    a, b = [1, 2, 2, 3, 3, 3, 4.0], [3, 4, 4, 5, 5, 6, 2.0]
    assert stats.mann_whitney_p(a, b) == pytest.approx(0.0430514327)


def test_mann_whitney_of_equal_values_is_not_significant():
    assert stats.mann_whitney_p([1.0] * 30, [1.0] * 30) == 1.0


def test_welch_from_summaries():
    assert stats.welch_p(10, 1, 100, 10, 1, 100) == pytest.approx(1.0)
    assert stats.welch_p(10, 1, 100, 11, 1, 100) < 1e-10


@pytest.mark.parametrize("ratio,p,low,high,expected", [
    (1.20, 0.001, 1.15, 1.25, stats.SLOWER),
    (0.80, 0.001, 0.75, 0.85, stats.FASTER),
    (1.20, 0.200, 0.90, 1.50, stats.INCONCLUSIVE),  # moved, but not significantly
    (1.02, 0.500, 0.97, 1.06, stats.UNCHANGED),
    (1.02, 0.500, 0.80, 1.30, stats.INCONCLUSIVE),  # too noisy to rule out a 10% change
])
def test_verdicts(ratio, p, low, high, expected):
    assert stats.verdict(ratio, p, low, high, threshold=0.10, alpha=0.01) == expected


def simulate(slowdown, *, pairs=200, rounds=20, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(pairs):
        base = 10.0 * rng.lognormal(0, noise, rounds)
        cand = 10.0 * slowdown * rng.lognormal(0, noise, rounds)
        verdicts.append(stats.compare_samples(base, cand, threshold=0.10, alpha=0.01).verdict)
    return verdicts


def test_a_a_pairs_with_5_percent_noise_are_almost_never_flagged():
    verdicts = simulate(1.0)
    assert verdicts.count(stats.SLOWER) + verdicts.count(stats.FASTER) <= 2  # at most 1%


def test_a_b_pairs_with_a_true_15_percent_slowdown_are_flagged():
    assert simulate(1.15).count(stats.SLOWER) >= 190  # at least 95%


def test_between_run_noise_is_the_robust_spread_of_log_ratios():
    rng = np.random.default_rng(3)
    ratios = np.exp(rng.normal(0.0, 0.10, 2000))
    assert stats.between_run_sigma(ratios) == pytest.approx(0.10, rel=0.08)
    assert stats.between_run_sigma(ratios[:7]) is None  # too few cases to tell


def test_detectable_change_under_noise():
    assert stats.detectable_change(0.10, 0.01) == pytest.approx(np.exp(2.5758 * 0.10), rel=1e-3)


def test_a_move_within_the_between_run_noise_is_not_a_verdict():
    # Significant on the rounds, 20% slower, but runs of this machine differ by 20% anyway.
    within = stats.Comparison(1.20, 1e-9, 1.18, 1.22, stats.SLOWER)
    judged = stats.with_between_run_noise(within, 0.20, threshold=0.10, alpha=0.01)
    assert judged.verdict == stats.INCONCLUSIVE
    assert judged.low < 1.0 < judged.high
    quiet = stats.with_between_run_noise(within, 0.02, threshold=0.10, alpha=0.01)
    assert quiet.verdict == stats.SLOWER
