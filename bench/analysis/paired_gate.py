"""The regression decision of the paired gate: worker pairs as the replicates, pairs of blocks inside them.

Input: bench.paired's blocks, one row per timed block: its worker pair, round, case,
side (base, head) and median call. Inside a round a case's two blocks are timed one
right after the other, in a random order, so the machine's wander over seconds to
minutes falls on both alike: a round's log-ratio, log(head) - log(base), is free of
it. A case's value in a worker pair is the mean of its rounds' log-ratios there.

Anything fixed for the life of a worker (memory layout, thread placement) is shared
by all of its rounds, so rounds are not independent replicates: the worker pairs
are. A case is judged by a moderated t (bench.analysis.stats, limma's empirical
Bayes) on its worker pairs' values: their variance, shrunk towards a prior fitted
over all the cases, proportional to the variance the case's pair values would have
from its rounds alone (known with many df): one common factor is fitted, which is 1
when worker pairs add nothing to the rounds' noise and larger when they do. A
model's value in a worker pair is the mean of its cases', weighted by their
precision (a weighted geometric mean of ratios: a case whose rounds are noisier
counts less); the whole matrix's, of all. Seven models' 2 or 3 df each cannot fit a prior of their
own (its df came out near 1, so a model's t had 4 df), so models and the matrix borrow the cases' (factor
and df): a worker pair adds to a model's value in proportion to what its rounds predict, as it does to a
case's, or by the models' own pooled factor where that is larger. The families, Holm's adjustment, the
threshold band and the verdicts are those of `compare` (bench.analysis.gate):
false alarms at most alpha over everything judged, the ratio shown is the ratio
tested, a case that fails or vanishes in head fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.analysis import stats
from bench.analysis.gate import ALL_MODELS, Verdicts

CASE_COLUMNS = ("model", "mode", "batch_size", "device")
MODEL_COLUMNS = ("model", "device")
# The prior's weight, at most: limma takes d0 as exact, but 28 cases of 3 df each cannot tell a prior that
# fits every case from one that misses the cases a worker pair moves more than the rest; uncapped, such
# cases raised false alarms in 1.5% of simulated same-code gates; with 0.05-s blocks (more rounds, so the
# pairs' own offsets weigh more) and models borrowing, capped at 8 in 0.8%, at 6 in 0.5%
# (docs/measurements-gate.md, "Models borrow the cases' prior").
PRIOR_DF_CAP = 6.0
COLUMNS = ["base_ms", "head_ms", "ratio", "low", "high", "p_holm", "detectable", "pairs", "rounds", "verdict", "needs"]


def case_columns(case_id: str) -> dict:
    """A single-device case's id (bench.plan.Case.id: MODEL-MODE-DEVICE-bN) as its columns."""
    model, mode, device, batch = case_id.rsplit("-", 3)
    return {"model": model, "mode": mode, "batch_size": int(batch[1:]), "device": device}


def _columns_of(case_ids: pd.Series) -> pd.DataFrame:
    unique = case_ids.unique()
    return pd.DataFrame([{"case": case, **case_columns(case)} for case in unique],
                        columns=["case", *CASE_COLUMNS])


def pair_values(blocks: pd.DataFrame) -> pd.DataFrame:
    """Per case and worker pair: the mean log-ratio of its block pairs (a round's visits, over its rounds),
    their variance and count ("rounds"), and each side's mean log. Blocks that built their model are left out
    (building is not what is timed)."""
    timed = blocks[blocks["built_s"] == 0].assign(log=lambda f: np.log(f["median_ms"]))
    if "visit" not in timed.columns:  # blocks recorded before cheap cases were visited more than once a round
        timed = timed.assign(visit=0)
    wide = timed.set_index(["case", "pair", "round", "visit", "side"])["log"].unstack("side").dropna()
    if wide.empty:
        return pd.DataFrame(columns=["case", "pair", "mean", "var", "rounds", "base", "head"])
    wide = wide.assign(ratio=wide["head"] - wide["base"])
    grouped = wide.groupby(["case", "pair"])
    frame = pd.DataFrame({"mean": grouped["ratio"].mean(), "var": grouped["ratio"].var(ddof=1),
                          "rounds": grouped["ratio"].size(), "base": grouped["base"].mean(),
                          "head": grouped["head"].mean()}).reset_index()
    return frame.assign(expected=frame["var"] / frame["rounds"])  # the mean's variance from its rounds alone


