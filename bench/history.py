"""`python -m bench history STORE...`: every run of one or more stores as series over commits, their change points.

One series per machine and case (bench.analysis.series), and one per model (the
geometric mean of its cases against their usual values). Each series is searched for
change points by E-divisive means with a permutation test (bench.analysis.changepoints)
and a minimum magnitude. Every change point is printed (machine, model/case, the last
good and first bad commit, the ratio with its 99% interval, p) and written to
changepoints.csv; --out also writes the static dashboard. Exit 1 when a regression
lies in the newest --recent points of its series, so that a nightly job can alert.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench import store
from bench.output.tables import render
from bench.parsers import OptionError

CHANGE_COLUMNS = ("machine", "level", "model", "case", "series", "position", "last_good_commit", "first_bad_commit",
                  "last_good_run", "first_bad_run", "ratio", "low", "high", "p", "direction", "recent")
SHOWN = ("machine", "model", "case", "last_good_commit", "first_bad_commit", "ratio", "low", "high", "p", "direction",
         "recent")


def add_arguments(parser) -> None:
    """`python -m bench history`'s options (bench.cli)."""
    from bench.parsers import parse_alpha, parse_threshold, positive_integer, typed

    parser.description = ("STORE...: results directories or store URLs (s3://bucket/prefix, gs://, file://). "
                          "Builds one series per machine and case (and per model), finds change points, prints "
                          "them; exit 1 when a regression lies in the newest --recent points of its series.")
    parser.add_argument("stores", nargs="+", metavar="STORE", help="results directories or store URLs")
    parser.add_argument("--machine", action="append", default=None, metavar="NAME",
                        help="only this machine's runs (repeatable; default: every machine)")
    parser.add_argument("--since", type=typed(parse_since), default=None, metavar="DATE",
                        help="only runs from this UTC date on, e.g. 2026-11-01 (default: all)")
    parser.add_argument("--recent", type=typed(positive_integer("--recent", "5")), default=5, metavar="N",
                        help="a regression among a series' newest N points (commits; runs with --per run) fails the "
                             "command (default: 5)")
    parser.add_argument("--min-change", type=typed(parse_threshold), default=0.05, metavar="PERCENT",
                        help="the smallest change that counts as a change point (default: 5%%)")
    parser.add_argument("--alpha", type=typed(parse_alpha), default=0.01, metavar="P",
                        help="the permutation test's level for each split (default: 0.01)")
    parser.add_argument("--per", choices=("commit", "run"), default="commit",
                        help="a series' point: each commit (the geometric mean of its runs) or each run "
                             "(default: commit)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write the dashboard (index.html, a page per model), changepoints.csv and points.csv "
                             "(every series' values) here")
    parser.add_argument("--commit-url", default="", metavar="TEMPLATE",
                        help="the dashboard's link of a commit, e.g. https://github.com/o/r/commit/{commit}")
    parser.set_defaults(handler=command)


