"""The gate's statistics: the empirical-Bayes prior, the moderated t, Holm, verdicts."""

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as distributions

from bench.analysis import stats


def test_fit_prior_recovers_a_simulated_prior():
    """limma's model: sigma_i^2 ~ s0^2 d0 / chi2(d0), s_i^2 ~ sigma_i^2 chi2(d) / d."""
    rng = np.random.default_rng(0)
    d0, s0_squared, df, cases = 6.0, 0.01, 4, 4000
    true_variances = s0_squared * d0 / rng.chisquare(d0, cases)
    observed = true_variances * rng.chisquare(df, cases) / df
    prior = stats.fit_prior(observed, df)
    assert prior.df == pytest.approx(d0, rel=0.25)
    assert np.allclose(prior.variance, s0_squared, rtol=0.1)


def test_fit_prior_follows_a_trend_in_the_covariate():
    """Cases noisy inside their processes get a larger prior variance (limma-trend)."""
    rng = np.random.default_rng(1)
    scale = np.exp(rng.uniform(-2, 2, 2000))  # each case's noise level, seen in-process too
    observed = 0.01 * scale * rng.chisquare(4, scale.size) / 4
    prior = stats.fit_prior(observed, 4, covariate=np.log(scale))
    assert math.isinf(prior.df) or prior.df > 50  # the trend explains the spread: no extra prior variance
    assert np.allclose(prior.variance, 0.01 * scale, rtol=0.15)


def test_fit_prior_without_usable_variances():
    assert stats.fit_prior([0.0, math.nan, 1.0], 4) is None


@pytest.mark.parametrize("value", [1e-3, 0.5, 3.0, 50.0])
def test_inverse_trigamma(value):
    assert float(special.polygamma(1, stats._inverse_trigamma(value))) == pytest.approx(value, rel=1e-6)


def test_moderation_is_a_weighted_mean_of_the_own_and_prior_variances():
    prior = stats.Prior(np.array([0.04]), 4.0, pooled_df=80)
    assert stats.moderate(0.01, 8, prior, 0) == (pytest.approx((4 * 0.04 + 8 * 0.01) / 12), 12)
    assert stats.moderate(0.01, 8, stats.Prior(np.array([0.04]), math.inf, pooled_df=80), 0) == (0.04, 80)
    assert stats.moderate(0.01, 8, stats.Prior(np.array([0.04]), 100.0, pooled_df=56), 0)[1] == 56  # limma's cap
    assert stats.moderate(0.01, 8, None, 0) == (0.01, 8)


def test_compare_logs_is_students_t_on_the_mean_logs():
    base, head = np.log([10.0, 11.0, 10.5]), np.log([12.0, 12.5, 11.5])
    variance, df = stats.within_sides(base, head)
    result = stats.compare_logs(base, head, variance, df)
    assert result.p_slower == pytest.approx(distributions.ttest_ind(head, base, alternative="greater").pvalue)
    assert result.p_faster == pytest.approx(distributions.ttest_ind(head, base, alternative="less").pvalue)
    assert result.ratio == pytest.approx(math.exp(head.mean() - base.mean()))
    assert result.low < result.ratio < result.high


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_controls_the_chance_of_any_false_alarm():
    rng = np.random.default_rng(0)
    alarms = np.mean([(stats.holm(rng.uniform(size=60)) < 0.05).any() for _ in range(4000)])
    assert alarms <= 0.05 + 0.01


@pytest.mark.parametrize("ratio,p,low,high,expected", [
    (1.3, 0.001, 1.2, 1.4, stats.SLOWER),
    (0.7, 0.001, 0.6, 0.8, stats.FASTER),
    (1.05, 0.001, 1.02, 1.08, stats.UNCHANGED),  # significant but inside the threshold
    (1.3, 0.2, 0.9, 1.8, stats.INCONCLUSIVE),  # beyond the threshold but not significant
    (1.0, 0.9, 0.8, 1.25, stats.INCONCLUSIVE),  # interval too wide to say unchanged
])
def test_verdicts(ratio, p, low, high, expected):
    assert stats.verdict(ratio, p, low, high, threshold=0.10, alpha=0.01) == expected


def test_detectable_change_is_the_critical_ratio():
    change = stats.detectable_change(0.05, 0.01, 10)
    assert change == pytest.approx(math.exp(distributions.t(10).ppf(0.99) * 0.05))
    assert stats.detectable_change(0.05, 0.01, math.inf) < change
