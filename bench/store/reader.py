"""Reading runs back: finding a store's runs, loading and checking a run and its samples.

A store is a directory or a URL (bench.store.location); a remote store's runs are
copied into a local cache first (bench.store.remote), so that a run is always read
from a local Path. A store stands for its newest run (by the time in its run id,
then the `-N` suffix of runs in the same second) unless a run id is named. Runs
killed before their end come back from their journals (bench.store.recovery).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.calibration import COLUMNS as CALIBRATION_COLUMNS
from bench.results import SERVER_STATUSES
from bench.store.location import LocalFolder, is_url, one_line, parse_location
from bench.store.recovery import recover_runs
from bench.store.schema import (
    CASE_KEY,
    KEY_COLUMNS,
    NUMERIC,
    REQUIRED,
    SERVER_NUMERIC,
    SAMPLES_SUFFIX,
    TEXT_COLUMNS,
    RunFileError,
    migrate,
)

_RUN_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)?.*?(?:-(?P<suffix>\d+))?")


@dataclass
class Run:
    path: Path
    cases: pd.DataFrame  # the rows with status ok (pooled: one row per case over the runs)
    samples: pd.DataFrame | None  # None when the samples file is absent
    served: pd.DataFrame  # the server rows that measured their load: ok, overloaded, over_bound

    @property
    def run_id(self) -> str:
        return str(self.cases["run_id"].iloc[0])

    @property
    def backends(self) -> list[str]:
        return sorted(self.cases["backend"].unique())


def list_runs(directory: Path | str) -> list[Path]:
    """The runs of a store (a directory, or a URL: copied into the local cache), oldest first, with those
    recovered from the journals of sessions that were killed; refuses a store without one.

    Ordered by the UTC time their run id starts with (else the file's time), then by
    the `-N` suffix of later runs in the same second, then by the file's time. Empty
    files (a run another process is writing) are left out.
    """
    location = parse_location(directory) if isinstance(directory, str) else Path(directory)
    if is_url(location):
        from bench.store.remote import fetch_runs, open_remote

        found, taken = fetch_runs(location)
        folder, where = open_remote(location), "store"
    else:
        found = [p for p in location.glob("*.csv") if not p.name.endswith(SAMPLES_SUFFIX) and p.stat().st_size]
        taken = {p.name for p in location.iterdir()} if location.is_dir() else set()
        folder, where = LocalFolder(location), "directory"
    try:
        found += recover_runs(folder, location, taken)
    except OSError as error:
        raise RunFileError(f"{directory}: cannot read the journals of its runs ({one_line(error)})") from None
    if not found:
        raise RunFileError(f"{directory}: no run files (<run_id>.csv) in this {where}")
    return sorted(found, key=_run_order)


def all_runs(text: str) -> list[Path]:
    """Every run of a store (a directory or a URL), oldest first, recovered ones included; a run file
    given alone is a store of one run."""
    location = parse_location(text)
    if (is_url(location) and not location.endswith(".csv")) or (not is_url(location) and location.is_dir()):
        return list_runs(location)
    return [resolve(text)]


def _run_order(path: Path) -> tuple[str, int, int]:
    match = _RUN_NAME.fullmatch(path.stem)
    modified = path.stat().st_mtime_ns
    stamp = match["stamp"] or pd.Timestamp(modified, unit="ns", tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    return stamp, int(match["suffix"] or 1), modified


def resolve(text: str, run_id: str | None = None) -> Path:
    """The run file `text` names: a file, or a store's newest run (or its `run_id`); a URL's through the cache."""
    location = parse_location(text)
    if is_url(location):
        if location.endswith(".csv"):
            if run_id:
                raise RunFileError(f"{text}: a run id ({run_id}) picks a run in a store, not in a file")
            from bench.store.remote import fetch_run

            return fetch_run(location)
        return _pick(text, list_runs(location), run_id)
    path = location
    if not path.exists():
        raise RunFileError(f"{text}: no such file or directory")
    if path.is_file():
        if run_id:
            raise RunFileError(f"{text}: a run id ({run_id}) picks a run in a directory, not in a file")
        return path
    if run_id and (path / f"{run_id}.csv").is_file():
        return path / f"{run_id}.csv"
    return _pick(text, list_runs(path), run_id)


def _pick(text: str, runs: list[Path], run_id: str | None) -> Path:
    """The newest of a store's runs, or the one called `run_id`."""
    if not run_id:
        return runs[-1]
    chosen = [path for path in runs if path.name == f"{run_id}.csv"]
    if not chosen:
        raise RunFileError(f"{text}: no run {run_id!r} in this store")
    return chosen[-1]


def resolve_many(text: str, count: int) -> list[Path]:
    """The newest `count` runs of the store `text` (or the file `text` when count is 1)."""
    if count == 1:
        return [resolve(text)]
    location = parse_location(text)
    if (is_url(location) and location.endswith(".csv")) or (not is_url(location) and not location.is_dir()):
        raise RunFileError(f"{text}: --runs {count} needs a directory of runs, not a file")
    found = list_runs(location)
    if len(found) < count:
        raise RunFileError(f"{text}: {len(found)} run(s) in this directory; --runs asks for {count}")
    return found[-count:]


def load_process(path: Path) -> pd.DataFrame:
    """One process's run as replicates: every case (any status) with its median and the variance of the
    logs of its pass medians inside the process (NaN with one pass or no samples file)."""
    frame = read_rows(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise RunFileError(f"{path}: not a run file: missing columns {', '.join(missing)}")
    _check_numeric(path, frame, ["batch_size", "replicas", "median_ms"])
    key = list(CASE_KEY)
    if "peak_gflops" not in frame.columns:  # runs without calibration
        frame["peak_gflops"] = math.nan
    calibration = [c for c in CALIBRATION_COLUMNS if c in frame.columns]
    values = frame[[*key, "run_id", "status", "message", "median_ms", "peak_gflops", *calibration]].copy()
    if "latency_bound_ms" in frame:  # a search's row is judged on its answer: ms per query at its highest load
        search = pd.to_numeric(frame["latency_bound_ms"], errors="coerce").notna()
        values.loc[search, "median_ms"] = 1e3 / pd.to_numeric(frame.loc[search, "max_qps_at_bound"], errors="coerce")
    values["pass_log_var"] = math.nan
    samples_path = path.with_name(path.name[: -len(".csv")] + SAMPLES_SUFFIX)
    ok = frame[frame["status"] == "ok"]
    if samples_path.exists() and not ok.empty:
        samples = _load_samples(samples_path, ok.reset_index(drop=True))
        medians = samples.groupby([*key, "pass"])["seconds"].median()
        spread = np.log(medians).groupby(key).var(ddof=1).rename("spread").reset_index()  # one pass: NaN
        values = values.merge(spread, on=key, how="left")
        values["pass_log_var"] = values.pop("spread")
    return values


def read_rows(path: Path) -> pd.DataFrame:
    """Every row of a run file, whatever its status, in the current schema."""
    return migrate(_read_csv(path), path)


def load(path: Path) -> Run:
    """Reads and checks a run file and its samples file."""
    frame = read_rows(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise RunFileError(f"{path}: not a run file: missing columns {', '.join(missing)}")
    for column in (*CALIBRATION_COLUMNS, "peak_gflops", "efficiency"):  # optional: older runs lack them
        if column not in frame.columns:
            frame[column] = math.nan
    served = frame[(frame["scenario"] == "server") & frame["status"].isin(("ok", *SERVER_STATUSES))]
    cases = frame[frame["status"] == "ok"].reset_index(drop=True)
    if cases.empty and served.empty:
        raise RunFileError(f"{path}: no case with status ok")
    _check_numeric(path, cases, [c for c in NUMERIC if c in cases.columns])
    _check_numeric(path, served, [c for c in (*NUMERIC, *SERVER_NUMERIC) if c in served.columns])
    samples_path = path.with_name(path.name[: -len(".csv")] + SAMPLES_SUFFIX)
    samples = _load_samples(samples_path, cases) if samples_path.exists() and not cases.empty else None
    return Run(path, cases, samples, served.reset_index(drop=True))


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=TEXT_COLUMNS)
    except pd.errors.EmptyDataError:
        raise RunFileError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path}: not a CSV file ({' '.join(str(error).split())[:120]})") from None
    if frame.empty:
        raise RunFileError(f"{path}: no rows")
    for column in TEXT_COLUMNS:  # "" rather than NaN: a key column (groupby drops NaN keys)
        if column in frame.columns:
            frame[column] = frame[column].fillna("")
    return frame


def _check_numeric(path, frame, columns):
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.idxmax())
            raise RunFileError(f"{path}: column {column} has a non-numeric value "
                               f"{frame[column].iloc[row]!r} (case {row + 1}); expected a number")
        frame[column] = values


