"""`python -m bench compare`: did the candidate run get slower than the baseline?

    python -m bench compare BASELINE CANDIDATE     each a run CSV or a results directory (its newest run)
    python -m bench compare --by device RUN        GPU/CPU speedup within one run
    python -m bench compare --by backend RUN...    the same cases side by side across backends
    python -m bench compare --by host RUN...       ... across machines

Exit codes: 0 no regression, 1 at least one case slower, 2 bad input.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import pandas as pd

from bench import runs, stats
from bench.runs import CASE_KEY, RunFileError

LABEL = ["model", "mode", "batch_size", "device"]


def parse_threshold(text: str) -> float:
    """'10%' or '10' -> 0.10; a negative or non-numeric value is refused."""
    number = str(text).strip().removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threshold: {text!r} is not a percentage; give e.g. 10%") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"--threshold: {text!r} is negative or not finite; give e.g. 10%")
    return value / 100


def parse_run_count(text: str) -> int:
    if not str(text).isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--runs: {text!r} is not a positive integer")
    return int(text)


def parse_alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"--alpha: {text!r} is not a probability between 0 and 1; give e.g. 0.01")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option prints one line (no usage block) and exits 2."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m bench compare", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run CSVs or results directories")
    parser.add_argument("--by", choices=("device", "backend", "host"), default=None,
                        help="side-by-side views instead of baseline against candidate")
    parser.add_argument("--baseline-run", metavar="RUN_ID", help="pick this run in the BASELINE directory")
    parser.add_argument("--candidate-run", metavar="RUN_ID", help="pick this run in the CANDIDATE directory")
    parser.add_argument("--runs", type=parse_run_count, default=1, metavar="N", dest="runs_per_side",
                        help="pool the newest N runs of each directory (default: 1); repeated runs a side "
                             "add every run's passes to the replicates")
    parser.add_argument("--threshold", type=parse_threshold, default=0.10, metavar="PERCENT",
                        help="smallest change of the median that counts (default: 10%%)")
    parser.add_argument("--alpha", type=parse_alpha, default=0.01, metavar="P",
                        help="chance of any false alarm over all the cases (Holm-adjusted; default: 0.01)")
    parser.add_argument("--normalize", action="store_true",
                        help="divide each run's times by its own calibration workload's time")
    parser.add_argument("--format", choices=("table", "markdown", "csv"), default="table",
                        help="output format (default: table)")
    return parser


def compare_runs(baseline: runs.Run, candidate: runs.Run, *, threshold, alpha, normalize):
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


def _noise(baseline: runs.Run, candidate: runs.Run, common: pd.DataFrame, ratios, alpha):
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


def by_device(run: runs.Run) -> pd.DataFrame:
    """Each GPU's speedup over the CPU, per model, mode and batch size."""
    cases = run.cases
    if not cases["device"].str.startswith("gpu").any():
        raise RunFileError(f"{run.path}: no GPU rows: nothing to set against the CPU")
    key = [c for c in CASE_KEY if c != "device"]
    cpu = cases[cases["device"] == "cpu"][[*key, "median_ms"]].rename(columns={"median_ms": "cpu_ms"})
    gpu = cases[cases["device"] != "cpu"][[*key, "device", "median_ms"]].rename(columns={"median_ms": "gpu_ms"})
    table = gpu.merge(cpu, on=key, how="inner")
    if table.empty:
        raise RunFileError(f"{run.path}: no case ran on both the CPU and a GPU")
    table["speedup"] = table["cpu_ms"] / table["gpu_ms"]
    return table[["model", "mode", "batch_size", "device", "backend", "cpu_ms", "gpu_ms", "speedup"]]


def side_by_side(loaded: list[runs.Run], by: str) -> pd.DataFrame:
    """Median ms of the same cases across backends or hosts, one column each, and ratios to the first."""
    frame = pd.concat([run.cases for run in loaded], ignore_index=True)
    # Whether a backend compiles (JAX always, torch never by default) is part of what is compared.
    key = [c for c in CASE_KEY if c != by and not (by == "backend" and c == "jit_compile")]
    names = list(dict.fromkeys(frame[by]))
    if len(names) < 2:
        raise RunFileError(f"--by {by}: every run has {by} {names[0]!r}; give runs of at least two")
    table = frame.pivot_table(index=key, columns=by, values="median_ms", aggfunc="median")[names]
    table = table.dropna()
    if table.empty:
        raise RunFileError(f"--by {by}: no case in common between the runs")
    for name in names[1:]:
        table[f"{name}/{names[0]}"] = table[name] / table[names[0]]
    return table.reset_index()


def render(table: pd.DataFrame, fmt: str) -> str:
    table = table.copy()
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    for column in table.columns:
        if pd.api.types.is_float_dtype(table[column]):
            digits = 4 if column == "p_value" else 3
            table[column] = table[column].map(lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}")
    if fmt == "markdown":
        header = "| " + " | ".join(map(str, table.columns)) + " |"
        rule = "|" + "|".join("---" for _ in table.columns) + "|"
        body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
        return "\n".join([header, rule, *body])
    return table.fillna("").to_string(index=False)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage and the error
        return 2 if exit_.code else 0
    try:
        output, code, notes = _run(args)
    except RunFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    print(output)
    return code


def _run(args):
    notes = []
    if args.by == "device":
        if len(args.runs) != 1:
            raise RunFileError(f"--by device takes one run; got {len(args.runs)}")
        return render(by_device(runs.load(runs.resolve(args.runs[0]))), args.format), 0, notes
    if args.by in ("backend", "host"):
        loaded = [runs.load(runs.resolve(text)) for text in args.runs]
        return render(side_by_side(loaded, args.by), args.format), 0, notes
    if len(args.runs) != 2:
        raise RunFileError(f"compare takes BASELINE and CANDIDATE; got {len(args.runs)} runs "
                           "(use --by backend or --by host for more)")
    if args.runs_per_side > 1 and (args.baseline_run or args.candidate_run):
        raise RunFileError("--runs pools a directory's newest runs: it cannot be combined with a named run")
    if args.runs_per_side == 1:
        baseline = runs.load(runs.resolve(args.runs[0], args.baseline_run))
        candidate = runs.load(runs.resolve(args.runs[1], args.candidate_run))
    else:
        baseline = runs.load_pooled(runs.resolve_many(args.runs[0], args.runs_per_side))
        candidate = runs.load_pooled(runs.resolve_many(args.runs[1], args.runs_per_side))
    table, noise = compare_runs(baseline, candidate, threshold=args.threshold, alpha=args.alpha,
                                normalize=args.normalize)
    if baseline.samples is None or candidate.samples is None:
        absent = [r.path.name for r in (baseline, candidate) if r.samples is None]
        notes.append(f"note: no samples file for {', '.join(absent)}: verdicts use the summary columns "
                     "(Welch's t-test on mean, stddev and rounds) instead of the raw samples")
    if args.format != "csv":
        notes.append(f"baseline {baseline.run_id} | candidate {candidate.run_id} | threshold "
                     f"{args.threshold:.0%} | alpha {args.alpha}" + (" | normalized by calibration" if args.normalize else ""))
        notes.append(noise)
    slower = table[table["verdict"] == stats.SLOWER]
    output = render(table, args.format)
    if args.format != "csv":
        counts = table["verdict"].value_counts()
        output += "\n" + ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
        if not slower.empty:
            output += "\nslower: " + "; ".join(
                f"{r.model} {r.mode} b{r.batch_size} {r.device} x{r.ratio:.2f}" for r in slower.itertuples())
    return output, 1 if not slower.empty else 0, notes
