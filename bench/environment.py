"""The fingerprint of the machine and software a run was measured on."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import psutil


def cpu_model() -> str:
    """The CPU's marketing name, e.g. 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:  # macOS
        return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or platform.processor()
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Logical cores this process may run on (respects affinity and cgroups' cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def git_commit(directory: Path) -> str:
    """HEAD's hash, with '+dirty' when tracked files have uncommitted changes; '' outside git."""
    def git(*args):
        done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""
    try:
        commit = git("rev-parse", "HEAD")
        if commit and git("status", "--porcelain", "--untracked-files=no"):
            commit += "+dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return ""


def run_fingerprint(*, backend_name: str, backend_version: str, keras_version: str,
                    source_dir: Path, now: datetime | None = None) -> dict:
    """The run-level columns of every row: when, where and with what it ran."""
    now = now or datetime.now(timezone.utc)
    host = socket.gethostname()
    return {
        "run_id": make_run_id(now, host, backend_name),
        "timestamp_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": git_commit(source_dir),
        "host": host,
        "cpu_model": cpu_model(),
        "cpu_cores": usable_cores(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python_version": platform.python_version(),
        "backend": backend_name,
        "backend_version": backend_version,
        "keras_version": keras_version,
    }


def make_run_id(now: datetime, host: str, backend_name: str) -> str:
    """'20261126T204512Z_myhost_tensorflow': sorts by time, safe as a file name."""
    safe_host = re.sub(r"[^A-Za-z0-9-]+", "-", host.split(".")[0]).strip("-") or "host"
    return f"{now:%Y%m%dT%H%M%SZ}_{safe_host}_{backend_name}"

