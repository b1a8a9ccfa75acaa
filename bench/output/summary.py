"""The end-of-run summary of `pytest bench/`: a table of the cases that ran, then one line per kind
of failure or skip, then where the run was written."""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from bench.device_time import OVERHEAD_BOUND
from bench.output.tables import render
from bench.results import SERVER_STATUSES, CaseResult, rounds_needed


def summary_lines(results: list[CaseResult], *, written=None, unwritten: str | None = None, report=None,
                  nothing_timed: bool = False, gpu_hint: str | None = None) -> list[str]:
    """The summary's lines, with each GPU's speedup over the CPU where both ran.

    Args:
        results: the session's rows, in run order.
        written: the store.WrittenRun, when the run was written.
        unwritten: why the run could be written nowhere.
        report: the report's page, or why there is none.
        nothing_timed: cases were collected but none ran (e.g. --benchmark-disable).
        gpu_hint: the line for a machine whose NVIDIA GPUs the backend cannot use.
    """
    ok = [r for r in results if r.status == "ok" and r.scenario == "batch"]
    served = [r for r in results if r.scenario == "server" and r.status in ("ok", *SERVER_STATUSES)]
    lines = render(_case_table(ok), digits={"samples/s": 1, "first ms": 0}, missing="-").splitlines() if ok else []
    if ok:
        lines.append("spread: the middle half of the rounds (IQR) as a % of the median; eff: the share of the "
                     "device's measured matmul peak")
        lines += per_call_floor_lines(ok) + overhead_bound_lines(ok)
    if served:
        lines += ([""] if lines else []) + render(_server_table(served), digits=_SERVER_DIGITS, missing="-").splitlines()
        lines += [f"{r.model} {r.device} {r.load}: {r.status}: {r.message}" for r in served if r.message]
    others = Counter((r.status, r.message) for r in results if r.status not in ("ok", *SERVER_STATUSES))
    for (status, message), count in others.items():
        lines.append(f"{status} ({count} case{'s' if count > 1 else ''}): {message}")
    without = {r.scenario for r in ok + served if math.isnan(r.latency.p99_ms)}
    if without:
        what = " or ".join({"batch": "rounds", "server": "queries"}[scenario] for scenario in sorted(without))
        lines.append(f"p99 -: fewer than {rounds_needed(0.99)} {what}, too few to support a p99")
    if gpu_hint:
        lines.append(f"GPU: {gpu_hint}")
    if written:
        where = f"results: {written.run}  (samples: {written.samples.name})"
        if written.refused:
            where += f", in the fallback directory: could not write to {written.refused}"
        lines.append(where)
    if unwritten:
        lines.append(f"results: NOT WRITTEN: {unwritten}")
    if report:
        lines.append(f"report: {report}")
    elif nothing_timed:
        lines.append("no case was timed (--benchmark-disable or nothing selected): no results file written")
    return lines


def _case_table(ok: list[CaseResult]) -> pd.DataFrame:
    cpu = {(r.model, r.mode, r.batch_size): r for r in ok if r.device == "cpu"}
    rows = []
    for r in ok:
        base = cpu.get((r.model, r.mode, r.batch_size))
        speedup = base.latency.median_ms / r.latency.median_ms if r.device != "cpu" and base else math.nan
        rows.append({"model": r.model, "mode": r.mode, "batch": r.batch_size, "device": r.device,
                     "median ms": r.latency.median_ms, "spread": _percent(r.latency.iqr_ms / r.latency.median_ms),
                     "samples/s": r.samples_per_s, "p99 ms": r.latency.p99_ms, "eff": _percent(r.efficiency),
                     "first ms": r.first_call_ms, "device ms": r.device_ms,
                     "vs cpu": f"{speedup:.2f}x" if speedup == speedup else ""})
    table = pd.DataFrame(rows)
    empty = [column for column in ("vs cpu", "eff", "device ms")
             if table[column].isna().all() or (table[column] == "").all()]
    return table.drop(columns=empty)


def per_call_floor_lines(ok: list[CaseResult]) -> list[str]:
    """Keras' per-call cost where a model ran both `forward` and `infer` at batch 1 on a device: the medians'
    difference, what `predict_on_batch` adds to the compiled forward function (at batch 1 the work is least).
    Where forward was not the faster, no floor is claimed."""
    forward = {(r.model, r.device): r for r in ok if r.mode == "forward" and r.batch_size == 1}
    floors = []
    for r in ok:
        if r.mode != "infer" or r.batch_size != 1 or (f := forward.get((r.model, r.device))) is None:
            continue
        floor = r.latency.median_ms - f.latency.median_ms
        floors.append(f"{r.model} {r.device} " + (f"{floor:.3g} ms ({floor / r.latency.median_ms:.0%} of infer)"
                                                  if floor > 0 else "none (forward not faster)"))
    return [f"per-call floor (infer - forward medians, batch 1): {'; '.join(floors)}"] if floors else []


def overhead_bound_lines(ok: list[CaseResult]) -> list[str]:
    """Rows whose wall median exceeds OVERHEAD_BOUND times the device's busy time (bench.device_time): the
    device waited for the host (Python, Keras, launches, copies) most of the time, so a faster device would
    not make them faster."""
    bound = [r for r in ok if r.device_ms > 0 and r.latency.median_ms > OVERHEAD_BOUND * r.device_ms]
    if not bound:
        return []
    rows = "; ".join(f"{r.model} {r.mode} b{r.batch_size} {r.device} (wall x{r.latency.median_ms / r.device_ms:.1f})"
                     for r in bound)
    return [f"overhead-bound (wall median over {OVERHEAD_BOUND:g}x the device's busy time): {rows}"]


def _percent(fraction: float) -> str | None:
    """A share as text ("4.2%", "31%"); None (shown as "-") where it was not measured."""
    if not math.isfinite(fraction):
        return None
    return f"{100 * fraction:.1f}%" if fraction < 0.1 else f"{100 * fraction:.0f}%"


_SERVER_DIGITS = {"offered qps": 1, "achieved qps": 1, "max qps": 1, "p50 ms": 2, "p99 ms": 2, "mean batch": 2,
                  "late p99 ms": 2}


def _server_table(served: list[CaseResult]) -> pd.DataFrame:
    """The server rows: one per load level (a search: its best level), with the load generator's lateness."""
    table = pd.DataFrame([{"model": r.model, "device": r.device, "load": r.load, "offered qps": r.offered_qps,
                           "achieved qps": r.achieved_qps, "queries": r.queries, "p50 ms": r.latency.median_ms,
                           "p99 ms": r.latency.p99_ms, "mean batch": r.mean_batch,
                           "late p99 ms": r.generator_late_p99_ms, "max qps": r.max_qps_at_bound,
                           "status": r.status + (", generator late" if r.generator_late else "")} for r in served])
    return table if table["max qps"].notna().any() else table.drop(columns="max qps")