def _load_samples(path: Path, cases: pd.DataFrame) -> pd.DataFrame:
    samples = _read_csv(path)
    for column in ("replicas", "pass"):  # version 1 files: one replica, one pass
        if column not in samples.columns:
            samples[column] = 1
    for column, value in (("model_sha256", ""), ("scenario", "batch"), ("load", "")):
        if column not in samples.columns:  # versions 1 and 2: registry models only; up to 3: batch rows only
            samples[column] = value
    missing = [c for c in (*KEY_COLUMNS, "round", "seconds") if c not in samples.columns]
    if missing:
        raise RunFileError(f"{path}: not a samples file: missing columns {', '.join(missing)}")
    _check_numeric(path, samples, ["batch_size", "pass", "seconds"])
    if set(samples["run_id"]) != set(cases["run_id"]):
        raise RunFileError(f"{path}: does not match its run: run_id {sorted(set(samples['run_id']))} "
                           f"against {sorted(set(cases['run_id']))}")
    counts = samples.groupby(list(CASE_KEY)).size().rename("n").reset_index()
    joined = cases.merge(counts, on=list(CASE_KEY), how="left")
    wrong = joined[joined["n"].fillna(0) != joined["rounds"]]
    if not wrong.empty:
        row = wrong.iloc[0]
        raise RunFileError(f"{path}: does not match its run: {row['model']} {row['mode']} b{row['batch_size']} "
                           f"{row['device']} has {int(row['n'] if row['n'] == row['n'] else 0)} samples "
                           f"for {int(row['rounds'])} rounds")
    return samples
