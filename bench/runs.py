"""The run files: the one module that writes them and reads them back.

A run is `<run_id>.csv` (one row per case) with its raw rounds beside it in
`<run_id>.samples.csv`. The run file carries a `schema_version`; readers migrate
older versions on read (files are never rewritten), so every run ever written
loads in compare and report, with the figures its rounds cannot support left
empty, as today's harness leaves them.

Writing never replaces a file: each name is claimed with an exclusive create
and the full contents then moved onto it, so the name holds either nothing yet
or the whole file, without needing hard links. A run that cannot be written where
asked goes to a fallback directory, which the caller names.

A directory stands for its newest run (by the time in its run id, then the
`-N` suffix of runs in the same second) unless a run id is named.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from bench.calibration import COLUMNS as CALIBRATION_COLUMNS
from bench.results import MEASURED_RATES, CaseResult, LatencyStats, rounds_needed

# 1: files without the column (before 2026-11-27). 2: + schema_version; percentiles the
# rounds cannot support, CPU rows' tf32 and failed cases' rates are left empty.
SCHEMA_VERSION = 2
# The columns that identify a case across runs; the samples file repeats them with the run id.
CASE_KEY = ("backend", "device", "model", "mode", "batch_size", "replicas", "precision", "jit_compile")
KEY_COLUMNS = ("run_id", *CASE_KEY)
REQUIRED = (*KEY_COLUMNS, "host", "status", "rounds", "mean_ms", "median_ms", "stddev_ms")
NUMERIC = ("batch_size", "replicas", "rounds", "mean_ms", "median_ms", "stddev_ms", *CALIBRATION_COLUMNS)
SAMPLES_SUFFIX = ".samples.csv"
_RUN_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)?.*?(?:-(?P<suffix>\d+))?")


class RunFileError(ValueError):
    """A run file (or directory) that cannot be used; the message is one line."""


@dataclass
class Run:
    path: Path
    cases: pd.DataFrame  # the rows with status ok (pooled: one row per case over the runs)
    samples: pd.DataFrame | None  # None when the samples file is absent
    replicates: pd.DataFrame | None = None  # median_ms per case of each pass of each run (column `unit`)
    label: str = ""

    @property
    def run_id(self) -> str:
        return self.label or str(self.cases["run_id"].iloc[0])

    @property
    def backends(self) -> list[str]:
        return sorted(self.cases["backend"].unique())

    def calibration_ms(self) -> float:
        """The calibration workload's time (matmul + conv), for --normalize."""
        columns = ["calibration_matmul_ms", "calibration_conv_ms"]
        if any(c not in self.cases for c in columns) or self.cases[columns].isna().any().any():
            raise RunFileError(f"{self.path}: no calibration figures ({', '.join(columns)}): "
                               "--normalize needs runs recorded by a harness that calibrates")
        row = self.cases.iloc[0]
        return float(row["calibration_matmul_ms"] + row["calibration_conv_ms"])


def list_runs(directory: Path) -> list[Path]:
    """The run files of `directory`, oldest first; refuses a directory without one.

    Ordered by the UTC time their run id starts with (else the file's time), then by
    the `-N` suffix of later runs in the same second, then by the file's time. Empty
    files (a run another process is writing) are left out.
    """
    found = [p for p in directory.glob("*.csv") if not p.name.endswith(SAMPLES_SUFFIX) and p.stat().st_size]
    if not found:
        raise RunFileError(f"{directory}: no run files (<run_id>.csv) in this directory")
    return sorted(found, key=_run_order)


