"""The sweep: one `pytest bench/` process per Keras backend.

Keras fixes its backend per process, so the sweep runs one session per backend,
each leaving its own run in the results directory, and reports the backends that
are not installed with the command that installs them. Then `python -m bench
compare --by backend RUN...` sets them side by side.
"""

from __future__ import annotations

import subprocess
import sys

from bench import ROOT, backends


def sweep(names: tuple[str, ...], pytest_args: list[str]) -> int:
    """Runs the sessions; returns 0 when every installed backend's session passed, else 1."""
    failed = []
    for name in names:
        if not backends.is_installed(name):
            print(f"sweep: {name} is not installed, skipped; install it with: {backends.INSTALL_HINTS[name]}")
            continue
        print(f"sweep: {name}", flush=True)
        command = [sys.executable, "-m", "pytest", str(ROOT / "bench"), f"--backend={name}", *pytest_args]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
    if failed:
        print(f"sweep: the session failed for {', '.join(failed)}")
        return 1
    return 0
