"""The regression decision, with processes as the replicates.

Input: one row per case per process (bench.store.load_process), each tagged with
its side (base or head) and its process. A case's replicate is the log of its
median in one process, less the process's level (see _centred: whole processes
run faster or slower together); the model's replicate in a process is the mean of
those over the model's cases (a geometric mean), since a real change usually
moves a whole model a little where a single case could not show it; and the
whole matrix's, uncentred, catches a change of everything.

Cases, models and the matrix are judged by the moderated t of
bench.analysis.stats and form three families (alpha: a quarter, a half, a
quarter); within each, the one-sided p-values of "slower" are Holm-adjusted (and
those of "faster", apart): the chance of any false "slower" stays below alpha.

Holes fail the gate too: a case that ran in the baseline but errored, ran out of
memory or is missing in every candidate process.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.analysis import stats
from bench.store import CASE_KEY

MODEL_KEY = tuple(c for c in CASE_KEY if c not in ("mode", "batch_size", "replicas", "load"))
SIDES = ("base", "head")
ALL_MODELS = "(all models)"  # the model column of the whole matrix's row


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


def judge(values: pd.DataFrame, *, threshold: float, alpha: float) -> Verdicts:
    """Verdicts for every case and model with at least one ok replicate a side, and for the whole matrix.

    Args:
        values: rows of bench.store.load_process, with columns `side` (base, head) and `process`.
        threshold: the smallest change that counts (0.10: 10%).
        alpha: the chance of any false "slower" over everything judged: half to the models, a quarter
            to the cases, a quarter to the whole matrix.
    Returns:
        Verdicts.
    """
    key = list(CASE_KEY)
    ok = values[values["status"] == "ok"]
    holes = _holes(values, ok)
    raw = ok.assign(log=np.log(ok["median_ms"])).pivot_table(index=["side", "process"], columns=key, values="log",
                                                             aggfunc="first")
    sides = set(raw.index.get_level_values("side"))
    both = ({"base", "head"} <= sides and raw.xs("base", level="side").notna().any()
            & raw.xs("head", level="side").notna().any())
    common = list(raw.columns[both]) if {"base", "head"} <= sides else []
    if not common:
        empty = _judge_units([], None, None, key, threshold, alpha)
        return Verdicts(empty, _judge_units([], None, None, list(MODEL_KEY), threshold, alpha), holes,
                        _noise_line(empty, empty, alpha))
    raw = raw[common]
    centred, groups = _centred(raw)
    covariate = ok.groupby(key)["pass_log_var"].mean()
    cases = _judge_units(common, _split(centred), [covariate.get(case, math.nan) for case in common], key,
                         threshold, alpha / 4, raw=_split(raw))
    model_means = {name: _by_model(frame, groups) for name, frame in (("centred", centred), ("raw", raw))}
    models = _judge_units(list(groups), _split(model_means["centred"]), None, list(MODEL_KEY), threshold,
                          alpha / 2, raw=_split(model_means["raw"]))
    matrix = _judge_matrix(raw, threshold, alpha / 4)
    return Verdicts(cases, pd.concat([models, matrix], ignore_index=True), holes, _noise_line(cases, models, alpha))


def _centred(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Each process's logs less its level: how much faster or slower the whole process ran.

    Whole processes wander together (docs/measurements.md: 3 to 13% from process to process), which
    is noise to every case and model. A process's level, for the cases of model M, is the median over
    the process's other models' cases of their deviation from their mean over all processes (both
    sides): leaving M out, M's own change cannot leak into its level. A change of the whole matrix
    is then invisible here; _judge_matrix tests it on the raw logs.

    Returns:
        (centred logs, {model key: the positions of its case columns}).
    """
    groups: dict[tuple, list] = {}
    for position, case in enumerate(raw.columns):
        groups.setdefault(tuple(dict(zip(CASE_KEY, case))[c] for c in MODEL_KEY), []).append(position)
    logs = raw.to_numpy()
    centred = logs.copy()
    with warnings.catch_warnings():  # a process that timed none of the other models' cases: no level
        warnings.simplefilter("ignore", RuntimeWarning)
        deviations = logs - np.nanmean(logs, axis=0)
        for members in groups.values():
            others = np.setdiff1d(np.arange(logs.shape[1]), members)
            if others.size:
                centred[:, members] = logs[:, members] - np.nanmedian(deviations[:, others], axis=1)[:, None]
    return pd.DataFrame(centred, index=raw.index, columns=raw.columns), groups


def _by_model(logs: pd.DataFrame, groups: dict) -> pd.DataFrame:
    """Each model's mean log per process, where the process timed all of its cases (`groups`: column positions)."""
    values = logs.to_numpy()
    means = np.column_stack([values[:, members].mean(axis=1) for members in groups.values()])
    return pd.DataFrame(means, index=logs.index, columns=pd.MultiIndex.from_tuples(list(groups), names=list(MODEL_KEY)))


def _judge_matrix(raw: pd.DataFrame, threshold, alpha) -> pd.DataFrame:
    """The whole matrix's geometric mean per process (the processes that timed every case), uncentred."""
    complete = raw.dropna(how="any")
    first = dict(zip(CASE_KEY, raw.columns[0]))
    unit = tuple(ALL_MODELS if c == "model" else first[c] for c in MODEL_KEY)
    frame = pd.DataFrame({unit: complete.mean(axis=1)})
    frame.columns = pd.MultiIndex.from_tuples([unit], names=list(MODEL_KEY))
    units = [unit] if set(complete.index.get_level_values("side")) >= {"base", "head"} else []
    return _judge_units(units, _split(frame) if units else None, None, list(MODEL_KEY), threshold, alpha)


