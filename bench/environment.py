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


def _git(directory: Path, *args) -> str:
    """git's answer in `directory`; '' outside git (or without git)."""
    try:
        done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_commit(directory: Path) -> str:
    """HEAD's hash, with '+dirty' when tracked files have uncommitted changes; '' outside git."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit and _git(directory, "status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return commit


def commit_time(directory: Path) -> str:
    """HEAD's committer time, ISO 8601 with its offset ('2026-12-02T14:37:18+01:00'); '' outside git.
    The history orders runs by it: the commit measured, not the moment it was measured."""
    return _git(directory, "show", "-s", "--format=%cI", "HEAD")


# What a CPU's or GPU's marketing name adds to the model (bench.environment.machine_name drops it).
_CPU_NOISE = re.compile(r"\((?:R|TM|C)\)|\bCPU\b|\bProcessor\b|@\s*[\d.]+\s*[GM]Hz|\b\d+-Core\b"
                        r"|\bwith\b.*\bGraphics\b", re.IGNORECASE)
_GPU_NOISE = re.compile(r"\bNVIDIA\b|\(\s*[\d.]+\s*[MG]iB\s*\)|\b\d+\s*[GM]B\b", re.IGNORECASE)
_GPU_KIND = re.compile(r"\s*(\d+)\s*x\s*(.+?)\s*$")
_CPU_SLUG_CHARS = 40  # a long brand string still leaves the name readable (and under --machine's 64)


def machine_name(cpu_model, cpu_cores, ram_gb, nvidia_gpus) -> str:
    """The machine's default name: a slug of its hardware, stable across CI runners whose host names change.

    'intel-xeon-platinum-8481c-2c-24g', 'amd-epyc-9654-16c-128g-1xh200': the CPU model without its
    marketing noise, the usable cores, the RAM in whole GiB, each kind of NVIDIA GPU with its count
    (`nvidia_gpus` as bench.hardware.describe writes it). A part that is unknown (empty or NaN, as in
    older run files) is left out. Runs of older files get the same name from their own columns.
    """
    cpu = _slug(_CPU_NOISE.sub(" ", _text(cpu_model)))[:_CPU_SLUG_CHARS].strip("-")
    cores, ram = _whole(cpu_cores), _whole(ram_gb)
    gpus = []
    for kind in filter(None, (part.strip() for part in _text(nvidia_gpus).split(";"))):
        match = _GPU_KIND.fullmatch(kind)
        count, name = (match.group(1), match.group(2)) if match else ("1", kind)
        gpus.append(f"{count}x{_slug(_GPU_NOISE.sub(' ', name))}")
    parts = [cpu, f"{cores}c" if cores else "", f"{ram}g" if ram else "", *gpus]
    return "-".join(part for part in parts if part)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _text(value) -> str:
    return "" if value is None or value != value else str(value)  # NaN: a column an older file lacks


def _whole(value) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number + 0.5) if number == number and number > 0 else 0


def run_fingerprint(*, backend_name: str, backend_version: str, keras_version: str, source_dir: Path,
                    nvidia_gpus: str = "", machine: str | None = None, now: datetime | None = None) -> dict:
    """The run-level columns of every row: when, where and with what it ran.

    Args:
        nvidia_gpus: the machine's NVIDIA GPUs (bench.hardware.describe), part of its default name.
        machine: --machine; None names the machine after its hardware (machine_name).
    """
    now = now or datetime.now(timezone.utc)
    host = socket.gethostname()
    model, cores, ram_gb = cpu_model(), usable_cores(), round(psutil.virtual_memory().total / 2**30, 1)
    return {
        "run_id": make_run_id(now, host, backend_name),
        "timestamp_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": git_commit(source_dir),
        "commit_time": commit_time(source_dir),
        "host": host,
        "machine": machine or machine_name(model, cores, ram_gb, nvidia_gpus),
        "cpu_model": model,
        "cpu_cores": cores,
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python_version": platform.python_version(),
        "backend": backend_name,
        "backend_version": backend_version,
        "keras_version": keras_version,
        "recovered": False,  # True on a run assembled from the journal of a session that was killed
    }


def make_run_id(now: datetime, host: str, backend_name: str) -> str:
    """'20261126T204512Z_myhost_tensorflow': sorts by time, safe as a file name."""
    safe_host = re.sub(r"[^A-Za-z0-9-]+", "-", host.split(".")[0]).strip("-") or "host"
    return f"{now:%Y%m%dT%H%M%SZ}_{safe_host}_{backend_name}"

