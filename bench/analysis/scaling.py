"""Data-parallel scaling efficiency, filled into a session's rows before they are written."""

from __future__ import annotations

from bench.results import CaseResult


def fill_scaling_efficiency(results: list[CaseResult]) -> None:
    """throughput(N) / (N x throughput(1)) for each data-parallel row, same per-replica batch.

    Data-parallel rows are those on logical CPU devices or on "gpu" (all GPUs, no
    index). A multi-process run cannot run 1 replica; its rows are set against the
    fewest replicas it ran, per replica: (throughput(N) / N) / (throughput(M) / M).
    """
    parallel = [r for r in results if r.status == "ok" and (r.logical_devices or r.device == "gpu")]
    base = {}
    for r in sorted(parallel, key=lambda r: r.replicas):
        base.setdefault((r.model, r.mode, r.device, r.per_replica_batch), r)
    for r in parallel:
        first = base[(r.model, r.mode, r.device, r.per_replica_batch)]
        r.scaling_efficiency = (r.samples_per_s / r.replicas) / (first.samples_per_s / first.replicas)
