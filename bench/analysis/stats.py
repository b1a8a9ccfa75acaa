"""Statistics for comparing two runs of a case on a noisy machine.

The verdict follows asv's idea, tightened so that noise is never mistaken for
"unchanged": a case is slower (faster) only when its median moved by more than
the threshold AND the move is significant; it is unchanged only when the 99%
interval of the median ratio lies inside the threshold band; anything else is
inconclusive.

Rounds taken one after the other share the machine's state of the moment, so on
a shared machine two runs of the same code can differ by far more than the
rounds' spread suggests (docs/measurements.md). The units of replication are therefore the passes: each run times
every case in several passes through the matrix, and a case's pass medians on
both sides decide, by a t-test on their logs whose variance is moderated towards
the one shared by all cases (as limma does). Runs of one pass fall back to the
two-sided Mann-Whitney U test on the raw rounds (Welch's t-test on the summary
columns without them), which must also hold against the spread of the log ratios
over all cases in common (1.4826 x MAD).

One false alarm fails a CI gate, so the p-values are adjusted over the cases
with Holm's method: the chance of any case flagged in an A/A comparison stays
below alpha, whatever the number of cases.

The distributions and tests are scipy's; only what scipy lacks is written here:
Holm's adjustment and the moderated variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as distributions

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
Z_99 = float(distributions.norm.ppf(0.995))  # half-width of a normal 99% interval, in standard errors


def mann_whitney_p(a, b) -> float:
    """Two-sided p-value of the Mann-Whitney U test of samples `a` against `b`
    (scipy: exact for small samples without ties, else normal with tie correction)."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both samples need values. Received: sizes=({a.size}, {b.size})")
    if np.ptp(np.concatenate([a, b])) == 0:  # every value equal: no evidence of a difference
        return 1.0
    return float(distributions.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def welch_p(mean1, sd1, n1, mean2, sd2, n2) -> float:
    """Two-sided p of Welch's t-test from summaries (Student's t with Welch's degrees of freedom)."""
    if n1 < 2 or n2 < 2:
        return 1.0
    if sd1 == 0 and sd2 == 0:
        return 0.0 if mean1 != mean2 else 1.0
    return float(distributions.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False).pvalue)


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
    p_between = 2 * float(distributions.norm.sf(abs(math.log(result.ratio)) / sigma))
    spread = Z_99 * sigma  # the 99% interval, like the bootstrap's
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
    law = distributions.t(noise.df)
    p_value = 2 * float(law.sf(abs(math.log(result.ratio)) / noise.sigma))
    spread = float(law.ppf(0.995)) * noise.sigma
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
    """The smallest ratio a comparison can call significant at `alpha` under `sigma`
    (Student's t with `df` degrees of freedom; normal without)."""
    law = distributions.t(df) if df else distributions.norm
    return math.exp(float(law.ppf(1 - alpha / 2)) * sigma)


def compare_summaries(baseline: dict, candidate: dict, *, threshold: float, alpha: float) -> Comparison:
    """Compares two summary rows (median_ms, mean_ms, stddev_ms, rounds) without raw samples.

    The ratio's interval comes from the standard errors of the means, widened to 99%.
    """
    ratio = candidate["median_ms"] / baseline["median_ms"]
    p_value = welch_p(baseline["mean_ms"], baseline["stddev_ms"], baseline["rounds"],
                      candidate["mean_ms"], candidate["stddev_ms"], candidate["rounds"])
    relative_se = math.sqrt(sum((row["stddev_ms"] / row["mean_ms"]) ** 2 / max(row["rounds"], 1)
                                for row in (baseline, candidate)))
    spread = Z_99 * relative_se
    low, high = ratio * (1 - spread), ratio * (1 + spread)
    return Comparison(ratio, p_value, low, high, verdict(ratio, p_value, low, high,
                                                         threshold=threshold, alpha=alpha))
