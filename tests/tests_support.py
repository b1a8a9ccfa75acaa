"""Helpers shared by the tests (conftest.py is not importable: the root has one too)."""

import io
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from bench import ROOT
from bench.backends import Backend
from bench.cli import main
from bench.plan import Load
from bench.results import CaseResult
from bench.serving.batcher import LevelRecord
from bench.serving.figures import level_figures
from bench.serving.levels import fill_row
from bench.serving.search import Search
from bench.store import write_run

__all__ = ["CASES", "HISTORY_CASES", "ROOT", "THREE_MODELS", "StandInBackend", "bench_command", "level_record", "make_run",
           "make_server_run", "run_cli", "server_result", "write_series"]


class StandInBackend(Backend):
    """The backend operations a runner needs, on the host and with no GPU, for tests' subclasses to fake more:
    the model runs through Keras' own backend (TensorFlow in the tests)."""

    name = "tensorflow"

    def gpus(self):
        return []

    def to_device(self, array, device):
        return array

    def device_of(self, tensor):
        return "cpu"

    def tf32_enabled(self):
        return False

    def set_tf32(self, enabled):
        pass

    def forward_step(self, model, x):
        return lambda: model(x, training=False)


def run_cli(*args) -> tuple[int, str, str]:
    """`python -m bench ARGS` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def bench_command(results, *args) -> list[str]:
    """The command line of a real `pytest bench/` session writing into `results`."""
    return [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
            f"--rootdir={ROOT}", f"--results-dir={results}", *args]


CASES = [("mnist_cnn", "infer", 1), ("mnist_cnn", "train", 32), ("imdb_lstm", "infer", 1)]


def make_run(directory, stamp, *, scale=None, backend="tensorflow", host="ci", device="cpu",
             calibration_ms=10.0, seed=0, cases=CASES, gpu_speedup=None, flops=1.0, passes=1, pass_noise=0.0, rounds=30):
    """Writes a run with `rounds` lognormal rounds (3% noise) per case; `scale` slows chosen cases.
    Every case is as slow as `calibration_ms` says its device is (its peak is 1000 / calibration_ms).

    The rounds come in `passes` passes, each shifted by its own lognormal factor
    of spread `pass_noise`: a machine whose speed wanders during the session.

    With `gpu_speedup`, each case also gets a gpu:0 row that many times faster.
    """
    rng = np.random.default_rng(seed)
    fingerprint = {"run_id": f"{stamp}_{host}_{backend}", "timestamp_utc": stamp, "host": host,
                   "backend": backend, "calibration_matmul_ms": calibration_ms, "calibration_conv_ms": 0.0,
                   "calibration_matmul_gflops": 100.0}
    results, samples = [], []
    devices = {device: 1.0, **({"gpu:0": 1 / gpu_speedup} if gpu_speedup else {})}
    for base_ms, (model, mode, batch) in enumerate(cases, start=1):
        for name, speed in devices.items():
            factor = (scale or {}).get((model, mode, batch), 1.0) * speed
            pass_of_round = [1 + i * passes // rounds for i in range(rounds)]
            shifts = rng.lognormal(0, pass_noise, passes) if pass_noise else np.ones(passes)
            secs = list(base_ms * 1e-3 * factor * (calibration_ms / 10) * rng.lognormal(0, 0.03, rounds)
                        * shifts[np.array(pass_of_round) - 1])
            result = CaseResult(device=name, device_name="Fake GPU" if name.startswith("gpu") else "Fake CPU",
                                model=model, params=1, mode=mode, batch_size=batch, precision="float32",
                                jit_compile="off", status="ok", flops_per_sample=flops,
                                peak_gflops=1000 / calibration_ms).with_latency(secs)
            results.append(result)
            samples.append((result, list(zip(pass_of_round, secs))))
    return write_run(directory, fingerprint, results, samples)[0]


def level_record(latencies_s, *, issued_late_s=0.0, unfinished=0, rate=100.0) -> LevelRecord:
    """A load level at `rate` whose queries took `latencies_s` (the last `unfinished` never finished)."""
    scheduled = np.arange(len(latencies_s)) / rate
    completed = scheduled + np.asarray(latencies_s, dtype=float)
    if unfinished:
        completed[-unfinished:] = np.nan
    stopped = float(np.nanmax(completed)) + (1.0 if unfinished else 0.0)
    return LevelRecord(scheduled=scheduled, issued=scheduled + issued_late_s, completed=completed,
                       batch_sizes=np.ones(len(latencies_s), dtype=int), origin=0.0, stopped=stopped)


def server_result(device, qps, p99_ms, bound_ms=None, late_s=0.0) -> tuple[CaseResult, list]:
    """A server row made by the harness's own figures, and its queries as (pass, seconds): 400 queries at
    `qps`, 2% of them taking `p99_ms`, the rest 2 ms; a search's row when `bound_ms` is given."""
    latencies = np.r_[np.full(392, 0.002), np.full(8, p99_ms / 1e3)]
    figures = level_figures(level_record(latencies, rate=qps, issued_late_s=late_s), qps)
    load = Load(bound_ms=bound_ms) if bound_ms else Load(qps=qps)
    within = figures if bound_ms and figures.meets_bound(bound_ms) else None
    search = Search(bound_ms, [figures], within, within) if bound_ms else None
    result = CaseResult(device=device, device_name="Fake", model="mnist_cnn", mode="infer", scenario="server",
                        load=load.label, batch_size=8, precision="float32", jit_compile="off", status="ok",
                        flops_per_sample=1e6, peak_gflops=100.0)
    fill_row(result, figures, search, max_delay_ms=2.0)
    return result, [(1, ms / 1e3) for ms in figures.latencies_ms]