def judge(blocks: pd.DataFrame, *, threshold: float, alpha: float, settled=frozenset(),
          holes: list[str] | None = None) -> Verdicts:
    """Verdicts for every case timed in at least one pair, each model and the whole matrix.

    `settled`: case ids and (model, device) keys decided unchanged at an earlier look; they keep that
    verdict and enter Holm's adjustment with p = 1.
    """
    values = pair_values(blocks)
    values = values.merge(_columns_of(values["case"]), on="case")
    cases, factor = _judge_units(values, ["case"], threshold, alpha / 4, settled)
    model_values = _unit_means(values, list(MODEL_COLUMNS))
    models, _ = _judge_units(model_values, list(MODEL_COLUMNS), threshold, alpha / 2, settled, borrowed=factor)
    matrix, _ = _judge_units(_unit_means(values.assign(model=ALL_MODELS), list(MODEL_COLUMNS)),
                             list(MODEL_COLUMNS), threshold, alpha / 4, set(), borrowed=factor)
    cases = cases.merge(_columns_of(cases["case"]), on="case", how="left")[[*CASE_COLUMNS, *COLUMNS, "case"]]
    models = pd.concat([models, matrix], ignore_index=True)[[*MODEL_COLUMNS, *COLUMNS]]
    return Verdicts(cases, models, list(holes or []), _noise_line(cases, models, alpha))


def _unit_means(values: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """A model's (or the matrix's) values per worker pair, in the pairs that timed all of its cases: the
    weighted mean of its cases' values, each case weighted by the inverse of its rounds' variance (pooled
    over the pairs; the same weights in every pair), so that a case whose rounds are three times as noisy
    does not swamp the others; and that mean's variance from the rounds alone."""
    pooled = values.groupby("case")["var"].mean()
    weights = 1 / pooled.where(pooled > 0)
    weights = weights.fillna(weights.mean() if weights.notna().any() else 1.0)
    frame = values.assign(weight=values["case"].map(weights))
    frame = frame.assign(weighted=frame["weight"] * frame["mean"], base_w=frame["weight"] * frame["base"],
                         head_w=frame["weight"] * frame["head"], spread=frame["weight"] ** 2 * frame["expected"])
    cases_of = frame.groupby(key)["case"].nunique()
    grouped = frame.groupby([*key, "pair"])
    total = grouped["weight"].sum()
    units = pd.DataFrame({"mean": grouped["weighted"].sum() / total, "count": grouped["case"].nunique(),
                          "expected": grouped["spread"].sum() / total**2, "rounds": grouped["rounds"].min(),
                          "base": grouped["base_w"].sum() / total, "head": grouped["head_w"].sum() / total})
    units = units.reset_index()
    complete = units["count"].to_numpy() == cases_of.reindex(pd.MultiIndex.from_frame(units[key])
                                                             if len(key) > 1 else units[key[0]]).to_numpy()
    return units[complete]


def _judge_units(values: pd.DataFrame, key: list[str], threshold: float, alpha: float, settled,
                 borrowed: tuple[float, float] | None = None) -> tuple[pd.DataFrame, tuple[float, float] | None]:
    """The units' verdicts, and their prior as (factor over the rounds' variance, df) for units of a coarser
    level to borrow (None where it is not one factor). With `borrowed`, the units are moderated towards
    it instead of a prior fitted over themselves."""
    if values.empty:
        return pd.DataFrame(columns=[*key, *COLUMNS]), None
    units = values.groupby(key, sort=True).agg(
        mean=("mean", "mean"), own=("mean", "var"), pairs=("mean", "size"), expected=("expected", "mean"),
        base=("base", "mean"), head=("head", "mean"), rounds=("rounds", "sum"))
    own, dfs = units["own"].to_numpy(), units["pairs"].to_numpy(float) - 1
    # The variance a unit's pair values would have from its rounds alone: the trend's covariate.
    expected = units["expected"].to_numpy()
    usable = np.isfinite(expected).all() and (expected > 0).all()
    # The pair values' variance is the rounds' share (known, many df) plus what a worker pair adds: a
    # prior proportional to the rounds' share (one factor, fitted over the units or borrowed) moderates each.
    if borrowed is not None and usable:
        prior = _borrowed_prior(borrowed, own, dfs, expected)
    else:
        prior = stats.fit_prior(own, dfs, offset=np.log(expected) if usable else None)
    if prior is not None and prior.df > PRIOR_DF_CAP:
        prior = stats.Prior(prior.variance, PRIOR_DF_CAP, prior.pooled_df)
    lendable = (float(prior.variance[0] / expected[0]), prior.df) if prior is not None and usable else None
    results = []
    for index, (mean, pairs) in enumerate(zip(units["mean"], units["pairs"])):
        variance, df = stats.moderate(own[index], dfs[index], prior, index)
        results.append(stats.Comparison.of_mean(mean, variance / pairs, df)
                       if np.isfinite(variance) and df > 0 else None)
    names = [name if isinstance(name, tuple) else (name,) for name in units.index]
    is_settled = [(n[0] if len(n) == 1 else n) in settled for n in names]
    adjusted = {d: stats.holm([1.0 if done or r is None else getattr(r, d) for done, r in zip(is_settled, results)])
                for d in ("p_slower", "p_faster")}
    rows = []
    for index, (unit, result, done) in enumerate(zip(units.itertuples(), results, is_settled)):
        row = dict(zip(key, names[index]), base_ms=math.exp(unit.base), head_ms=math.exp(unit.head),
                   pairs=unit.pairs, rounds=int(unit.rounds))
        if result is None:
            row.update(ratio=math.exp(unit.mean), verdict=stats.INCONCLUSIVE, needs="2 worker pairs")
        else:
            p_holm = adjusted["p_slower" if result.ratio >= 1 else "p_faster"][index]
            verdict = stats.UNCHANGED if done else stats.verdict(result.ratio, p_holm, result.low, result.high,
                                                                 threshold=threshold, alpha=alpha)
            row.update(ratio=result.ratio, low=result.low, high=result.high, p_holm=p_holm,
                       detectable=result.detectable(alpha / len(units)), verdict=verdict,
                       needs=_needs(result, verdict, unit.pairs, threshold, alpha / len(units)))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*key, *COLUMNS]), lendable


