"""Statistics of a regression gate whose replicates are processes.

Anything fixed for the life of a process (thread-pool placement, memory layout,
compilation choices, the machine's state when it started) is shared by every
round and pass inside it, so a case gets ONE value per process: the log of its
median there. Two sides (baseline, candidate) of several processes each are then
compared case by case with a moderated t-test on those logs:

- each case's own variance of process logs (pooled over the two sides) is
  shrunk towards a prior whose scale and weight (s0^2 and d0 degrees of
  freedom) are estimated from all the cases, as limma's empirical Bayes does
  (Smyth 2004, `fitFDist`). The prior's scale follows a trend on a covariate:
  the case's noise between the passes inside its processes, measured with many
  degrees of freedom (limma-trend). A case whose thread pools fight over the
  cores is noisy inside a process too, so it is not moderated towards the quiet
  cases' variance.
- the ratio tested is exp(mean candidate log - mean baseline log), the ratio of
  geometric means of the process medians; it is the ratio shown.
- verdicts (asv's idea, tightened): slower (faster) only when the ratio is
  beyond the threshold AND significant after Holm's adjustment of the one-sided
  p-values of that direction; unchanged only when the 99% interval lies inside
  the threshold band; else inconclusive.

scipy provides the distributions; what it lacks is written here: the prior's
estimate, the moderation and Holm's step-down adjustment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
INTERVAL_LEVEL = 0.99  # the interval that decides "unchanged" and is shown


@dataclass(frozen=True)
class Prior:
    """The variance every case is moderated towards: s0^2 (one per case, on the trend) with d0 df."""

    variance: np.ndarray
    df: float  # inf: every case's variance is the prior's
    pooled_df: float = math.inf  # all the cases' df together: no posterior is surer than the pooled estimate


def fit_prior(variances, df, covariate=None, offset=None) -> Prior | None:
    """limma's fitFDist: s0^2 and d0 from the cases' variances `variances` with `df` degrees of freedom each.

    The log variances, less their expected bias, have mean log s0^2 (on a
    straight-line trend in `covariate`, when given; or `offset` plus a constant,
    when each case's variance is known up to one common factor: a trend of slope 1,
    one parameter to fit instead of two) and variance trigamma(df/2) + trigamma(d0/2);
    d0 is solved from the excess. Cases with a zero variance are left out of the fit.
    None when fewer than 3 cases can be used.
    """
    variances, df = np.asarray(variances, float), np.broadcast_to(np.asarray(df, float), np.shape(variances))
    usable = (variances > 0) & (df > 0) & np.isfinite(variances)
    if usable.sum() < 3:
        return None
    z = np.log(variances[usable]) - special.digamma(df[usable] / 2) + np.log(df[usable] / 2)
    if offset is not None:
        shift = np.asarray(offset, float)
        level = float((z - shift[usable]).mean())
        centre_all, residual, fitted_params = shift + level, z - shift[usable] - level, 1
    elif covariate is not None and np.ptp(np.asarray(covariate, float)[usable]) > 0:
        x = np.asarray(covariate, float)
        slope, intercept = np.polyfit(x[usable], z, 1)
        centre_all, residual, fitted_params = intercept + slope * x, z - (intercept + slope * x[usable]), 2
    else:
        centre_all, residual, fitted_params = np.full(variances.shape, z.mean()), z - z.mean(), 1
    excess = (residual**2).sum() / (residual.size - fitted_params) - special.polygamma(1, df[usable] / 2).mean()
    prior_df = _inverse_trigamma(excess) * 2 if excess > 0 else math.inf
    offset = 0.0 if math.isinf(prior_df) else special.digamma(prior_df / 2) - math.log(prior_df / 2)
    return Prior(np.exp(centre_all + offset), prior_df, float(df[usable].sum()))


def _inverse_trigamma(value: float) -> float:
    """y with trigamma(y) = value (Smyth's Newton iteration, as limma's trigammaInverse)."""
    if value > 1e7:
        return 1 / math.sqrt(value)
    if value < 1e-6:
        return 1 / value
    y = 0.5 + 1 / value
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1 - tri / value) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def moderate(variance: float, df: float, prior: Prior | None, index: int) -> tuple[float, float]:
    """(posterior variance, its df): the case's own variance shrunk towards the prior's.

    The df are capped at the pooled df of all the cases, as limma caps df.total: a prior
    estimated from 7 models' variances is not known exactly, however alike they look.
    """
    if prior is None:
        return variance, df
    total_df = min(prior.df + df, prior.pooled_df)
    if math.isinf(prior.df):
        return float(prior.variance[index]), total_df
    prior_variance = float(prior.variance[index])
    return (prior.df * prior_variance + df * variance) / (prior.df + df), total_df


def within_sides(base_logs, cand_logs) -> tuple[float, int]:
    """The pooled variance of the values around their side's mean, and its degrees of freedom."""
    sides = [np.asarray(values, dtype="float64") for values in (base_logs, cand_logs)]
    df = sum(v.size for v in sides) - 2
    squares = float(sum(((v - v.mean()) ** 2).sum() for v in sides))
    return (squares / df if df > 0 else math.nan), df


@dataclass(frozen=True)
class Comparison:
    ratio: float  # exp(mean candidate log - mean baseline log); above 1 is slower
    low: float  # the ratio's INTERVAL_LEVEL interval
    high: float
    sigma: float  # standard error of the log ratio
    df: float

    @property
    def p_slower(self) -> float:
        """One-sided p of "the candidate is slower": a gate fails on regressions only, so each direction
        is its own family of claims, and neither spends alpha on the other."""
        return self._tail(math.log(self.ratio))

    @property
    def p_faster(self) -> float:
        return self._tail(-math.log(self.ratio))

    def _tail(self, difference: float) -> float:
        if self.sigma == 0:
            return 0.0 if difference > 0 else 1.0
        return _t_sf(difference / self.sigma, self.df)

    def detectable(self, alpha: float) -> float:
        """The smallest ratio this case's noise lets a one-sided test at `alpha` call slower."""
        return detectable_change(self.sigma, alpha, self.df)

    @classmethod
    def of_mean(cls, difference: float, variance: float, df: float) -> "Comparison":
        """Student's t on a mean log difference (candidate - baseline) whose (moderated) variance is
        `variance` with `df` degrees of freedom: the paired gate's, whose replicates are worker pairs."""
        sigma = math.sqrt(variance)
        spread = _t_ppf(1 - (1 - INTERVAL_LEVEL) / 2, df) * sigma
        return cls(math.exp(difference), math.exp(difference - spread), math.exp(difference + spread), sigma, df)


def compare_logs(base_logs, cand_logs, variance: float, df: float) -> Comparison:
    """Student's t on the difference of the two sides' mean logs, given the (moderated) variance."""
    base, cand = np.asarray(base_logs, float), np.asarray(cand_logs, float)
    difference = float(cand.mean() - base.mean())
    sigma = math.sqrt(variance * (1 / base.size + 1 / cand.size))
    spread = _t_ppf(1 - (1 - INTERVAL_LEVEL) / 2, df) * sigma
    return Comparison(math.exp(difference), math.exp(difference - spread), math.exp(difference + spread), sigma, df)


def _t_sf(x: float, df: float) -> float:
    """Student's t upper tail (the normal's when df is infinite); scipy.special, unfrozen, for speed."""
    return float(special.ndtr(-x) if math.isinf(df) else special.stdtr(df, -x))


def _t_ppf(q: float, df: float) -> float:
    return float(special.ndtri(q) if math.isinf(df) else special.stdtrit(df, q))


def verdict(ratio, p_value, low, high, *, threshold: float, alpha: float) -> str:
    """slower / faster / unchanged / inconclusive, as described in the module docstring."""
    band_high, band_low = 1 + threshold, 1 / (1 + threshold)
    if p_value < alpha and ratio > band_high:
        return SLOWER
    if p_value < alpha and ratio < band_low:
        return FASTER
    if band_low <= low and high <= band_high:
        return UNCHANGED
    return INCONCLUSIVE


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment: rejecting adjusted p < alpha keeps the chance of any false alarm
    over all the hypotheses below alpha, whatever their dependence (a CI gate fails on one)."""
    p = np.asarray(p_values, dtype="float64")
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    result = np.empty_like(p)
    result[order] = np.minimum(adjusted, 1.0)
    return result


def detectable_change(sigma: float, alpha: float, df: float) -> float:
    """The smallest ratio a one-sided test at `alpha` can call slower, with standard error `sigma`
    of the log ratio (Student's t with `df` degrees of freedom; normal when infinite)."""
    return math.exp(_t_ppf(1 - alpha, df) * sigma)