def _run_order(path: Path) -> tuple[str, int, int]:
    match = _RUN_NAME.fullmatch(path.stem)
    modified = path.stat().st_mtime_ns
    stamp = match["stamp"] or pd.Timestamp(modified, unit="ns", tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    return stamp, int(match["suffix"] or 1), modified


def resolve(text: str, run_id: str | None = None) -> Path:
    """The run file `text` names: a file, or a directory's newest run (or its `run_id`)."""
    path = Path(text)
    if not path.exists():
        raise RunFileError(f"{text}: no such file or directory")
    if path.is_file():
        if run_id:
            raise RunFileError(f"{text}: a run id ({run_id}) picks a run in a directory, not in a file")
        return path
    if run_id:
        chosen = path / f"{run_id}.csv"
        if not chosen.is_file():
            raise RunFileError(f"{text}: no run {run_id!r} in this directory")
        return chosen
    return list_runs(path)[-1]


def resolve_many(text: str, count: int) -> list[Path]:
    """The newest `count` runs of the directory `text` (or the file `text` when count is 1)."""
    if count == 1:
        return [resolve(text)]
    path = Path(text)
    if not path.is_dir():
        raise RunFileError(f"{text}: --runs {count} needs a directory of runs, not a file")
    found = list_runs(path)
    if len(found) < count:
        raise RunFileError(f"{text}: {len(found)} run(s) in this directory; --runs asks for {count}")
    return found[-count:]


def load_pooled(paths: list[Path]) -> Run:
    """Several runs of the same code as one side of a comparison.

    Each case's median is the geometric mean of its run medians; the raw samples
    and the replicates (each run's passes) are pooled.
    """
    loaded = [load(path) for path in paths]
    if len(loaded) == 1:
        return loaded[0]
    per_run = pd.concat([run.cases for run in loaded], ignore_index=True)
    key = list(CASE_KEY)
    pooled = per_run.groupby(key, sort=False).agg(
        run_id=("run_id", "first"), host=("host", "first"), status=("status", "first"),
        median_ms=("median_ms", lambda v: float(np.exp(np.log(v).mean()))), mean_ms=("mean_ms", "mean"),
        stddev_ms=("stddev_ms", lambda v: float(np.sqrt((v**2).mean()))), rounds=("rounds", "sum"),
        **{c: (c, "mean") for c in CALIBRATION_COLUMNS if c in per_run.columns},
    ).reset_index()
    samples = [run.samples for run in loaded]
    label = f"{loaded[0].run_id} .. {loaded[-1].run_id} ({len(loaded)} runs)"
    return Run(paths[-1], pooled, None if any(s is None for s in samples) else pd.concat(samples),
               pd.concat([run.replicates for run in loaded], ignore_index=True), label)


def read_rows(path: Path) -> pd.DataFrame:
    """Every row of a run file, whatever its status, in the current schema."""
    return migrate(_read_csv(path), path)


def load(path: Path) -> Run:
    """Reads and checks a run file and its samples file."""
    frame = read_rows(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise RunFileError(f"{path}: not a run file: missing columns {', '.join(missing)}")
    for column in CALIBRATION_COLUMNS:  # optional to readers: a run without them has no efficiency
        if column not in frame.columns:
            frame[column] = math.nan
    cases = frame[frame["status"] == "ok"].reset_index(drop=True)
    if cases.empty:
        raise RunFileError(f"{path}: no case with status ok")
    _check_numeric(path, cases, [c for c in NUMERIC if c in cases.columns])
    samples_path = path.with_name(path.name[: -len(".csv")] + SAMPLES_SUFFIX)
    samples = _load_samples(samples_path, cases) if samples_path.exists() else None
    return Run(path, cases, samples, _replicates(cases, samples))


def _replicates(cases: pd.DataFrame, samples: pd.DataFrame | None) -> pd.DataFrame:
    """Each case's median per pass (from the samples), or its one median (without them).

    Passes sample the machine at different moments of the session, so their
    medians are the replicates whose spread measures how far a case's time wanders.
    """
    key = list(CASE_KEY)
    if samples is None:
        return cases[key].assign(unit=cases["run_id"], median_ms=cases["median_ms"])
    medians = samples.groupby([*key, "run_id", "pass"])["seconds"].median().mul(1e3).rename("median_ms")
    medians = medians.reset_index()
    medians["unit"] = medians["run_id"] + "/" + medians["pass"].astype(str)
    return medians[[*key, "unit", "median_ms"]]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise RunFileError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path}: not a CSV file ({' '.join(str(error).split())[:120]})") from None
    if frame.empty:
        raise RunFileError(f"{path}: no rows")
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


def migrate(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A run file's rows in the current schema, whatever version wrote them."""
    version = frame["schema_version"].iloc[0] if "schema_version" in frame.columns else 1
    if not str(version).isdigit() or not 1 <= int(version) <= SCHEMA_VERSION:
        raise RunFileError(f"{path}: schema_version {str(version)!r} is not one this harness reads "
                           f"(1 to {SCHEMA_VERSION}); a newer harness wrote it: update this checkout")
    if int(version) == 1:
        frame = _from_version_1(frame)
    return frame


def _from_version_1(frame: pd.DataFrame) -> pd.DataFrame:
    """Version 1 had no schema_version, and some of its files no replicas or passes (nor calibration,
    see load): those ran on one replica, in one pass. Its rows also carried figures that
    version 2 leaves empty: percentiles from too few rounds, tf32 on CPU rows, rates of failed cases."""
    if not {"rounds", "status", "device"} <= set(frame.columns):
        return frame  # not a run file: load names what is missing
    frame = frame.copy()
    for column in ("replicas", "passes"):
        if column not in frame.columns:
            frame[column] = 1
    rounds = pd.to_numeric(frame["rounds"], errors="coerce").fillna(0)
    for column, fraction in (("p90_ms", 0.90), ("p99_ms", 0.99)):
        if column in frame.columns:
            frame[column] = frame[column].where(rounds >= rounds_needed(fraction))
    # Absent from files before TensorFloat-32 was recorded: unknown.
    frame["tf32"] = frame["tf32"].where(frame["device"] != "cpu") if "tf32" in frame.columns else math.nan
    failed = frame["status"] != "ok"
    for column in MEASURED_RATES:
        if column in frame.columns:
            frame[column] = frame[column].where(~failed)
    frame.insert(0, "schema_version", SCHEMA_VERSION)
    return frame


def _load_samples(path: Path, cases: pd.DataFrame) -> pd.DataFrame:
    samples = _read_csv(path)
    for column in ("replicas", "pass"):  # version 1 files: one replica, one pass
        if column not in samples.columns:
            samples[column] = 1
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


# -- writing ------------------------------------------------------------------------------------


def run_columns(fingerprint: dict) -> list[str]:
    """Column order of the run CSV: the schema version, the run's fingerprint, then the case's."""
    moved = {"tf32": "jit_compile", "replicas": "batch_size", "per_replica_batch": "replicas",
             "logical_devices": "per_replica_batch", "scaling_efficiency": "samples_per_s"}
    case_columns = [f.name for f in fields(CaseResult) if f.name not in ("latency", "passes", *moved)]
    for name, anchor in moved.items():  # settings beside settings, rates beside rates
        case_columns.insert(case_columns.index(anchor) + 1, name)
    latency_columns = [f.name for f in fields(LatencyStats)]
    latency_columns.insert(latency_columns.index("rounds") + 1, "passes")
    at = case_columns.index("message") + 1
    return ["schema_version", *fingerprint] + case_columns[:at] + latency_columns + case_columns[at:]


def check_writable(directory: Path) -> None:
    """Makes `directory` if needed and proves a file can be created in it.

    Raises:
        RunFileError: one line naming the directory and why it cannot hold a run.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise RunFileError(f"{directory}: cannot write runs there ({error.strerror or error}); "
                           "give a directory you can write to") from None


@dataclass(frozen=True)
class WrittenRun:
    """Where a run was written; `refused` says why the directory asked for could not take it."""

    run: Path
    samples: Path
    refused: str = ""


def fallback_dir() -> Path:
    """Where a run goes when its results directory refuses it: the system's temporary directory."""
    return Path(tempfile.gettempdir()) / "keras-bench-results"


def save_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
             samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> WrittenRun:
    """Writes the run into `results_dir`, or, if that fails (disk full, permissions), into fallback_dir().

    Raises:
        OSError: only when the fallback directory fails too.
    """
    try:
        return WrittenRun(*write_run(results_dir, fingerprint, results, samples))
    except OSError as error:
        refused = f"{results_dir}: {error.strerror or error}"
    return WrittenRun(*write_run(fallback_dir(), fingerprint, results, samples), refused=refused)


def write_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
              samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> tuple[Path, Path]:
    """Writes the run and its samples (each case's (pass, seconds) rounds); returns their paths.

    If `<run_id>.csv` is taken (two runs in one second), the run_id gets a suffix.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame([{"schema_version": SCHEMA_VERSION, **fingerprint, **r.flat()} for r in results],
                        columns=run_columns(fingerprint))
    sample_rows = pd.DataFrame(
        [{**_key(fingerprint, r), "round": i, "pass": p, "seconds": s}
         for r, rounds in samples for i, (p, s) in enumerate(rounds)],
        columns=[*KEY_COLUMNS, "round", "pass", "seconds"],
    )
    base = fingerprint["run_id"]
    for attempt in range(1000):
        run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
        run_path = results_dir / f"{run_id}.csv"
        samples_path = results_dir / f"{run_id}.samples.csv"
        if run_path.exists() or samples_path.exists():
            continue
        rows["run_id"] = run_id
        sample_rows["run_id"] = run_id
        try:
            # Samples first: a run file whose samples are missing would mislead compare.
            _write_new(samples_path, sample_rows)
        except FileExistsError:
            continue
        try:
            _write_new(run_path, rows)
        except BaseException as error:  # the samples alone must not stand as a run
            samples_path.unlink()
            if isinstance(error, FileExistsError):
                continue
            raise
        return run_path, samples_path
    raise FileExistsError(f"no free run file name for {base} in {results_dir}")


def _key(fingerprint: dict, result: CaseResult) -> dict:
    row = {**fingerprint, **result.flat()}
    return {column: row[column] for column in KEY_COLUMNS}


def _write_new(path: Path, frame: pd.DataFrame) -> None:
    """Writes `frame` to `path` atomically; raises FileExistsError rather than replace a file.

    The exclusive create claims the name (no hard links needed); the contents are
    written to a temporary file and moved onto the claimed name in one step.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make the run unreadable to others
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        for leftover in filter(None, (temporary, path)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise
