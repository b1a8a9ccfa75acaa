"""The regression decision, with processes as the replicates.

Input: one row per case per process (bench.store.load_process), each tagged with
its side (base or head) and its process. A case's replicate is the log of its
median in one process; the model's replicate in a process is the mean of those
logs over the model's cases (a geometric mean), since a real change usually
moves a whole model a little where a single case could not show it.

Cases and models are judged by the moderated t of bench.analysis.stats and form
two families, each given half of alpha; within each, the one-sided p-values of
"slower" are Holm-adjusted (and those of "faster", apart): the chance of any
false "slower" stays below alpha. A case or model settled as unchanged at an earlier
look (its interval inside the band: `bench ab` stops timing it) keeps that
verdict and enters the adjustment with p = 1, which can only make the others'
adjusted p larger than in a design that had timed everything to the end.

Holes fail the gate too: a case that ran in the baseline but errored, ran out of
memory or is missing in every candidate process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.analysis import stats
from bench.store import CASE_KEY

MODEL_KEY = tuple(c for c in CASE_KEY if c not in ("mode", "batch_size", "replicas"))
SIDES = ("base", "head")


@dataclass
class Verdicts:
    cases: pd.DataFrame  # one row per case judged (CASE_KEY, base_ms, head_ms, ratio, ..., verdict)
    models: pd.DataFrame  # one row per model and device
    holes: list[str] = field(default_factory=list)  # cases that failed or vanished in head, each named
    noise: str = ""  # one line: the noise the verdicts allowed for, and what it lets the gate see

    @property
    def regressions(self) -> list[str]:
        slower = [_name(row) for _, row in self.models[self.models["verdict"] == stats.SLOWER].iterrows()]
        slower += [_name(row) for _, row in self.cases[self.cases["verdict"] == stats.SLOWER].iterrows()]
        return slower

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.holes)

    def undecided(self) -> tuple[set, set]:
        """(case keys, model keys) still inconclusive: where more processes are worth spending."""
        return ({_key(row, CASE_KEY) for _, row in self.cases.iterrows() if row["verdict"] == stats.INCONCLUSIVE},
                {_key(row, MODEL_KEY) for _, row in self.models.iterrows() if row["verdict"] == stats.INCONCLUSIVE})


def judge(values: pd.DataFrame, *, threshold: float, alpha: float, settled=frozenset()) -> Verdicts:
    """Verdicts for every case and model with at least one ok replicate a side.

    Args:
        values: rows of bench.store.load_process, with columns `side` (base, head) and `process`.
        threshold: the smallest change that counts (0.10: 10%).
        alpha: the chance of any false alarm over all the cases and models.
        settled: case and model keys decided unchanged at an earlier look.
    Returns:
        Verdicts.
    """
    key = list(CASE_KEY)
    ok = values[values["status"] == "ok"]
    holes = _holes(values, ok)
    logs = {side: ok[ok["side"] == side].pivot_table(index="process", columns=key, values="median_ms",
                                                      aggfunc="first").apply(np.log)
            for side in SIDES}
    common = [case for case in logs["base"].columns if case in logs["head"].columns]
    covariate = ok.groupby(key)["pass_log_var"].mean()
    cases = _judge_units(common, {side: logs[side][common] for side in SIDES} if common else None,
                         [covariate.get(case, math.nan) for case in common], key, threshold, alpha / 2, settled)
    models = _judge_models(logs, common, threshold, alpha / 2, settled)
    return Verdicts(cases, models, holes, _noise_line(cases, models, alpha))


def _holes(values: pd.DataFrame, ok: pd.DataFrame) -> list[str]:
    key = [c for c in CASE_KEY if c != "jit_compile"]  # a case that failed before compiling has none
    ran_in_base = {_key(row, key) for _, row in ok[ok["side"] == "base"].iterrows()}
    holes = []
    head = values[values["side"] == "head"]
    for case in sorted(ran_in_base, key=str):
        rows = head[np.logical_and.reduce([head[c] == v for c, v in zip(key, case)])] if not head.empty else head
        failed = rows[rows["status"] != "ok"]
        name = _name(dict(zip(key, case)))
        if rows.empty:
            holes.append(f"{name}: missing in head")
        elif not failed.empty:
            first = failed.iloc[0]
            message = first["message"] if isinstance(first["message"], str) else ""
            holes.append(f"{name}: {first['status']} in head ({len(failed)} of {len(rows)} processes)"
                         + (f": {message[:120]}" if message else ""))
    return holes


def _judge_models(logs, common, threshold, alpha, settled) -> pd.DataFrame:
    """The models' replicates: per process, the mean log over the model's cases timed in every process
    that timed any of them (`bench ab` keeps all of an undecided model's cases in its later processes)."""
    key = list(MODEL_KEY)
    groups: dict[tuple, list] = {}
    for case in common:
        groups.setdefault(tuple(dict(zip(CASE_KEY, case))[c] for c in key), []).append(case)
    means = {side: {} for side in SIDES}
    for model, members in groups.items():
        for side in SIDES:
            table = logs[side][members]
            complete = table.dropna(how="any")
            means[side][model] = complete.mean(axis=1) if not complete.empty else pd.Series(dtype=float)
    models = [m for m in groups if len(means["base"][m]) and len(means["head"][m])]
    frames = {side: pd.DataFrame({m: means[side][m] for m in models}) for side in SIDES} if models else None
    return _judge_units(models, frames, None, key, threshold, alpha, settled)


def _judge_units(units, frames, covariate, key, threshold, alpha, settled) -> pd.DataFrame:
    """One row per unit (case or model): the moderated t, Holm-adjusted over the units."""
    columns = [*key, "base_ms", "head_ms", "ratio", "low", "high", "p_holm", "detectable", "n_base", "n_head",
               "verdict", "needs"]
    if not units:
        return pd.DataFrame(columns=columns)
    pairs = [(frames["base"][u].dropna().to_numpy(), frames["head"][u].dropna().to_numpy()) for u in units]
    own = [stats.within_sides(base, head) for base, head in pairs]
    variances, dfs = np.array([v for v, _ in own]), np.array([d for _, d in own], dtype=float)
    usable = np.isfinite(covariate).all() if covariate is not None else False
    prior = stats.fit_prior(variances, dfs, np.log(covariate) if usable else None)
    results = []
    for index, (base, head) in enumerate(pairs):
        variance, df = stats.moderate(variances[index], dfs[index], prior, index)
        results.append(stats.compare_logs(base, head, variance, df) if np.isfinite(variance) and df > 0 else None)
    is_settled = [tuple(u) in settled for u in units]
    # Each direction is its own family of claims (the gate fails on "slower" only): Holm over each.
    adjusted = {direction: stats.holm([1.0 if done or result is None else getattr(result, direction)
                                       for done, result in zip(is_settled, results)])
                for direction in ("p_slower", "p_faster")}
    rows = []
    for index, (unit, (base, head), result, done) in enumerate(zip(units, pairs, results, is_settled)):
        p_holm = adjusted["p_slower" if result is None or result.ratio >= 1 else "p_faster"][index]
        row = dict(zip(key, unit), base_ms=math.exp(base.mean()), head_ms=math.exp(head.mean()),
                   n_base=len(base), n_head=len(head))
        if result is None:
            row.update(ratio=row["head_ms"] / row["base_ms"], verdict=stats.INCONCLUSIVE,
                       needs="2 processes a side")
        else:
            verdict = stats.UNCHANGED if done else stats.verdict(result.ratio, p_holm, result.low, result.high,
                                                                 threshold=threshold, alpha=alpha)
            row.update(ratio=result.ratio, low=result.low, high=result.high, p_holm=p_holm,
                       detectable=result.detectable(alpha / len(units)), verdict=verdict,
                       needs=_needs(result, verdict, len(base) + len(head), threshold, alpha / len(units)))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _needs(result: stats.Comparison, verdict: str, processes: int, threshold: float, alpha: float) -> str:
    """What an inconclusive unit would take to be decided, if its ratio and noise held: processes a side."""
    if verdict != stats.INCONCLUSIVE:
        return ""
    per_process = result.sigma * math.sqrt(processes / 4)  # one process's sd, from sigma with n/2 a side
    distance = abs(math.log(result.ratio))
    band = math.log(1 + threshold)
    if distance > band:  # beyond the threshold: enough processes to make it significant (one-sided)
        gap, level = distance, 1 - alpha
    else:  # inside: enough to fit the interval into the band
        gap, level = band - distance, 1 - (1 - stats.INTERVAL_LEVEL) / 2
    if gap <= 0:
        return "more processes than any budget"
    side = max(math.ceil(2 * (float(norm.ppf(level)) * per_process / gap) ** 2), processes // 2 + 1)
    return f"~{side} processes a side"


def _noise_line(cases: pd.DataFrame, models: pd.DataFrame, alpha: float) -> str:
    judged = cases.dropna(subset=["detectable"])
    if judged.empty:
        return "noise: not estimated (no case has processes on both sides to compare)"
    n_base, n_head = int(judged["n_base"].median()), int(judged["n_head"].median())
    line = (f"noise: with {n_base} against {n_head} processes a typical case must move by "
            f"x{judged['detectable'].median():.2f} to be flagged")
    judged_models = models.dropna(subset=["detectable"])
    if not judged_models.empty:
        line += f", a typical model by x{judged_models['detectable'].median():.2f}"
    return line + f" (alpha {alpha} over all cases and models, half to each family)"


def _key(row, key) -> tuple:
    return tuple(row[c] for c in key)


def _name(row) -> str:
    parts = [row["model"]]
    if "mode" in row and isinstance(row.get("mode"), str):
        parts += [row["mode"], f"b{int(row['batch_size'])}"]
    parts.append(row["device"])
    return " ".join(parts)
