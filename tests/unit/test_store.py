"""The run files: schema, versions, atomic no-clobber writes, the fallback, reading back."""

import errno
import os
from pathlib import Path

import pandas as pd
import pytest
from tests_support import ROOT

from bench import store
from bench.results import CaseResult
from bench.store import write_run, writer


def make_result(**overrides):
    fields = dict(device="cpu", device_name="cpu", model="mnist_cnn", params=10, mode="infer",
                  batch_size=32, precision="float32", jit_compile="off", status="ok",
                  flops_per_sample=1e6)
    return CaseResult(**{**fields, **overrides})


FINGERPRINT = {"run_id": "20260101T000000Z_host_tensorflow", "timestamp_utc": "2026-01-01T00:00:00Z",
               "backend": "tensorflow"}


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
    assert list(run.columns[:4]) == ["schema_version", "run_id", "timestamp_utc", "backend"]
    assert (run["schema_version"] == store.SCHEMA_VERSION).all()
    samples = pd.read_csv(samples_path)
    assert list(samples.columns) == ["run_id", "backend", "device", "model", "model_sha256", "mode", "batch_size", "replicas",
                                     "precision", "jit_compile", "scenario", "load", "round", "pass", "seconds"]
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


def test_files_are_written_without_hard_links(tmp_path, monkeypatch):
    def no_links(*_):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # a filesystem without hard links (FAT, some network mounts)
    first, _ = write(tmp_path)
    second, _ = write(tmp_path)
    assert first.name != second.name and pd.read_csv(first)["status"].tolist() == ["ok", "skipped"]
    assert oct(first.stat().st_mode & 0o777) == oct(0o644)
    assert not list(tmp_path.glob(".*tmp"))