def make_server_run(directory, stamp, levels, *, host="ci", backend="tensorflow"):
    """Writes a run of server rows (server_result's arguments, one tuple per row)."""
    fingerprint = {"run_id": f"{stamp}_{host}_{backend}", "timestamp_utc": stamp, "host": host, "backend": backend,
                   "calibration_matmul_ms": 10.0, "calibration_matmul_gflops": 100.0}
    made = [server_result(*level) for level in levels]
    return write_run(directory, fingerprint, [result for result, _ in made], made)[0]


HISTORY_CASES = [("mnist_cnn", "infer", 1), ("mnist_cnn", "train", 32), ("imdb_lstm", "infer", 1)]
THREE_MODELS = [*HISTORY_CASES, ("imdb_gru", "infer", 1)]


def write_series(directory, count, *, slower_from=None, factor=1.2, machine="vm", seed=0, noise=0.01,
                 shuffle_runs=False, cases=HISTORY_CASES, run_noise=0.0):
    """`count` runs of consecutive commits, one a day; mnist_cnn infer b1 `factor` slower from run `slower_from`."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(count) if shuffle_runs else range(count)  # the order they ran in, not their commits'
    for ran, index in enumerate(order):
        commit = f"{index:02d}" * 20
        fingerprint = {"run_id": f"202611{ran + 1:02d}T000000Z_{machine}_tensorflow",
                       "timestamp_utc": f"2026-11-{ran + 1:02d}T00:00:00Z", "git_commit": commit,
                       "commit_time": f"2026-10-{index + 1:02d}T12:00:00+00:00", "machine": machine, "host": f"h{ran}",
                       "cpu_model": "Fake CPU", "backend": "tensorflow", "keras_version": "3.15.1"}
        results, samples = [], []
        machine_speed = rng.lognormal(0, run_noise)  # shared by every case of the run
        for base_ms, (model, mode, batch) in enumerate(cases, start=1):
            slow = factor if slower_from is not None and index >= slower_from and (model, mode) == ("mnist_cnn", "infer") else 1
            secs = list(base_ms * 1e-3 * slow * machine_speed * rng.lognormal(0, noise) * rng.lognormal(0, 0.01, 20))
            result = CaseResult(device="cpu", model=model, mode=mode, batch_size=batch, precision="float32",
                                status="ok").with_latency(secs)
            results.append(result)
            samples.append((result, [(1, s) for s in secs]))
        write_run(directory, fingerprint, results, samples)
