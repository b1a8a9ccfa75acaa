"""Helpers shared by the tests (conftest.py is not importable: the root has one too)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_command(results, *args) -> list[str]:
    """The command line of a real `pytest bench/` session writing into `results`."""
    return [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
            f"--rootdir={ROOT}", f"--results-dir={results}", *args]
