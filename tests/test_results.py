"""Statistics of a case and the run files: schema, consistency, atomic no-clobber writes."""

import numpy as np
import pandas as pd
import pytest

from bench.results import CaseResult, LatencyStats, write_run

FINGERPRINT = {"run_id": "20260101T000000Z_host_tensorflow", "timestamp_utc": "2026-01-01T00:00:00Z",
               "backend": "tensorflow"}


def test_latency_stats_of_known_samples():
    stats = LatencyStats.from_seconds([0.001 * i for i in range(1, 101)])  # 1..100 ms
    assert stats.rounds == 100
    assert stats.min_ms == pytest.approx(1) and stats.max_ms == pytest.approx(100)
    assert stats.median_ms == pytest.approx(50.5) and stats.mean_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1) and stats.p99_ms == pytest.approx(99.01)
    assert stats.stddev_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))


def test_latency_stats_are_ordered_on_skewed_samples():
    rng = np.random.default_rng(1)
    stats = LatencyStats.from_seconds(rng.lognormal(-5, 0.8, size=37))
    assert stats.min_ms <= stats.median_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms


def test_latency_stats_need_samples():
    with pytest.raises(ValueError, match="no timed rounds"):
        LatencyStats.from_seconds([])


def make_result(**overrides):
    fields = dict(device="cpu", device_name="cpu", model="mnist_cnn", params=10, mode="infer",
                  batch_size=32, precision="float32", jit_compile="off", status="ok",
                  flops_per_sample=1e6)
    return CaseResult(**{**fields, **overrides})


def test_rates_derive_from_the_median():
    result = make_result().with_latency([0.004, 0.002, 0.003])
    assert result.samples_per_s == pytest.approx(32 / 0.003)
    assert result.gflops_per_s == pytest.approx(1e6 * 32 / 0.003 / 1e9)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="Received: status='fine'"):
        make_result(status="fine")


def write(tmp_path):
    ok = make_result().with_latency([0.001, 0.002])
    skipped = make_result(device="gpu", status="skipped", message="no GPU")
    return write_run(tmp_path, FINGERPRINT, [ok, skipped], [(ok, [(1, 0.001), (2, 0.002)])])


def test_run_and_samples_files(tmp_path):
    run_path, samples_path = write(tmp_path)
    assert run_path.name == "20260101T000000Z_host_tensorflow.csv"
    assert samples_path.name == "20260101T000000Z_host_tensorflow.samples.csv"
    run = pd.read_csv(run_path)
    assert list(run["status"]) == ["ok", "skipped"]
    assert list(run.columns[:3]) == ["run_id", "timestamp_utc", "backend"]
    samples = pd.read_csv(samples_path)
    assert list(samples.columns) == ["run_id", "backend", "device", "model", "mode", "batch_size", "replicas",
                                     "precision", "jit_compile", "round", "pass", "seconds"]
    assert list(samples["seconds"]) == [0.001, 0.002]
    assert list(samples["pass"]) == [1, 2]


def test_a_second_run_in_the_same_second_never_overwrites(tmp_path):
    first, _ = write(tmp_path)
    before = first.read_bytes()
    second, second_samples = write(tmp_path)
    assert second.name == "20260101T000000Z_host_tensorflow-2.csv"
    assert second_samples.name == "20260101T000000Z_host_tensorflow-2.samples.csv"
    assert first.read_bytes() == before
    assert pd.read_csv(second)["run_id"].iloc[0] == "20260101T000000Z_host_tensorflow-2"
    assert not list(tmp_path.glob(".*tmp")), "temporary files left behind"