def _split(frame: pd.DataFrame) -> dict:
    """{side: its rows, indexed by process}."""
    return {side: frame.xs(side, level="side") if side in frame.index.get_level_values("side") else frame.iloc[0:0]
            for side in SIDES}


def _holes(values: pd.DataFrame, ok: pd.DataFrame) -> list[str]:
    key = [c for c in CASE_KEY if c != "jit_compile"]  # a case that failed before compiling has none
    ran = ok.loc[ok["side"] == "base", key].drop_duplicates()
    head = values[values["side"] == "head"]
    head_cases = set(head[key].itertuples(index=False, name=None))
    if (head["status"] == "ok").all() and set(ran.itertuples(index=False, name=None)) <= head_cases:
        return []  # the usual case, without the summary below
    summary = head.assign(failed=head["status"] != "ok").groupby(key, dropna=False).agg(
        processes=("failed", "size"), failed=("failed", "sum"), status=("status", _first_failure),
        message=("message", "first"))
    joined = ran.merge(summary.reset_index(), on=key, how="left").sort_values(key)
    holes = []
    for _, row in joined.iterrows():
        name = _name(row)
        if pd.isna(row["processes"]):
            holes.append(f"{name}: missing in head")
        elif row["failed"]:
            failed = head[np.logical_and.reduce([head[c] == row[c] for c in key]) & (head["status"] != "ok")]
            message = failed["message"].iloc[0] if isinstance(failed["message"].iloc[0], str) else ""
            holes.append(f"{name}: {row['status']} in head ({int(row['failed'])} of {int(row['processes'])} "
                         "processes)" + (f": {message[:120]}" if message else ""))
    return holes


def _first_failure(statuses: pd.Series) -> str:
    failed = statuses[statuses != "ok"]
    return failed.iloc[0] if not failed.empty else "ok"


def _judge_units(units, frames, covariate, key, threshold, alpha, raw=None) -> pd.DataFrame:
    """One row per unit (case or model): the moderated t on `frames` (logs), Holm-adjusted over the units;
    base_ms and head_ms are the geometric means of `raw` (the uncentred logs; default: `frames`)."""
    columns = [*key, "base_ms", "head_ms", "ratio", "low", "high", "p_holm", "detectable", "n_base", "n_head",
               "verdict", "needs"]
    if not units:
        return pd.DataFrame(columns=columns)
    pairs = _columns_by_side(frames, units)
    own = [stats.within_sides(base, head) for base, head in pairs]
    variances, dfs = np.array([v for v, _ in own]), np.array([d for _, d in own], dtype=float)
    usable = np.isfinite(covariate).all() if covariate is not None else False
    prior = stats.fit_prior(variances, dfs, np.log(covariate) if usable else None)
    results = []
    for index, (base, head) in enumerate(pairs):
        variance, df = stats.moderate(variances[index], dfs[index], prior, index)
        results.append(stats.compare_logs(base, head, variance, df) if np.isfinite(variance) and df > 0 else None)
    # Each direction is its own family of claims (the gate fails on "slower" only): Holm over each.
    adjusted = {direction: stats.holm([1.0 if result is None else getattr(result, direction) for result in results])
                for direction in ("p_slower", "p_faster")}
    rows = []
    shown_pairs = pairs if raw is None else _columns_by_side(raw, units)
    for index, (unit, (base, head), result) in enumerate(zip(units, pairs, results)):
        p_holm = adjusted["p_slower" if result is None or result.ratio >= 1 else "p_faster"][index]
        shown = shown_pairs[index]
        row = dict(zip(key, unit), base_ms=math.exp(shown[0].mean()), head_ms=math.exp(shown[1].mean()),
                   n_base=len(base), n_head=len(head))
        if result is None:
            row.update(ratio=row["head_ms"] / row["base_ms"], verdict=stats.INCONCLUSIVE,
                       needs="2 processes a side")
        else:
            verdict = stats.verdict(result.ratio, p_holm, result.low, result.high, threshold=threshold, alpha=alpha)
            row.update(ratio=result.ratio, low=result.low, high=result.high, p_holm=p_holm,
                       detectable=result.detectable(alpha / len(units)), verdict=verdict,
                       needs=_needs(result, verdict, len(base) + len(head), threshold, alpha / len(units)))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _columns_by_side(frames: dict, units: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """(base values, head values) of each unit's column, without the processes that lack it."""
    arrays = {}
    for side in SIDES:
        position = {column: index for index, column in enumerate(frames[side].columns)}
        values = frames[side].to_numpy()
        arrays[side] = [values[:, position[unit]] for unit in units]
    return [tuple(column[~np.isnan(column)] for column in (base, head))
            for base, head in zip(arrays["base"], arrays["head"])]


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
    return line + (f" (alpha {alpha}: half to the models, a quarter each to the cases and the whole matrix; "
                   "each process's level removed)")


def _name(row) -> str:
    parts = [row["model"]]
    if "mode" in row and isinstance(row.get("mode"), str):
        parts += [row["mode"], f"b{int(row['batch_size'])}"]
    parts.append(row["device"])
    if isinstance(row.get("load"), str) and row["load"]:  # a server row: its load level
        parts.append(row["load"])
    return " ".join(parts)
