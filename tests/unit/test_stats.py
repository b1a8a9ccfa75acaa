"""The comparison statistics: verdicts, simulations of the gate, and what scipy lacks (Holm, the
moderated variance) against independent references."""

import numpy as np
import pytest
from scipy import stats as reference

from bench.analysis import stats


def test_mann_whitney_of_equal_values_is_not_significant():
    assert stats.mann_whitney_p([1.0] * 30, [1.0] * 30) == 1.0


def test_welch_uses_students_t_with_welchs_degrees_of_freedom():
    # Reference: Welch's statistic and degrees of freedom written out, and Student's t from scipy.
    m1, s1, n1, m2, s2, n2 = 10.0, 1.0, 5, 11.5, 2.0, 4
    se2 = s1**2 / n1 + s2**2 / n2
    df = se2**2 / ((s1**2 / n1) ** 2 / (n1 - 1) + (s2**2 / n2) ** 2 / (n2 - 1))
    expected = 2 * reference.t.sf(abs(m1 - m2) / np.sqrt(se2), df)
    assert stats.welch_p(m1, s1, n1, m2, s2, n2) == pytest.approx(expected)
    assert expected > 2 * reference.norm.sf(abs(m1 - m2) / np.sqrt(se2))  # the normal shortcut was too bold
    assert stats.welch_p(10, 1, 100, 10, 1, 100) == pytest.approx(1.0)


def holm_by_definition(p):
    """Holm's adjusted p from its definition: the largest, over the hypotheses ranked at or before
    this one, of (m - rank + 1) x p, capped at 1."""
    m = len(p)
    ranked = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    for position, i in enumerate(ranked):
        adjusted[i] = min(1.0, max((m - k) * p[ranked[k]] for k in range(position + 1)))
    return adjusted


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_its_definition(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, 12).tolist()
    assert stats.holm(p).tolist() == pytest.approx(holm_by_definition(p))
    assert stats.holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_controls_the_chance_of_any_false_alarm():
    rng = np.random.default_rng(0)  # 60 true null hypotheses, 4000 families: any p < 0.05 after adjustment?
    alarms = np.mean([(stats.holm(rng.uniform(size=60)) < 0.05).any() for _ in range(4000)])
    assert alarms <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_shared_variance_is_the_median_of_the_pooled_case_variances():
    cases = [(np.log([10, 11, 9]), np.log([10, 10.5])), (np.log([5, 5.5]), np.log([5, 6, 4.5])),
             (np.log([1, 1.3, 0.8]), np.log([1, 1.1, 0.9]))]
    pooled = [(np.var(b, ddof=0) * len(b) + np.var(c, ddof=0) * len(c)) / (len(b) + len(c) - 2) for b, c in cases]
    assert stats.shared_variance(cases) == pytest.approx(np.median(pooled))

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


def test_replicate_noise_is_moderated_towards_the_shared_variance():
    base, cand = np.log([10, 11, 9]), np.log([10, 10.5, 9.5])
    own = (((base - base.mean()) ** 2).sum() + ((cand - cand.mean()) ** 2).sum())
    noise = stats.replicate_noise(base, cand, prior_variance=0.01)
    assert noise.df == stats.PRIOR_DF + 4
    assert noise.sigma == pytest.approx(np.sqrt((stats.PRIOR_DF * 0.01 + own) / (stats.PRIOR_DF + 4) * (2 / 3)))
    assert stats.replicate_noise([0.0], [0.0], prior_variance=None) is None  # nothing to go on


def gate(slowdowns, *, rng, passes=5, pass_noise=0.10, threshold=0.10, alpha=0.01):
    """What compare's gate does with replicates: per-case t on log pass medians, Holm over cases.

    Returns the indices of the cases flagged slower.
    """
    pairs = [(rng.normal(0, pass_noise, passes), np.log(slowdown) + rng.normal(0, pass_noise, passes))
             for slowdown in slowdowns]
    prior = stats.shared_variance(pairs)
    p_values, ratios = [], []
    for base, cand in pairs:
        noise = stats.replicate_noise(base, cand, prior)
        difference = cand.mean() - base.mean()
        p_values.append(2 * reference.t.sf(abs(difference) / noise.sigma, noise.df))
        ratios.append(np.exp(difference))
    adjusted = stats.holm(p_values)
    return [i for i, (p, r) in enumerate(zip(adjusted, ratios)) if p < alpha and r > 1 + threshold]


def test_the_gate_raises_a_false_alarm_in_at_most_1_percent_of_a_a_comparisons():
    rng = np.random.default_rng(5)
    alarms = sum(bool(gate([1.0] * 60, rng=rng)) for _ in range(200))  # 200 comparisons of 60 cases each
    assert alarms <= 2


def test_the_gate_finds_one_case_slower_by_more_than_its_noise():
    rng = np.random.default_rng(6)
    found = [gate([1.0] * 59 + [1.7], rng=rng) for _ in range(200)]  # 5 passes a side of 10% noise
    assert sum(flagged == [59] for flagged in found) >= 190


def test_replicates_alone_decide_when_there_are_passes():
    # The rounds' own test said nothing (p 0.5), but 10 quiet passes a side say 20% slower...
    rounds_said = stats.Comparison(1.20, 0.5, 0.9, 1.6, stats.INCONCLUSIVE)
    quiet = stats.with_replicate_noise(rounds_said, stats.ReplicateNoise(0.02, 22), threshold=0.10, alpha=0.01)
    assert quiet.verdict == stats.SLOWER
    assert quiet.p_value == pytest.approx(2 * reference.t.sf(np.log(1.2) / 0.02, 22))
    assert quiet.low == pytest.approx(1.2 * np.exp(-reference.t.ppf(0.995, 22) * 0.02))
    # ... and rounds that look decisive count for nothing when the passes wander.
    rounds_said = stats.Comparison(1.20, 1e-12, 1.19, 1.21, stats.SLOWER)
    noisy = stats.with_replicate_noise(rounds_said, stats.ReplicateNoise(0.15, 12), threshold=0.10, alpha=0.01)
    assert noisy.verdict == stats.INCONCLUSIVE
