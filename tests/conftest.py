"""Test settings: Keras writes its config into a temporary KERAS_HOME, never ~/.keras."""

import os
import tempfile

import pytest

# Before anything imports Keras (the root conftest's plugin does not).
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests_support import bench_command  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture
def run_bench(pytester, tmp_path):
    """Runs a real `pytest bench/` session in a subprocess; returns (result, results_dir)."""
    results_dir = tmp_path / "results"

    def run(*args, results=results_dir):
        return pytester.run(*bench_command(results, *args), timeout=600), results

    return run
