"""Test settings: Keras writes its config into a temporary KERAS_HOME, never ~/.keras.

Tests that need an optional Keras backend carry `@pytest.mark.backend("jax")`: they
skip, saying so, where it is not installed, and fail instead when
KERAS_BENCH_REQUIRE_BACKENDS=1 (CI sets it after installing them, so a skip
cannot hide a broken backend).
"""

import os
import tempfile

import pytest

# Before anything imports Keras (the root conftest's plugin does not).
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests_support import bench_command  # noqa: E402

from bench import backends  # noqa: E402

pytest_plugins = ["pytester"]
REQUIRE_BACKENDS = "KERAS_BENCH_REQUIRE_BACKENDS"

# The tests run on the default backend, and those that need another carry its marker and skip where
# it is absent: a KERAS_BACKEND naming a backend that is not installed does not stop them (the
# benchmark sessions they start choose their backend themselves).
ABSENT_BACKEND = os.environ.get("KERAS_BACKEND")
if ABSENT_BACKEND in backends.BACKEND_NAMES and not backends.is_installed(ABSENT_BACKEND):
    del os.environ["KERAS_BACKEND"]
else:
    ABSENT_BACKEND = None


def pytest_report_header():
    if ABSENT_BACKEND:
        return (f"KERAS_BACKEND={ABSENT_BACKEND}: not installed ({backends.INSTALL_HINTS[ABSENT_BACKEND]}); the tests "
                "run on tensorflow, and those that need it skip")


def pytest_runtest_setup(item):
    for marker in item.iter_markers("backend"):
        for name in marker.args:
            if not backends.is_installed(name):
                reason = f"the {name} backend is not installed ({backends.INSTALL_HINTS[name]})"
                if os.environ.get(REQUIRE_BACKENDS) == "1":
                    pytest.fail(f"{REQUIRE_BACKENDS}=1 but {reason}", pytrace=False)
                pytest.skip(reason)


@pytest.fixture
def run_bench(pytester, tmp_path):
    """Runs a real `pytest bench/` session in a subprocess; returns (result, results_dir)."""
    results_dir = tmp_path / "results"

    def run(*args, results=results_dir):
        return pytester.run(*bench_command(results, *args), timeout=600), results

    return run
