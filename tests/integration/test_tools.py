"""The tools on real sessions and the committed reference runs: the overhead check of an absent device,
the report a session writes, the report of results/reference/."""

import pytest
from tests_support import ROOT, run_cli

pytestmark = pytest.mark.integration


def test_a_device_that_is_not_there(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    code, _, err = run_cli("overhead", "--device", "gpu:3", "--repeats", "1")
    assert code == 2
    assert err.strip() == ("error: mnist_cnn infer on gpu:3 was not timed: skipped, gpu:3 not present: "
                           "the tensorflow backend sees no GPU")


def test_benchmark_session_with_report(run_bench):
    done, results = run_bench("--models=mnist_cnn", "--modes=infer", "--batch-sizes=1", "--devices=cpu",
                              "--report")
    assert done.ret == 0, done.outlines
    (page,) = results.glob("*-report/report.html")
    done.stdout.fnmatch_lines([f"report: {page}"])
    assert {p.name for p in page.parent.iterdir()} >= {"report.md", "throughput_infer.png", "efficiency.png"}


def test_the_committed_reference_runs_make_a_report_with_the_gpu_speedups(tmp_path):
    """Version-1 files (no schema_version, passes or calibration) are migrated on read."""
    code, out, err = run_cli("report", ROOT / "results" / "reference" / "h100", "--out", tmp_path / "report")
    assert code == 0, err
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"speedup_1.png", "throughput_train.png", "latency_batch1.png"} <= names
    assert "gpu:0 (NVIDIA H100 80GB HBM3) over cpu, jax, infer" in (tmp_path / "report" / "report.md").read_text()
