"""Side-by-side views of runs: GPU over CPU within a run, and backends or hosts across runs."""

from __future__ import annotations

import pandas as pd

from bench import store
from bench.store import CASE_KEY, RunFileError


def by_device(run: store.Run) -> pd.DataFrame:
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


def side_by_side(loaded: list[store.Run], by: str) -> pd.DataFrame:
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
