"""The regression decision: is the candidate run slower than the baseline, case by case?

Each case common to both runs gets its median ratio, a p-value, an interval and
a verdict (see bench.analysis.stats); the noise the verdicts allowed for is
estimated from the runs themselves, and the p-values are Holm-adjusted over the
cases so that one false alarm in a CI gate stays below alpha.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench import store
from bench.analysis import stats
from bench.store import CASE_KEY, RunFileError


def compare_runs(baseline: store.Run, candidate: store.Run, *, threshold, alpha, normalize):
    """One row per case of either run, with medians, ratios and a verdict; and the noise allowed for.

    Returns:
        (table, noise): noise is one line on the noise the verdicts allowed for.
    """
    if baseline.backends != candidate.backends:
        raise RunFileError(f"runs of different backends ({', '.join(baseline.backends)} against "
                           f"{', '.join(candidate.backends)}): compare them with --by backend")
    key = list(CASE_KEY)
    merged = baseline.cases.merge(candidate.cases, on=key, how="outer", suffixes=("_base", "_cand"),
                                  indicator=True)
    if not (merged["_merge"] == "both").any():
        raise RunFileError(f"no case in common between {baseline.path} and {candidate.path}")
    scale_base = baseline.calibration_ms() if normalize else 1.0
    scale_cand = candidate.calibration_ms() if normalize else 1.0
    common = merged[merged["_merge"] == "both"]
    within = {index: _compare_case(case, baseline, candidate, scale_base, scale_cand,
                                   threshold=threshold, alpha=alpha) for index, case in common.iterrows()}
    case_noise, noise = _noise(baseline, candidate, common, [result.ratio for result, _ in within.values()],
                               alpha / len(common))
    judged = {}
    for index, case in common.iterrows():
        result, method = within[index]
        spread = case_noise(case)
        if isinstance(spread, stats.ReplicateNoise):
            result, method = stats.with_replicate_noise(result, spread, threshold=threshold, alpha=alpha), "t on passes"
        else:
            result = stats.with_between_run_noise(result, spread, threshold=threshold, alpha=alpha)
        judged[index] = (result, method, spread)
    # One false alarm fails a CI gate: Holm's adjustment keeps its chance over all cases below alpha.
    adjusted = dict(zip(judged, stats.holm([result.p_value for result, _, _ in judged.values()])))
    rows = []
    for index, case in merged.iterrows():
        row = {column: case[column] for column in key}
        row.update(baseline_ms=case["median_ms_base"], candidate_ms=case["median_ms_cand"])
        if case["_merge"] != "both":
            row["verdict"] = "only in baseline" if case["_merge"] == "left_only" else "only in candidate"
            rows.append(row)
            continue
        result, method, spread = judged[index]
        row.update(ratio=case["median_ms_cand"] / case["median_ms_base"], p_value=result.p_value,
                   p_holm=adjusted[index], ratio_low=result.low, ratio_high=result.high,
                   detectable=_detectable(spread, threshold, alpha / len(common)),
                   verdict=stats.verdict(result.ratio, adjusted[index], result.low, result.high,
                                         threshold=threshold, alpha=alpha),
                   method=method)
        if normalize:
            row["normalized_ratio"] = result.ratio
        rows.append(row)
    table = pd.DataFrame(rows)
    slower = table["verdict"] == stats.SLOWER
    # Regressions last, worst first, so that they end the output.
    table = pd.concat([table[~slower], table[slower].sort_values("ratio", ascending=False)], ignore_index=True)
    return table, noise


def _detectable(spread, threshold, alpha):
    """The smallest ratio that could be flagged in this case on its own."""
    if spread is None:
        return math.nan
    if isinstance(spread, stats.ReplicateNoise):
        return max(1 + threshold, stats.detectable_change(spread.sigma, alpha, spread.df))
    return max(1 + threshold, stats.detectable_change(spread, alpha))


def _noise(baseline: store.Run, candidate: store.Run, common: pd.DataFrame, ratios, alpha):
    """(each case's noise, as a function of the case; the line that says so).

    A case's replicates are the medians of its passes, in every run of a side. Their
    spread measures how far the case's time wanders as the machine's speed does,
    and shrinks with their number. With one replicate a side (runs of one pass, no
    samples), the noise comes from the spread of the log ratios over the cases.
    """
    key = list(CASE_KEY)
    logs = {side: {case: np.log(group["median_ms"].to_numpy(dtype="float64"))
                   for case, group in run.replicates.groupby(key, sort=False)}
            for side, run in (("base", baseline), ("cand", candidate))}
    cases = [tuple(row) for row in common[key].itertuples(index=False)]
    pairs = [(logs["base"][case], logs["cand"][case]) for case in cases]
    if all(len(base) == 1 and len(cand) == 1 for base, cand in pairs):
        sigma = stats.between_run_sigma(ratios)
        if sigma is None:
            return (lambda case: None), (f"noise: not estimated (one pass a side and fewer than "
                                          f"{stats.MIN_CASES_FOR_NOISE} cases in common); verdicts rest on the "
                                          "rounds within each run")
        return (lambda case: sigma), (
            f"noise: {sigma:.1%} between the runs (spread of the log ratios over {len(ratios)} cases, one pass a "
            f"side); a single case must move by x{stats.detectable_change(sigma, alpha):.2f} to be flagged")
    prior = stats.shared_variance(pairs)
    noise = dict(zip(cases, (stats.replicate_noise(base, cand, prior) for base, cand in pairs)))
    units = [int(np.median([len(pair[side]) for pair in pairs])) for side in (0, 1)]
    line = (f"noise: a case's median wanders {math.sqrt(prior or 0):.1%} from one pass to the next (median "
            f"over {len(cases)} cases; the passes of every run of a side count)")
    if prior:
        sigma = math.sqrt(prior * (1 / units[0] + 1 / units[1]))
        change = stats.detectable_change(sigma, alpha, stats.PRIOR_DF + sum(units) - 2)
        line += (f"; with {units[0]} against {units[1]} passes a typical case must move by x{change:.2f} to be "
                 "flagged (more passes or runs shrink it by the square root of their number)")
    return (lambda case: noise[tuple(case[c] for c in key)]), line


def _compare_case(case, baseline, candidate, scale_base, scale_cand, *, threshold, alpha):
    key = {column: case[column] for column in CASE_KEY}
    if baseline.samples is not None and candidate.samples is not None:
        base = _samples_of(baseline.samples, key) / scale_base
        cand = _samples_of(candidate.samples, key) / scale_cand
        return stats.compare_samples(base, cand, threshold=threshold, alpha=alpha), "mann-whitney"
    summaries = []
    for suffix, scale in (("_base", scale_base), ("_cand", scale_cand)):
        summaries.append({"median_ms": case["median_ms" + suffix] / scale, "mean_ms": case["mean_ms" + suffix] / scale,
                          "stddev_ms": case["stddev_ms" + suffix] / scale, "rounds": case["rounds" + suffix]})
    return stats.compare_summaries(*summaries, threshold=threshold, alpha=alpha), "welch (summary)"


def _samples_of(samples: pd.DataFrame, key: dict) -> np.ndarray:
    mask = np.logical_and.reduce([samples[column] == value for column, value in key.items()])
    return samples.loc[mask, "seconds"].to_numpy() * 1e3
