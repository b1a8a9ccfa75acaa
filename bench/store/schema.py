"""The run-file format: its version, its columns and the migrations of older versions.

A run is `<run_id>.csv` (one row per case) with its raw rounds beside it in
`<run_id>.samples.csv`. The run file carries a `schema_version`; readers migrate
older versions on read (files are never rewritten), so every run ever written
loads in compare and report, with the figures its rounds cannot support left
empty, as today's harness leaves them. A new column goes into CaseResult (or the
fingerprint); a change of meaning gets a new version and a migration here.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import pandas as pd

from bench.calibration import NUMERIC_COLUMNS as CALIBRATION_NUMERIC
from bench.calibration import PEAKS_COLUMN, format_peaks
from bench.environment import machine_name
from bench.results import MEASURED_RATES, CaseResult, LatencyStats, rounds_needed

# 1: files without the column (before 2026-11-27). 2: + schema_version; percentiles the
# rounds cannot support, CPU rows' tf32 and failed cases' rates are left empty.
# 3: + model_sha256 (a model file's hash, in the case key), peak_gflops and efficiency on every
# device, the run's measured peaks, training_setup.
# 4: + the server scenario: scenario and load (in the case key), offered and achieved QPS, queries,
# mean_batch, max_delay_ms, generator_late_p99_ms, latency_bound_ms, max_qps_at_bound; p999_ms on
# every row; statuses overloaded and over_bound; generator_late (a flag).
# 5: + machine (a stable name: --machine, else made from the hardware), commit_time (HEAD's committer
# time), recovered (a run assembled from the journal of a session that was killed).
# 6: + device_ms and device_clock (a GPU's busy time per call, by its backend's profiler).
SCHEMA_VERSION = 6
# The columns that identify a case across runs; KEY_COLUMNS adds the run, for the samples file.
CASE_KEY = ("backend", "device", "model", "model_sha256", "mode", "batch_size", "replicas", "precision",
            "jit_compile", "scenario", "load")
KEY_COLUMNS = ("run_id", *CASE_KEY)
# Read as text ("" when empty): hex that may look like a number, keys that are empty on batch rows.
TEXT_COLUMNS = {"device_clock": str, "model_sha256": str, "scenario": str, "load": str, "inputs": str, "machine": str, "commit_time": str,
                "git_commit": str}  # a commit whose hash has only digits must not become a number
REQUIRED = (*KEY_COLUMNS, "host", "status", "rounds", "mean_ms", "median_ms", "stddev_ms")
NUMERIC = ("batch_size", "replicas", "rounds", "mean_ms", "median_ms", "stddev_ms", *CALIBRATION_NUMERIC)
SERVER_NUMERIC = ("offered_qps", "achieved_qps", "queries", "p99_ms", "mean_batch", "generator_late_p99_ms",
                  "latency_bound_ms", "max_qps_at_bound")
SAMPLES_SUFFIX = ".samples.csv"
SAMPLES_COLUMNS = (*KEY_COLUMNS, "round", "pass", "seconds")  # one row per timed round


class RunFileError(ValueError):
    """A run file (or directory) that cannot be used; the message is one line."""


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


def migrate(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A run file's rows in the current schema, whatever version wrote them."""
    version = frame["schema_version"].iloc[0] if "schema_version" in frame.columns else 1
    if not str(version).isdigit() or not 1 <= int(version) <= SCHEMA_VERSION:
        raise RunFileError(f"{path}: schema_version {str(version)!r} is not one this harness reads "
                           f"(1 to {SCHEMA_VERSION}); a newer harness wrote it: update this checkout")
    if int(version) == 1:
        frame = _from_version_1(frame)
    if int(version) <= 2:
        frame = _from_version_2(frame)
    if int(version) <= 3:
        frame = _from_version_3(frame)
    if int(version) <= 4 or "machine" not in frame.columns:  # also a version-5 file written by hand
        frame = _from_version_4(frame)
    if int(version) <= 5:
        frame = _from_version_5(frame)
    return frame


def _from_version_5(frame: pd.DataFrame) -> pd.DataFrame:
    """Version 5 read no device time: its rows' device_ms is empty, read by nothing."""
    if not {"rounds", "status", "device"} <= set(frame.columns):
        return frame
    frame = frame.copy()
    frame["device_ms"], frame["device_clock"] = math.nan, ""
    frame["schema_version"] = SCHEMA_VERSION
    return frame


def _from_version_4(frame: pd.DataFrame) -> pd.DataFrame:
    """Version 4 had no machine name: its rows get the default name of their own hardware columns (the
    name a live run on that machine gets, bench.environment.machine_name; a column the file lacks is
    an empty part), no commit time, and were never recovered from a journal."""
    if not {"rounds", "status", "device"} <= set(frame.columns):
        return frame
    frame = frame.copy()
    hardware = [frame[c] if c in frame.columns else pd.Series("", index=frame.index)
                for c in ("cpu_model", "cpu_cores", "ram_gb", "nvidia_gpus")]
    defaults = {"machine": [machine_name(*values) for values in zip(*hardware)], "commit_time": "", "recovered": False}
    for column, value in defaults.items():  # a version-5 file written by hand may have some of them
        if column not in frame.columns:
            frame[column] = value
    frame["schema_version"] = 5
    return frame


def _from_version_3(frame: pd.DataFrame) -> pd.DataFrame:
    """Version 3 knew the batch scenario only: its rows are scenario "batch" with no load. Its
    p99.9 column is absent (it is left empty: a p99.9 needs 2,995 rounds, more than it took)."""
    if not {"rounds", "status", "device"} <= set(frame.columns):
        return frame
    frame = frame.copy()
    frame["scenario"], frame["load"] = "batch", ""
    frame["schema_version"] = 4
    return frame


def _from_version_2(frame: pd.DataFrame) -> pd.DataFrame:
    """Version 2 knew registry models only (no model_sha256), and measured one peak, the CPU's float32
    matmul through numpy: its CPU float32 rows get that peak and their efficiency against it."""
    if not {"rounds", "status", "device"} <= set(frame.columns):
        return frame
    frame = frame.copy()
    frame["model_sha256"] = ""
    frame["schema_version"] = 3
    if "calibration_matmul_gflops" not in frame.columns:
        return frame
    peak = pd.to_numeric(frame["calibration_matmul_gflops"], errors="coerce")
    cpu_float32 = (frame["device"] == "cpu") & (frame.get("precision", "float32") == "float32")
    frame["peak_gflops"] = peak.where(cpu_float32)
    if "gflops_per_s" in frame.columns:
        frame["efficiency"] = (pd.to_numeric(frame["gflops_per_s"], errors="coerce") / frame["peak_gflops"]
                               ).where(frame["status"] == "ok")
    frame[PEAKS_COLUMN] = [format_peaks({("cpu", "float32"): value}) if value == value else ""
                           for value in peak]
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
    frame.insert(0, "schema_version", 2)
    return frame
