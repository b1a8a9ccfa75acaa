"""The NVIDIA GPUs this machine has, whatever the Keras backend can use.

Asked of the driver, never of a backend: NVML (nvidia-ml-py, where installed), else the
driver's own files (/proc/driver/nvidia), else `nvidia-smi`. None of them is a
dependency: on a machine without an NVIDIA driver every source is absent and the
answer is no GPU. The harness records what it finds in the run's fingerprint, and tells
a user whose backend cannot use the GPU how to make it (bench.backends' gpu_hint).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DRIVER_FILES = Path("/proc/driver/nvidia")


@dataclass(frozen=True)
class NvidiaGpu:
    """A GPU as the driver reports it.

    Args:
        name: the model, e.g. "NVIDIA H100 80GB HBM3".
        memory_mb: its memory in MiB, where the source reports it.
        driver: the driver's version, e.g. "580.159.04" ("" where unknown).
    """

    name: str
    memory_mb: float | None
    driver: str


@functools.cache
def nvidia_gpus() -> tuple[NvidiaGpu, ...]:
    """The machine's NVIDIA GPUs, from the first source that answers (cached: the hardware does not change)."""
    for source in (from_nvml, from_driver_files, from_nvidia_smi):
        gpus = source()
        if gpus:
            return tuple(gpus)
    return ()


def from_nvml(nvml=None) -> list[NvidiaGpu]:
    """NVML's view (`nvml`: the pynvml module; imported when not given); [] where NVML is absent or fails."""
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
    except Exception:  # not installed, no driver, no library: the next source is asked
        return []
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(NvidiaGpu(_text(nvml.nvmlDeviceGetName(handle)),
                                  nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20, driver))
        return gpus
    except Exception:
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def from_driver_files(root: Path = DRIVER_FILES) -> list[NvidiaGpu]:
    """The kernel driver's files: one gpus/<bus id>/information per GPU (its model; no memory), and the
    driver's version in `version`."""
    try:
        informations = sorted((root / "gpus").glob("*/information"))
        version = (root / "version").read_text() if (root / "version").exists() else ""
    except OSError:
        return []
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", version)
    driver = match.group(1) if match else ""
    gpus = []
    for path in informations:
        try:
            model = re.search(r"^Model:\s*(.+?)\s*$", path.read_text(), re.MULTILINE)
        except OSError:
            continue
        gpus.append(NvidiaGpu(model.group(1) if model else "NVIDIA GPU", None, driver))
    return gpus


def from_nvidia_smi(run=subprocess.run) -> list[NvidiaGpu]:
    """`nvidia-smi`'s view, where it is on the PATH."""
    if run is subprocess.run and shutil.which("nvidia-smi") is None:
        return []
    try:
        done = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                   capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    gpus = []
    for line in done.stdout.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == 3 and fields[0]:
            memory = float(fields[1]) if re.fullmatch(r"[\d.]+", fields[1]) else None
            gpus.append(NvidiaGpu(fields[0], memory, fields[2]))
    return gpus


def describe(gpus) -> str:
    """The GPUs in one cell: "2 x NVIDIA H100 80GB HBM3 (81559 MiB)", kinds separated by "; "."""
    kinds: dict[str, int] = {}
    for gpu in gpus:
        memory = f" ({gpu.memory_mb:.0f} MiB)" if gpu.memory_mb else ""
        kinds[gpu.name + memory] = kinds.get(gpu.name + memory, 0) + 1
    return "; ".join(f"{count} x {kind}" for kind, count in kinds.items())


def fingerprint(gpus) -> dict:
    """The run's columns: the NVIDIA GPUs the machine has (whatever the backend sees) and the driver."""
    return {"nvidia_gpus": describe(gpus), "nvidia_driver": next((gpu.driver for gpu in gpus if gpu.driver), "")}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