def test_a_failed_write_leaves_neither_file(tmp_path, monkeypatch):
    real_replace = os.replace

    def disk_full_on_the_run_file(source, target):
        if not str(target).endswith(".samples.csv"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", disk_full_on_the_run_file)
    with pytest.raises(OSError, match="No space left"):
        write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_run_the_results_directory_refuses_goes_to_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.store.writer.fallback_dir", lambda: tmp_path / "fallback")
    real_write_new = writer._write_new

    def refusing(path, frame):
        if path.parent == tmp_path / "asked":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_new(path, frame)

    monkeypatch.setattr(writer, "_write_new", refusing)
    ok = make_result().with_latency([0.001, 0.002])
    written = store.save_run(tmp_path / "asked", FINGERPRINT, [ok], [(ok, [(1, 0.001), (1, 0.002)])])
    assert written.run.parent == tmp_path / "fallback" and written.samples.exists()
    assert written.refused == f"{tmp_path / 'asked'}: No space left on device"
    assert pd.read_csv(written.run)["median_ms"].iloc[0] == pytest.approx(1.5)


@pytest.mark.parametrize("make_bad", [
    lambda tmp: tmp / "a_file" / "results",  # a path through a file
    lambda tmp: "/proc/keras-bench-results",  # a filesystem where nothing can be created
])
def test_an_unwritable_results_directory_is_one_line(tmp_path, make_bad):
    (tmp_path / "a_file").write_text("")
    directory = make_bad(tmp_path)
    with pytest.raises(store.RunFileError) as caught:
        store.check_writable(Path(directory))
    message = str(caught.value)
    assert message.startswith(f"{directory}: cannot write runs there (") and "\n" not in message


def test_the_newest_run_of_a_directory_counts_same_second_suffixes(tmp_path):
    first, _ = write(tmp_path)
    second, _ = write(tmp_path)
    third, _ = write(tmp_path)
    assert [p.name for p in store.list_runs(tmp_path)] == [first.name, second.name, third.name]
    assert store.resolve(str(tmp_path)) == third  # by name, "-2" and "-3" would sort before the first


def test_version_1_files_are_migrated_on_read(tmp_path):
    """The committed H100 runs predate schema_version, passes and calibration."""
    source = ROOT / "results" / "reference" / "h100"
    raw = pd.read_csv(source / "20261126T210826Z_vm_jax.csv")
    assert "schema_version" not in raw and (raw.query("rounds < 299")["p99_ms"].notna()).any()
    run = store.load(source / "20261126T210826Z_vm_jax.csv")
    cases = run.cases
    assert (cases["schema_version"] == store.SCHEMA_VERSION).all() and (cases["passes"] == 1).all()
    assert cases.query("rounds < 299")["p99_ms"].isna().all() and cases.query("rounds >= 299")["p99_ms"].notna().all()
    assert cases.query("rounds < 29")["p90_ms"].isna().all()
    assert cases.query("device == 'cpu'")["tf32"].isna().all()
    assert cases["calibration_matmul_gflops"].isna().all()
    assert run.samples is not None and (run.samples["pass"] == 1).all()


def test_version_1_failed_rows_lose_their_rates(tmp_path):
    path, _ = write(tmp_path)
    frame = pd.read_csv(path).drop(columns=["schema_version"])
    frame.loc[1, "samples_per_s"] = 123.0  # what version 1 could leave on a failed row
    frame.loc[1, "status"] = "error"
    migrated = store.migrate(frame, path)
    assert pd.isna(migrated.loc[1, "samples_per_s"]) and migrated.loc[0, "samples_per_s"] > 0


def test_version_2_files_gain_the_model_hash_and_their_cpu_peak(tmp_path):
    path, _ = write(tmp_path)
    frame = pd.read_csv(path).drop(columns=["model_sha256", "peak_gflops", "efficiency"])
    frame.assign(schema_version=2, host="h", calibration_matmul_gflops=100.0).to_csv(path, index=False)
    cases = store.load(path).cases
    assert (cases["schema_version"] == store.SCHEMA_VERSION).all() and (cases["model_sha256"] == "").all()
    cpu = cases[cases["device"] == "cpu"]
    assert (cpu["peak_gflops"] == 100.0).all()
    assert cpu["efficiency"].to_numpy() == pytest.approx(cpu["gflops_per_s"].to_numpy() / 100.0)
    assert set(cases["calibration_peaks_gflops"]) == {"cpu/float32=100.0"}


def test_version_3_files_are_batch_scenario_rows(tmp_path):
    path, samples_path = write(tmp_path)
    frame = pd.read_csv(path).drop(columns=["scenario", "load", "p999_ms", "offered_qps", "max_qps_at_bound"])
    frame.assign(schema_version=3, host="h").to_csv(path, index=False)
    pd.read_csv(samples_path).drop(columns=["scenario", "load"]).to_csv(samples_path, index=False)
    run = store.load(path)
    assert (run.cases["scenario"] == "batch").all() and (run.cases["load"] == "").all()
    assert (run.cases["schema_version"] == store.SCHEMA_VERSION).all() and run.samples is not None


def test_a_model_hash_that_looks_like_a_number_stays_text(tmp_path):
    path, _ = write(tmp_path)
    pd.read_csv(path).assign(model_sha256="0123456789").to_csv(path, index=False)
    assert set(store.read_rows(path)["model_sha256"]) == {"0123456789"}


def test_a_newer_schema_is_refused_in_one_line(tmp_path):
    path, _ = write(tmp_path)
    pd.read_csv(path).assign(schema_version=store.SCHEMA_VERSION + 1).to_csv(path, index=False)
    with pytest.raises(store.RunFileError, match=f"schema_version '{store.SCHEMA_VERSION + 1}' is not one this "
                                                f"harness reads .*update this checkout"):
        store.load(path)


def test_the_committed_reference_runs_compare_by_device():
    from bench.analysis.views import by_device

    table = by_device(store.load(ROOT / "results" / "reference" / "h100" / "20261126T210826Z_vm_jax.csv"))
    row = table.query("model == 'mnist_cnn' and mode == 'train' and batch_size == 128").iloc[0]
    assert row["speedup"] == pytest.approx(row["cpu_ms"] / row["gpu_ms"]) and row["speedup"] > 5