def parse_since(text: str) -> pd.Timestamp:
    """'2026-11-01' (or any ISO 8601 time) as a UTC time."""
    try:
        when = pd.Timestamp(text)
        if pd.isna(when):
            raise ValueError(text)
    except ValueError:
        raise OptionError(f"--since: {text!r} is not a date; give e.g. 2026-11-01") from None
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def command(args) -> int:
    if args.commit_url and "{commit}" not in args.commit_url:
        raise OptionError(f"--commit-url: {args.commit_url!r} has no {{commit}} to fill in; give e.g. "
                          "https://github.com/owner/repo/commit/{commit}")
    rows = load_rows(args.stores, machines=args.machine, since=args.since)
    points, changes = analyse(rows, min_change=args.min_change, alpha=args.alpha, recent=args.recent, per=args.per)
    print(f"history: {rows['run_id'].nunique()} runs, {rows['machine'].nunique()} machine(s), "
          f"{points['series'].nunique()} series, a point per {args.per}; change points of at least {args.min_change:.0%} "
          f"(E-divisive means, permutation p <= {args.alpha}); recent = a series' newest {args.recent} {args.per}s")
    for line in change_lines(changes):
        print(line)
    if args.out:
        from bench.output.dashboard import write_dashboard

        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise OptionError(f"--out: {args.out!r} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        (out / "changepoints.csv").write_text(render(changes, "csv") + "\n")
        (out / "points.csv").write_text(render(points, "csv") + "\n")
        print(f"dashboard: {write_dashboard(points, changes, out, commit_url=args.commit_url)}")
    recent = changes[changes["recent"] & (changes["direction"] == "slower")]
    return 1 if not recent.empty else 0


def load_rows(stores: list[str], *, machines=None, since=None) -> pd.DataFrame:
    """Every row of every run of the stores (each run once, whichever stores hold it), filtered."""
    frames, seen = [], set()
    for text in stores:
        for path in store.all_runs(text):
            rows = store.read_rows(path)
            _check_values(path, rows)
            run_id = str(rows["run_id"].iloc[0])
            if run_id not in seen:
                seen.add(run_id)
                frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    if machines:
        unknown = sorted(set(machines) - set(rows["machine"]))
        if unknown:
            raise store.RunFileError(f"--machine: no run of {unknown[0]!r} in the stores; they hold "
                                     f"{', '.join(sorted(rows['machine'].unique()))}")
        rows = rows[rows["machine"].isin(machines)]
    if since is not None:
        rows = rows[pd.to_datetime(rows["timestamp_utc"], utc=True, format="ISO8601", errors="coerce") >= since]
        if rows.empty:
            raise store.RunFileError(f"--since: no run from {since:%Y-%m-%d} on in the stores")
    return rows


def _check_values(path, rows: pd.DataFrame) -> None:
    """A run whose ok rows lack a positive median cannot be a point of a series: one line naming it."""
    ok = rows[rows["status"] == "ok"]
    medians = pd.to_numeric(ok["median_ms"], errors="coerce")
    bad = ~(medians > 0)
    if bad.any():
        row = ok[bad].iloc[0]
        raise store.RunFileError(f"{path}: {row['model']} {row['mode']} b{row['batch_size']} has median_ms "
                                 f"{row['median_ms']!r}; expected a positive number")
    rows.loc[ok.index, "median_ms"] = medians


def analyse(rows: pd.DataFrame, *, min_change: float, alpha: float, recent: int, per: str = "commit",
            seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The series' points and their change points (CHANGE_COLUMNS)."""
    from bench.analysis.changepoints import find_change_points
    from bench.analysis.series import points as series_points

    points = series_points(rows, per=per)
    found = []
    for _, series in points.groupby("series", sort=False):
        series = series.sort_values("position")
        for change in find_change_points(series["value"].to_numpy(), min_change=min_change, alpha=alpha, seed=seed):
            before, after = series.iloc[change.index - 1], series.iloc[change.index]
            found.append({**{c: after[c] for c in ("machine", "level", "model", "case", "series")},
                          "position": change.index, "last_good_commit": before["git_commit"],
                          "first_bad_commit": after["git_commit"], "last_good_run": before["run_id"],
                          "first_bad_run": after["run_id"], "ratio": change.ratio, "low": change.low,
                          "high": change.high, "p": change.p,
                          "direction": "slower" if change.ratio > 1 else "faster",
                          "recent": change.index >= len(series) - recent})
    changes = _attributed(pd.DataFrame(found, columns=list(CHANGE_COLUMNS)), points)
    changes = changes.sort_values(["recent", "level", "machine", "model", "position"],
                                  ascending=[False, False, True, True, False], kind="stable")
    return points, changes.reset_index(drop=True)


def _attributed(changes: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Keeps, of the relative series' change points at one run, the largest only.

    A model that slows by 10% moves its run's other models' relative series the other way
    (they are measured against it too); the change is the model's that moved most.
    Change points of the other levels are all kept.
    """
    relative = changes["level"] == "relative"
    if not relative.any():
        return changes
    settings = points.drop_duplicates("series").set_index("series")[["backend", "device", "precision"]]
    keyed = changes[relative].join(settings, on="series")
    size = np.log(keyed["ratio"]).abs()
    at_run = [keyed[c] for c in ("machine", "backend", "device", "precision", "first_bad_run")]
    largest = size == size.groupby(at_run).transform("max")
    return changes.drop(keyed.index[~largest])


def change_lines(changes: pd.DataFrame) -> list[str]:
    if changes.empty:
        return ["no change point"]
    shown = changes[list(SHOWN)].assign(
        case=changes["case"].where(changes["case"] != "", "(model)"),
        last_good_commit=changes["last_good_commit"].str[:12], first_bad_commit=changes["first_bad_commit"].str[:12])
    lines = [render(shown, "table", digits={"ratio": 3, "low": 3, "high": 3, "p": 4})]
    for _, change in changes[changes["recent"] & (changes["direction"] == "slower")].iterrows():
        name = change["model"] + (f" {change['case']}" if change["case"] else "")
        lines.append(f"REGRESSION {change['machine']}: {name} x{change['ratio']:.3f} from "
                     f"{change['first_bad_commit'][:12] or change['first_bad_run']}")
    return lines