def _borrowed_prior(borrowed: tuple[float, float], own: np.ndarray, dfs: np.ndarray,
                    expected: np.ndarray) -> stats.Prior:
    """A coarser level's prior from a finer one's: each unit's variance is `factor` times what its rounds
    predict, with the finer level's df. Where the units' own variances, pooled, exceed that factor (what
    a worker pair does to a model's cases together, beyond each alone), the pooled factor is used."""
    factor, df = borrowed
    usable = (dfs > 0) & np.isfinite(own)
    if usable.any():
        factor = max(factor, float((dfs[usable] * own[usable] / expected[usable]).sum() / dfs[usable].sum()))
    return stats.Prior(factor * expected, df, math.inf)


def _needs(result: stats.Comparison, verdict: str, pairs: int, threshold: float, alpha: float) -> str:
    """What an inconclusive unit would take to be decided, if its ratio and noise held: worker pairs."""
    if verdict != stats.INCONCLUSIVE:
        return ""
    per_pair = result.sigma * math.sqrt(pairs)
    distance, band = abs(math.log(result.ratio)), math.log(1 + threshold)
    gap, level = (distance, 1 - alpha) if distance > band else (band - distance, 1 - (1 - stats.INTERVAL_LEVEL) / 2)
    if gap <= 0:
        return "more worker pairs than any budget"
    return f"~{max(math.ceil((float(norm.ppf(level)) * per_pair / gap) ** 2), pairs + 1)} worker pairs"


def _noise_line(cases: pd.DataFrame, models: pd.DataFrame, alpha: float) -> str:
    judged = cases.dropna(subset=["detectable"])
    if judged.empty:
        return "noise: not estimated (no case was timed in 2 worker pairs)"
    line = (f"noise: with {int(judged['pairs'].median())} worker pairs a typical case must move by "
            f"x{judged['detectable'].median():.3f} to be flagged")
    judged_models = models[models["model"] != ALL_MODELS].dropna(subset=["detectable"])
    if not judged_models.empty:
        line += f", a typical model by x{judged_models['detectable'].median():.3f}"
    return line + f" (alpha {alpha}: half to the models, a quarter each to the cases and the whole matrix)"
