"""The tools on real sessions and the committed reference runs: the overhead check of an absent device,
the report of results/reference/, the tests under a KERAS_BACKEND that is not installed."""

import sys

import pytest
from tests_support import ROOT, run_cli

pytestmark = pytest.mark.integration


@pytest.mark.slow  # 12 s: a real session of the overhead check; CI runs it
def test_a_device_that_is_not_there(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    code, _, err = run_cli("overhead", "--device", "gpu:3", "--repeats", "1")
    assert code == 2
    assert err.strip() == ("error: mnist_cnn infer on gpu:3 was not timed: skipped, gpu:3 not present: "
                           "the tensorflow backend sees no GPU")


def test_the_committed_reference_runs_make_a_report_with_the_gpu_speedups(tmp_path):
    """Version-1 files (no schema_version, passes or calibration) are migrated on read."""
    code, out, err = run_cli("report", ROOT / "results" / "reference" / "h100", "--out", tmp_path / "report")
    assert code == 0, err
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"speedup_1.png", "throughput_train.png", "latency_batch1.png"} <= names
    assert "gpu:0 (NVIDIA H100 80GB HBM3) over cpu, jax, infer" in (tmp_path / "report" / "report.md").read_text()


def test_the_tests_run_when_keras_backend_names_an_absent_backend(pytester, monkeypatch):
    """The tests' own conftest drops such a KERAS_BACKEND (the tests that need that backend skip)."""
    from bench import backends

    absent = next((name for name in backends.BACKEND_NAMES if not backends.is_installed(name)), None)
    if absent is None:
        pytest.skip("every Keras backend is installed here: none is absent")
    monkeypatch.setenv("KERAS_BACKEND", absent)
    done = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
                        str(ROOT / "tests" / "unit" / "test_docs.py"), timeout=300)
    assert done.ret == 0, done.outlines
    done.stdout.fnmatch_lines([f"KERAS_BACKEND={absent}: not installed (*); the tests run on tensorflow*"])
