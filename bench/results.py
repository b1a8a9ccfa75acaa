"""A run's results: summary statistics per case, and the two CSV files.

Every run writes `<run_id>.csv` (one row per case) and `<run_id>.samples.csv`
(every timed round, long form). Files are written to a temporary name and then
hard-linked to their final name, which fails rather than replace an existing
file: an earlier run is never overwritten, even by a run in the same second.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

STATUSES = ("ok", "skipped", "error", "oom")
# The columns that identify a case across runs (the samples file repeats them).
KEY_COLUMNS = ("run_id", "backend", "device", "model", "mode", "batch_size", "replicas", "precision", "jit_compile")


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-batch latencies, in milliseconds."""

    rounds: int
    mean_ms: float
    median_ms: float
    min_ms: float
    max_ms: float
    stddev_ms: float
    p90_ms: float
    p99_ms: float

    @classmethod
    def from_seconds(cls, samples) -> "LatencyStats":
        """Percentiles interpolate linearly between order statistics (numpy's default);
        with few rounds p99 approaches the maximum. stddev is the sample (n-1) one."""
        ms = np.asarray(samples, dtype="float64") * 1e3
        if ms.size == 0:
            raise ValueError("no timed rounds. Received: samples=[]")
        return cls(rounds=int(ms.size), mean_ms=float(ms.mean()), median_ms=float(np.median(ms)),
                   min_ms=float(ms.min()), max_ms=float(ms.max()),
                   stddev_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
                   p90_ms=float(np.percentile(ms, 90)), p99_ms=float(np.percentile(ms, 99)))

    @classmethod
    def empty(cls) -> "LatencyStats":
        return cls(0, *(math.nan,) * 7)


@dataclass
class CaseResult:
    """One row of the run CSV: a case's settings and what was measured."""

    device: str
    device_name: str
    model: str
    params: int
    mode: str
    batch_size: int
    precision: str
    jit_compile: str
    status: str
    message: str = ""
    latency: LatencyStats = LatencyStats.empty()
    samples_per_s: float = math.nan
    first_call_ms: float = math.nan
    warmup_rounds: int = 0
    flops_per_sample: float = math.nan
    gflops_per_s: float = math.nan
    peak_rss_mb: float = math.nan
    device_peak_mb: float = math.nan
    energy_j: float = math.nan  # per batch, on the device (NVML), where measured
    samples_per_j: float = math.nan
    tf32: str = ""  # "on" / "off": whether float32 matmuls may use TensorFloat-32 on a GPU
    replicas: int = 1  # data-parallel replicas; batch_size is the global batch
    per_replica_batch: int = 0  # batch_size / replicas (filled in when left 0)
    logical_devices: bool = False  # replicas on logical devices carved out of one CPU
    scaling_efficiency: float = math.nan  # throughput(N) / (N x throughput(1)), same per-replica batch
    passes: int = 0  # passes through the matrix that timed this case

    def __post_init__(self):
        self.per_replica_batch = self.per_replica_batch or self.batch_size // self.replicas
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}. Received: status={self.status!r}")

    def with_latency(self, samples_s) -> "CaseResult":
        """Fills the latency columns and the rates derived from the median."""
        self.latency = LatencyStats.from_seconds(samples_s)
        median_s = self.latency.median_ms / 1e3
        self.samples_per_s = self.batch_size / median_s
        self.gflops_per_s = self.flops_per_sample * self.batch_size / median_s / 1e9
        return self

    def flat(self) -> dict:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "latency"}
        row.update(asdict(self.latency))
        return row


def run_columns(fingerprint: dict) -> list[str]:
    """Column order of the run CSV: the run's fingerprint, then the case's."""
    moved = {"tf32": "jit_compile", "replicas": "batch_size", "per_replica_batch": "replicas",
             "logical_devices": "per_replica_batch", "scaling_efficiency": "samples_per_s"}
    case_columns = [f.name for f in fields(CaseResult) if f.name not in ("latency", "passes", *moved)]
    for name, anchor in moved.items():  # settings beside settings, rates beside rates
        case_columns.insert(case_columns.index(anchor) + 1, name)
    latency_columns = [f.name for f in fields(LatencyStats)]
    latency_columns.insert(latency_columns.index("rounds") + 1, "passes")
    at = case_columns.index("message") + 1
    return list(fingerprint) + case_columns[:at] + latency_columns + case_columns[at:]


def write_run(results_dir: Path, fingerprint: dict, results: list[CaseResult],
              samples: list[tuple[CaseResult, list[tuple[int, float]]]]) -> tuple[Path, Path]:
    """Writes the run and its samples (each case's (pass, seconds) rounds); returns their paths.

    If `<run_id>.csv` is taken (two runs in one second), the run_id gets a suffix.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame([{**fingerprint, **r.flat()} for r in results], columns=run_columns(fingerprint))
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
        except FileExistsError:
            samples_path.unlink()
            continue
        return run_path, samples_path
    raise FileExistsError(f"no free run file name for {base} in {results_dir}")


def _key(fingerprint: dict, result: CaseResult) -> dict:
    row = {**fingerprint, **result.flat()}
    return {column: row[column] for column in KEY_COLUMNS}


def _write_new(path: Path, frame: pd.DataFrame) -> None:
    """Writes `frame` to `path` atomically; raises FileExistsError rather than replace a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # atomic, and refuses an existing name (os.replace would not)
    finally:
        os.unlink(temporary)
