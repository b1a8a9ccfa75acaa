"""Statistics for comparing two runs of a case on a noisy machine.

The verdict follows asv's idea, tightened so that noise is never mistaken for
"unchanged": a case is slower (faster) only when its median moved by more than
the threshold AND the move is significant; it is unchanged only when the 99%
interval of the median ratio lies inside the threshold band; anything else is
inconclusive.

Rounds taken one after the other share the machine's state of the moment, so on
a shared machine two runs of the same code can differ by far more than the
rounds' spread suggests (2-core VM: A/A pairs of quick runs gave ratios from 0.61
to 1.82). The units of replication are therefore the passes: each run times
every case in several passes through the matrix, and a case's pass medians on
both sides decide, by a t-test on their logs whose variance is moderated towards
the one shared by all cases (as limma does). Runs of one pass fall back to the
two-sided Mann-Whitney U test on the raw rounds (Welch's t-test on the summary
columns without them), which must also hold against the spread of the log ratios
over all cases in common (1.4826 x MAD).

One false alarm fails a CI gate, so the p-values are adjusted over the cases
with Holm's method: the chance of any case flagged in an A/A comparison stays
below alpha, whatever the number of cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
_EXACT_LIMIT = 20  # exact U distribution for samples this small and free of ties


def mann_whitney_p(a, b) -> float:
    """Two-sided p-value of the Mann-Whitney U test of samples `a` against `b`.

    Exact (the permutation distribution of U) for up to 20 values a side without
    ties; otherwise the normal approximation with tie and continuity corrections.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError(f"both samples need values. Received: sizes=({n1}, {n2})")
    combined = np.concatenate([a, b])
    ranks = pd.Series(combined).rank(method="average").to_numpy()
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    ties = np.unique(combined, return_counts=True)[1]
    if max(n1, n2) <= _EXACT_LIMIT and (ties == 1).all():
        u = int(round(min(u1, n1 * n2 - u1)))
        counts = _u_distribution(min(n1, n2), max(n1, n2))
        return min(1.0, 2 * sum(counts[: u + 1]) / sum(counts))
    mean = n1 * n2 / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1)))
    if variance <= 0:  # every value equal: no evidence of a difference
        return 1.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


@lru_cache(maxsize=None)
def _u_distribution(n1: int, n2: int) -> tuple[int, ...]:
    """Counts of each U value over all arrangements of n1 + n2 distinct values."""
    # f(i, j) as a polynomial in U: f(i, j) = f(i-1, j) shifted by j + f(i, j-1).
    table = {(0, j): (1,) for j in range(n2 + 1)}
    for i in range(1, n1 + 1):
        table[(i, 0)] = (1,)
        for j in range(1, n2 + 1):
            left, right = table[(i - 1, j)], table[(i, j - 1)]
            size = max(len(left) + j, len(right))
            counts = [0] * size
            for k, c in enumerate(left):
                counts[k + j] += c
            for k, c in enumerate(right):
                counts[k] += c
            table[(i, j)] = tuple(counts)
    return table[(n1, n2)]


def welch_p(mean1, sd1, n1, mean2, sd2, n2) -> float:
    """Two-sided p of Welch's t-test from summaries (normal approximation of t)."""
    if n1 < 2 or n2 < 2:
        return 1.0
    se = math.sqrt(sd1**2 / n1 + sd2**2 / n2)
    if se == 0:
        return 0.0 if mean1 != mean2 else 1.0
    return math.erfc(abs(mean1 - mean2) / se / math.sqrt(2))


def median_ratio_interval(baseline, candidate, *, level=0.99, resamples=2000, seed=0):
    """Percentile bootstrap interval of median(candidate) / median(baseline)."""
    rng = np.random.default_rng(seed)
    base = np.median(rng.choice(np.asarray(baseline, float), (resamples, len(baseline))), axis=1)
    cand = np.median(rng.choice(np.asarray(candidate, float), (resamples, len(candidate))), axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(cand / base, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    ratio: float  # candidate median / baseline median; above 1 is slower
    p_value: float
    low: float  # the ratio's interval, where known
    high: float
    verdict: str


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


def compare_samples(baseline, candidate, *, threshold: float, alpha: float) -> Comparison:
    """Compares raw per-round times (any unit, the same on both sides)."""
    ratio = float(np.median(candidate) / np.median(baseline))
    p_value = mann_whitney_p(baseline, candidate)
    low, high = median_ratio_interval(baseline, candidate)
    return Comparison(ratio, p_value, low, high, verdict(ratio, p_value, low, high,
                                                         threshold=threshold, alpha=alpha))


MIN_CASES_FOR_NOISE = 8  # fewer cases give no usable estimate of the between-run noise
PRIOR_DF = 4  # weight, in degrees of freedom, of the noise shared by all cases in each case's own


def between_run_sigma(ratios) -> float | None:
    """Robust standard deviation of log(ratio) over the cases in common; None if too few."""
    logs = np.log(np.asarray(ratios, dtype="float64"))
    if logs.size < MIN_CASES_FOR_NOISE:
        return None
    return float(1.4826 * np.median(np.abs(logs - np.median(logs))))


@dataclass(frozen=True)
class ReplicateNoise:
    """One case's noise, from its replicates: the medians of its passes (and runs) on each side.

    sigma is the standard error of the difference of the two sides' mean log
    medians, with `df` degrees of freedom for Student's t.
    """

    sigma: float
    df: int


def replicate_noise(base_logs, cand_logs, prior_variance: float | None) -> ReplicateNoise | None:
    """The case's own variance of log replicate medians, moderated towards `prior_variance`.

    A case with 5 passes a side has only 8 degrees of freedom of its own; as in
    limma's moderated t, the variance shared by all cases counts as PRIOR_DF more,
    so one case's lucky quiet passes cannot make it look precise.
    """
    squares, own_df = _within_sides(base_logs, cand_logs)
    if prior_variance is None:
        if own_df < 1:
            return None
        variance, df = squares / own_df, own_df
    else:
        variance = (PRIOR_DF * prior_variance + squares) / (PRIOR_DF + own_df)
        df = PRIOR_DF + own_df
    return ReplicateNoise(math.sqrt(variance * (1 / len(base_logs) + 1 / len(cand_logs))), df)


def shared_variance(per_case_logs) -> float | None:
    """The median over cases of their own variance of log replicate medians (pooled over both sides)."""
    pooled = [_within_sides(base_logs, cand_logs) for base_logs, cand_logs in per_case_logs]
    variances = [squares / df for squares, df in pooled if df >= 1]
    return float(np.median(variances)) if variances else None


def _within_sides(base_logs, cand_logs) -> tuple[float, int]:
    """Squared deviations of each side's values from that side's mean, summed; and their degrees of freedom."""
    sides = [np.asarray(values, dtype="float64") for values in (base_logs, cand_logs)]
    return float(sum(((v - v.mean()) ** 2).sum() for v in sides)), sum(v.size for v in sides) - 2


def with_between_run_noise(result: Comparison, sigma: float | None, *, threshold: float, alpha: float) -> Comparison:
    """`result` judged also against the between-run noise `sigma` of its log ratio (normal)."""
    if not sigma:
        return result
    p_between = math.erfc(abs(math.log(result.ratio)) / sigma / math.sqrt(2))
    spread = 2.576 * sigma  # the 99% interval, like the bootstrap's
    p_value = max(result.p_value, p_between)
    low = min(result.low, result.ratio * math.exp(-spread))
    high = max(result.high, result.ratio * math.exp(spread))
    return Comparison(result.ratio, p_value, low, high,
                      verdict(result.ratio, p_value, low, high, threshold=threshold, alpha=alpha))


def with_replicate_noise(result: Comparison, noise: ReplicateNoise, *, threshold: float, alpha: float) -> Comparison:
    """`result` judged on the case's replicates: Student's t on its log ratio, and the t interval.

    The rounds' own test is left out: rounds within a pass are not independent
    draws of the machine, and with one round per pass they are the replicates.
    """
    p_value = 2 * t_sf(abs(math.log(result.ratio)) / noise.sigma, noise.df)
    spread = t_quantile(0.995, noise.df) * noise.sigma
    low, high = result.ratio * math.exp(-spread), result.ratio * math.exp(spread)
    return Comparison(result.ratio, p_value, low, high,
                      verdict(result.ratio, p_value, low, high, threshold=threshold, alpha=alpha))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment: rejecting adjusted p < alpha keeps the chance of any false alarm
    over all the cases below alpha (a CI gate fails on one)."""
    p = np.asarray(p_values, dtype="float64")
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    result = np.empty_like(p)
    result[order] = np.minimum(adjusted, 1.0)
    return result


def detectable_change(sigma: float, alpha: float, df: int | None = None) -> float:
    """The smallest ratio a comparison can call significant at `alpha` under `sigma`."""
    critical = t_quantile(1 - alpha / 2, df) if df else math.sqrt(2) * _erfc_inverse(alpha)
    return math.exp(critical * sigma)


def _erfc_inverse(p: float) -> float:
    low, high = 0.0, 10.0
    for _ in range(100):  # bisection: erfc is decreasing
        mid = (low + high) / 2
        low, high = (mid, high) if math.erfc(mid) > p else (low, mid)
    return (low + high) / 2


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom (t >= 0)."""
    return 0.5 * _regularized_beta(df / (df + t * t), df / 2, 0.5)


def t_quantile(q: float, df: float) -> float:
    """The t with P(T <= t) = q, for q in [0.5, 1)."""
    low, high = 0.0, 1e3
    for _ in range(200):  # bisection: the survival function is decreasing
        mid = (low + high) / 2
        low, high = (mid, high) if t_sf(mid, df) > 1 - q else (low, mid)
    return (low + high) / 2


def _regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), as in Numerical Recipes' betai."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast below this point: use the symmetry
        return 1.0 - _regularized_beta(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * fraction


def compare_summaries(baseline: dict, candidate: dict, *, threshold: float, alpha: float) -> Comparison:
    """Compares two summary rows (median_ms, mean_ms, stddev_ms, rounds) without raw samples.

    The ratio's interval comes from the standard errors of the means, widened to 99%.
    """
    ratio = candidate["median_ms"] / baseline["median_ms"]
    p_value = welch_p(baseline["mean_ms"], baseline["stddev_ms"], baseline["rounds"],
                      candidate["mean_ms"], candidate["stddev_ms"], candidate["rounds"])
    relative_se = math.sqrt(sum((row["stddev_ms"] / row["mean_ms"]) ** 2 / max(row["rounds"], 1)
                                for row in (baseline, candidate)))
    spread = 2.576 * relative_se
    low, high = ratio * (1 - spread), ratio * (1 + spread)
    return Comparison(ratio, p_value, low, high, verdict(ratio, p_value, low, high,
                                                         threshold=threshold, alpha=alpha))
