"""One row of a run: a case's settings, its latency statistics and the rates derived from them.

The files a run is written to, and how they are read back, belong to bench/store/.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

# A server row that measured its load level but cannot stand as a result (bench/serving/figures.py):
# overloaded (the device did not keep up), over_bound (a search found no load within its latency
# bound). These keep their figures.
SERVER_STATUSES = ("overloaded", "over_bound")
STATUSES = ("ok", "skipped", "error", "oom", *SERVER_STATUSES)
# The figures derived from a case's timed rounds: a case that failed has none of them.
MEASURED_RATES = ("samples_per_s", "device_ms", "gflops_per_s", "efficiency", "energy_j", "samples_per_j",
                  "scaling_efficiency", "achieved_qps", "mean_batch", "generator_late_p99_ms", "max_qps_at_bound", "confirm_p99_ms")
# A percentile is reported only when the rounds can bound it. With n rounds, the
# chance that the slowest one lies above the true p-th percentile is 1 - p**n;
# asking for 95% gives n >= ln(0.05) / ln(p) (Wilks' rule for order statistics):
# 29 rounds for p90, 299 for p99, 2,995 for p99.9. Below that, a "p99" is only the maximum of a
# few rounds, so the column is left empty.
CONFIDENCE = 0.95


MIN_IQR_ROUNDS = 4  # fewer rounds give no quartiles worth the name


def rounds_needed(fraction: float) -> int:
    """Rounds that support the `fraction` percentile (0.99 for p99): 299 for p99, 29 for p90."""
    return math.ceil(math.log(1 - CONFIDENCE) / math.log(fraction))


def supported_percentile(ms: np.ndarray, fraction: float) -> float:
    """The `fraction` percentile of `ms`, or NaN when too few rounds support it."""
    return float(np.percentile(ms, fraction * 100)) if ms.size >= rounds_needed(fraction) else math.nan


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-batch latencies, in milliseconds."""

    rounds: int
    mean_ms: float
    median_ms: float
    min_ms: float
    max_ms: float
    stddev_ms: float
    iqr_ms: float  # the interquartile range: the middle half of the rounds spans this
    p90_ms: float
    p99_ms: float
    p999_ms: float

    @classmethod
    def from_seconds(cls, samples) -> "LatencyStats":
        """Percentiles interpolate linearly between order statistics (numpy's default) and are
        NaN where the rounds cannot support them (see rounds_needed). stddev is the sample (n-1) one."""
        ms = np.asarray(samples, dtype="float64") * 1e3
        if ms.size == 0:
            raise ValueError("no timed rounds. Received: samples=[]")
        return cls(rounds=int(ms.size), mean_ms=float(ms.mean()), median_ms=float(np.median(ms)),
                   min_ms=float(ms.min()), max_ms=float(ms.max()),
                   stddev_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
                   iqr_ms=float(np.subtract(*np.percentile(ms, [75, 25]))) if ms.size >= MIN_IQR_ROUNDS else math.nan,
                   p90_ms=supported_percentile(ms, 0.90), p99_ms=supported_percentile(ms, 0.99),
                   p999_ms=supported_percentile(ms, 0.999))

    @classmethod
    def empty(cls) -> "LatencyStats":
        return cls(0, *(math.nan,) * 9)


@dataclass(kw_only=True)
class CaseResult:
    """One row of the run CSV: a case's settings and what was measured (the fields' order is the columns')."""

    device: str
    device_name: str = ""
    model: str
    model_sha256: str = ""  # a model file's content hash; "" for a registry model
    params: int = 0
    mode: str
    scenario: str = "batch"  # batch (closed loop) or server (open-loop arrivals, bench/serving/)
    load: str = ""  # server rows: "100 qps", or "p99<=20 ms" for a search; keys them across runs
    batch_size: int  # server rows: the batcher's largest batch (--max-batch)
    precision: str
    jit_compile: str = ""  # "on" / "off", from the compiled model
    status: str
    message: str = ""
    latency: LatencyStats = LatencyStats.empty()
    samples_per_s: float = math.nan
    first_call_ms: float = math.nan
    device_ms: float = math.nan  # GPU rows: the device's busy time per call, by its profiler (bench.device_time)
    device_clock: str = ""  # how device_ms was read; "" where it was not
    warmup_rounds: int = 0
    flops_per_sample: float = math.nan
    gflops_per_s: float = math.nan
    peak_gflops: float = math.nan  # the device's measured matmul peak at the row's compute precision
    efficiency: float = math.nan  # gflops_per_s / peak_gflops
    peak_rss_mb: float = math.nan
    device_peak_mb: float = math.nan
    energy_j: float = math.nan  # per batch, on the device (NVML), where measured
    samples_per_j: float = math.nan
    tf32: str = ""  # "on" / "off" on a GPU: whether float32 matmuls may use TensorFloat-32; "" on the CPU
    replicas: int = 1  # data-parallel replicas; batch_size is the global batch
    per_replica_batch: int = 0  # batch_size / replicas (filled in when left 0)
    logical_devices: bool = False  # replicas on logical devices carved out of one CPU
    scaling_efficiency: float = math.nan  # throughput(N) / (N x throughput(1)), same per-replica batch
    passes: int = 0  # passes through the matrix that timed this case
    training_setup: str = ""  # train rows: the loss and optimizer, and where they came from
    # Server rows (the latency columns are then over queries; samples_per_s is the achieved rate):
    offered_qps: float = math.nan  # the arrivals' rate (a search: the best level's)
    achieved_qps: float = math.nan  # queries served a second, from the level's start to its last result
    queries: int = 0  # queries the level scheduled
    mean_batch: float = math.nan  # the batches the batcher formed, on average
    max_delay_ms: float = math.nan  # --max-delay-ms
    generator_late_p99_ms: float = math.nan  # the load generator's lateness: issued minus scheduled
    generator_late: bool = False  # the lateness is large enough to be in the tail (bench/serving/figures.py)
    latency_bound_ms: float = math.nan  # a search's bound on the p99
    max_qps_at_bound: float = math.nan  # a search's answer: the highest offered rate that met the bound (twice)
    confirm_p99_ms: float = math.nan  # the p99 of the answer's second draw
    inputs: str = ""  # server rows: where a query's input waits, "host" (copied in its latency) or "device"

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
        return self.with_peak(self.peak_gflops)

    def with_peak(self, peak_gflops: float) -> "CaseResult":
        """Sets the device's measured peak and the efficiency against it."""
        self.peak_gflops = peak_gflops
        self.efficiency = self.gflops_per_s / peak_gflops if peak_gflops > 0 else math.nan
        return self

    def clear_measurements(self) -> None:
        """Empties everything measured: a case that failed in a later pass has no figures to stand on."""
        self.latency = LatencyStats.empty()
        for name in MEASURED_RATES:
            setattr(self, name, math.nan)

    def flat(self) -> dict:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "latency"}
        row.update(asdict(self.latency))
        return row
