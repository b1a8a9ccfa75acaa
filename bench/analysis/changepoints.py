"""Change points in a benchmark's history: where one machine's one case stepped up or down.

A history is one value per run (the run's median ms), oldest commit first. The method is E-divisive
means (Matteson & James, "A Nonparametric Approach for Multiple Change Point Analysis of Multivariate
Data", JASA 109(505), 2014), as Apache Otava (formerly Hunter, from MongoDB's CI: Daly et al., "The Use
of Change Point Detection to Identify Software Performance Regressions in a Continuous Integration
System", ICPE 2020) uses it:

- on the log values: a slowdown is a ratio, and a 10% step is the same step at 1 ms and at 1 s;
- a split tau of a segment x[0:n] (left x[:tau], m = tau values; right x[tau:], k = n - tau) scores
      E(tau) = 2/(m k) sum_{i<tau<=j} |x_i - x_j|^a - 1/C(m,2) sum_{i<l<tau} |x_i - x_l|^a
               - 1/C(k,2) sum_{tau<=j<l} |x_j - x_l|^a,        Q(tau) = m k / (m + k) E(tau)
  (an energy distance between the two sides, a in (0, 2); an empty sum over pairs counts 0). The far
  boundary kappa is the segment's end, as Otava fixes it; the estimate is the argmax of Q over the
  splits that leave at least `min_size` values on each side;
- its significance is the paper's permutation test: the segment's values shuffled R times (a series
  without change is exchangeable), p = (1 + #{max Q of a shuffle >= the observed max Q}) / (R + 1);
- binary segmentation: a significant split (p <= alpha) cuts its segment in two and both parts are
  searched again, until no segment has a significant split;
- then the magnitude filter: a change whose ratio between the neighbouring segments' geometric means
  is within 1 + min_change is not worth a report, however significant. The weakest is dropped first,
  one at a time, and its neighbours' ratios recomputed on the merged segment, so the ratios reported
  are between the final segments.

Q for every split of a segment costs O(n^2) from the row sums and the upper triangle's column sums of
the distance matrix; a shuffle permutes that matrix instead of recomputing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import stats as distributions

from bench.analysis.stats import INTERVAL_LEVEL

# Shuffles are scored in chunks: at most SHUFFLE_CHUNK shuffles (a segment without change usually shows p > alpha
# within the first, and stops there) and at most SHUFFLE_CHUNK_ELEMENTS distances (16 MB of float64) at once.
SHUFFLE_CHUNK, SHUFFLE_CHUNK_ELEMENTS = 100, 2_000_000


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first value after the change: values[index] is the first "after" point
    ratio: float  # geometric mean of the segment after / of the segment before (the final segmentation)
    low: float  # INTERVAL_LEVEL (99%) interval of the ratio: Welch's t on the two segments' logs
    high: float
    p: float  # the permutation p-value of the split when it was accepted


def e_divisive_q(x: np.ndarray, *, exponent: float = 1.0) -> np.ndarray:
    """Q(tau) for tau = 1..n-1 (index tau-1), by the definition above; x already on the log scale."""
    if not 0 < exponent < 2:
        raise ValueError(f"exponent must be in (0, 2). Received: exponent={exponent!r}")
    distances = _distances(np.asarray(x, dtype="float64"), exponent)
    return _q(distances.sum(axis=-1), np.triu(distances).sum(axis=-2))


def find_change_points(values, *, min_change: float = 0.05, alpha: float = 0.01, permutations: int = 499,
                       min_size: int = 3, seed: int = 0) -> list[ChangePoint]:
    """values: positive finite numbers (ms), oldest first. Deterministic for a seed.

    Args:
        values: one value per run, oldest first.
        min_change: the smallest change reported: a ratio of at least 1 + min_change (or at most its inverse).
        alpha: a split is accepted when its permutation p-value is at most alpha.
        permutations: the shuffles of each segment's test (R); 499 resolve p down to 0.002.
        min_size: the fewest values a segment may have on either side of a split.
        seed: the shuffles' seed; each segment draws from its own stream of it.
    Returns:
        The reported change points, in index order (none when there are fewer than 2 * min_size values).
    """
    logs = np.log(_checked_values(values))
    _check_options(min_change=min_change, alpha=alpha, permutations=permutations, min_size=min_size, seed=seed)
    distances = _distances(logs, 1.0)
    accepted: dict[int, float] = {}
    pending = [(0, logs.size)]
    # Segments are disjoint and each test draws from its own stream, (seed, start, stop): the order in which
    # segments are tested changes nothing, so testing every segment (the paper's "strongest first, until
    # none is significant") is this plain work list.
    while pending:
        start, stop = pending.pop()
        if stop - start < 2 * min_size:
            continue
        split = _significant_split(distances[start:stop, start:stop], min_size=min_size, alpha=alpha,
                                   permutations=permutations, rng=np.random.default_rng([seed, start, stop]))
        if split is not None:
            tau, p = split
            accepted[start + tau] = p
            pending += [(start, start + tau), (start + tau, stop)]
    kept = _large_enough(logs, sorted(accepted), math.log1p(min_change))
    edges = [0, *kept, logs.size]
    return [_change_point(logs[before:index], logs[index:after], index, accepted[index])
            for before, index, after in zip(edges, edges[1:], edges[2:])]


def _checked_values(values) -> np.ndarray:
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError("values must be positive finite numbers (ms). "
                         f"Received: {_first_non_number(values)}") from None
    if array.ndim != 1:
        raise ValueError(f"values must be one series of numbers (ms). Received: values.shape={array.shape}")
    bad = np.flatnonzero(~(np.isfinite(array) & (array > 0)))
    if bad.size:
        first = int(bad[0])
        raise ValueError("values must be positive finite numbers (ms). "
                         f"Received: values[{first}]={float(array[first])!r}")
    return array


def _first_non_number(values) -> str:
    """`values[i]=...` for the first element that is not a number, or the values' type when they are not a list."""
    try:
        for index, value in enumerate(values):
            try:
                float(value)
            except (TypeError, ValueError):
                return f"values[{index}]={value!r}"
    except TypeError:
        pass
    return f"values={type(values).__name__}"


