"""Test settings: Keras writes its config into a temporary KERAS_HOME, never ~/.keras."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Before anything imports Keras (the root conftest's plugin does not).
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]


@pytest.fixture
def run_bench(pytester, tmp_path):
    """Runs a real `pytest bench/` session in a subprocess; returns (result, results_dir)."""
    results_dir = tmp_path / "results"

    def run(*args, results=results_dir):
        result = pytester.run(sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
                              f"--rootdir={ROOT}", f"--results-dir={results}", *args, timeout=600)
        return result, results

    return run