def _check_options(*, min_change, alpha, permutations, min_size, seed) -> None:
    rules = [("min_change", min_change, "a positive fraction", min_change > 0),
             ("alpha", alpha, "a level in (0, 1)", 0 < alpha < 1),
             # fewer shuffles than 19 cannot give p <= 0.05, the loosest level worth asking for
             ("permutations", permutations, "an integer of at least 19", _is_int(permutations) and permutations >= 19),
             ("min_size", min_size, "an integer of at least 2", _is_int(min_size) and min_size >= 2),
             ("seed", seed, "a non-negative integer", _is_int(seed) and seed >= 0)]
    for name, value, accepted, ok in rules:
        if not ok:
            raise ValueError(f"{name} must be {accepted}. Received: {name}={value!r}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _distances(x: np.ndarray, exponent: float) -> np.ndarray:
    return np.abs(x[:, None] - x[None, :]) ** exponent


def _q(row_sums: np.ndarray, upper_column_sums: np.ndarray) -> np.ndarray:
    """Q(tau), tau = 1..n-1, over the last axis, from a distance matrix's row sums and the column sums of its
    upper triangle (column l: sum_{i<l} d_il): the pairs inside the left side are a running sum of the latter,
    the pairs across are the left rows' sums less those counted twice, and the right side's the rest."""
    n = row_sums.shape[-1]
    left = np.arange(1, n, dtype="float64")
    right = n - left
    within_left = np.cumsum(upper_column_sums, axis=-1)[..., :-1]
    across = np.cumsum(row_sums, axis=-1)[..., :-1] - 2 * within_left
    within_right = row_sums.sum(axis=-1, keepdims=True) / 2 - within_left - across
    left_pairs, right_pairs = left * (left - 1) / 2, right * (right - 1) / 2
    energy = (2 * across / (left * right) - _mean_or_zero(within_left, left_pairs)
              - _mean_or_zero(within_right, right_pairs))
    return left * right / n * energy


def _mean_or_zero(total: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """A side of one value has no pairs: its empty sum counts 0."""
    return np.divide(total, pairs, out=np.zeros(np.broadcast_shapes(total.shape, pairs.shape)), where=pairs > 0)


def _significant_split(distances: np.ndarray, *, min_size: int, alpha: float, permutations: int,
                       rng: np.random.Generator) -> tuple[int, float] | None:
    """(tau, p) of the segment's best split when its permutation test gives p <= alpha, else None."""
    n = distances.shape[0]
    allowed = slice(min_size - 1, n - min_size)  # index tau-1 for tau in [min_size, n - min_size]
    q = _q(distances.sum(axis=-1), np.triu(distances).sum(axis=-2))[allowed]
    tau, observed = int(np.argmax(q)) + min_size, float(q.max())
    # A shuffle that reproduces the observed order must count as reaching it, whatever the rounding.
    reach = observed - 1e-9 * abs(observed)
    orders = rng.permuted(np.tile(np.arange(n), (permutations, 1)), axis=1)
    row_sums, upper = distances.sum(axis=-1), np.triu(np.ones((n, n), dtype=bool), 1)
    chunk, exceedances = max(1, min(SHUFFLE_CHUNK, SHUFFLE_CHUNK_ELEMENTS // (n * n))), 0
    for first in range(0, permutations, chunk):
        order = orders[first:first + chunk]
        shuffled = distances[order[:, :, None], order[:, None, :]]
        shuffled_q = _q(row_sums[order], (shuffled * upper).sum(axis=-2))[:, allowed]
        exceedances += int((shuffled_q.max(axis=-1) >= reach).sum())
        if (1 + exceedances) / (permutations + 1) > alpha:  # the remaining shuffles can only raise p
            return None
    return tau, (1 + exceedances) / (permutations + 1)


def _large_enough(logs: np.ndarray, splits: list[int], threshold: float) -> list[int]:
    """The splits left when the weakest step below `threshold` (on the log scale) is dropped, one at a time."""
    splits = list(splits)
    while splits:
        steps = np.abs(np.diff(_segment_means(logs, splits)))
        weakest = int(np.argmin(steps))
        if steps[weakest] >= threshold:
            break
        del splits[weakest]
    return splits


def _segment_means(logs: np.ndarray, splits: list[int]) -> np.ndarray:
    edges = [0, *splits, logs.size]
    return np.array([logs[start:stop].mean() for start, stop in pairwise(edges)])


def _change_point(before: np.ndarray, after: np.ndarray, index: int, p: float) -> ChangePoint:
    """The step between two final segments: its ratio and Welch's interval of it, from their logs."""
    difference = float(after.mean() - before.mean())
    shares = [segment.var(ddof=1) / segment.size for segment in (before, after)]
    error = math.sqrt(sum(shares))
    if error == 0:  # both segments constant: the ratio is exact
        return ChangePoint(index, math.exp(difference), math.exp(difference), math.exp(difference), p)
    df = sum(shares) ** 2 / sum(share**2 / (segment.size - 1) for share, segment in zip(shares, (before, after)))
    spread = float(distributions.t.ppf(1 - (1 - INTERVAL_LEVEL) / 2, df)) * error
    return ChangePoint(index, math.exp(difference), math.exp(difference - spread), math.exp(difference + spread), p)
