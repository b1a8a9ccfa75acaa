"""Seeing the NVIDIA GPUs without a backend (NVML, the driver's files, nvidia-smi: all faked here), and the line
that tells a user whose backend cannot use them what to type."""

import subprocess
from types import SimpleNamespace

import pytest
from tests_support import StandInBackend

from bench import backends, hardware
from bench.backends import Device
from bench.hardware import NvidiaGpu
from bench.options import HarnessConfig
from bench.session import BenchSession

H100 = NvidiaGpu("NVIDIA H100 80GB HBM3", 81559.0, "580.95.05")


class FakeNvml:
    def __init__(self, names, *, fail=False):
        self.names, self.fail = names, fail

    def nvmlInit(self):
        if self.fail:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        pass

    def nvmlSystemGetDriverVersion(self):
        return b"580.95.05"

    def nvmlDeviceGetCount(self):
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return self.names[handle]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=81559 * 2**20)


def test_nvml_names_every_gpu_with_its_memory_and_the_driver():
    assert hardware.from_nvml(FakeNvml(["NVIDIA H100 80GB HBM3", b"NVIDIA H100 80GB HBM3"])) == [H100, H100]
    assert hardware.from_nvml(FakeNvml([], fail=True)) == []


def test_the_driver_files_name_the_gpus_and_the_driver(tmp_path):
    for bus in ("0000:3b:00.0", "0000:86:00.0"):
        (tmp_path / "gpus" / bus).mkdir(parents=True)
        (tmp_path / "gpus" / bus / "information").write_text(
            "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\nGPU UUID: \t GPU-1234\nBus Type: \t PCIe\n")
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release "
                                      "Build  (dvs-builder@U16-I3-B03-4-3)  Tue Sep 23 09:55:41 UTC 2025\n"
                                      "GCC version:  gcc version 12.2.0\n")
    assert hardware.from_driver_files(tmp_path) == [NvidiaGpu("NVIDIA H100 80GB HBM3", None, "580.95.05")] * 2
    assert hardware.from_driver_files(tmp_path / "absent") == []


def test_nvidia_smi_is_read_where_it_answers():
    def smi(args, **kwargs):
        assert args[0] == "nvidia-smi"
        return subprocess.CompletedProcess(args, 0, stdout="NVIDIA H100 80GB HBM3, 81559, 580.95.05\n", stderr="")

    def failing(args, **kwargs):
        return subprocess.CompletedProcess(args, 9, stdout="", stderr="NVIDIA-SMI has failed")

    assert hardware.from_nvidia_smi(smi) == [H100]
    assert hardware.from_nvidia_smi(failing) == []


def test_the_first_source_that_answers_wins_and_none_means_no_gpu(monkeypatch):
    hardware.nvidia_gpus.cache_clear()
    monkeypatch.setattr(hardware, "from_nvml", lambda: [])
    monkeypatch.setattr(hardware, "from_driver_files", lambda: [])
    monkeypatch.setattr(hardware, "from_nvidia_smi", lambda: [H100])
    assert hardware.nvidia_gpus() == (H100,)
    hardware.nvidia_gpus.cache_clear()
    monkeypatch.setattr(hardware, "from_nvidia_smi", lambda: [])
    assert hardware.nvidia_gpus() == ()
    hardware.nvidia_gpus.cache_clear()


def test_the_fingerprint_counts_each_kind_and_names_the_driver():
    other = NvidiaGpu("NVIDIA L4", 23034.0, "580.95.05")
    assert hardware.fingerprint([H100, H100, other]) == {
        "nvidia_gpus": "2 x NVIDIA H100 80GB HBM3 (81559 MiB); 1 x NVIDIA L4 (23034 MiB)", "nvidia_driver": "580.95.05"}
    assert hardware.fingerprint([]) == {"nvidia_gpus": "", "nvidia_driver": ""}


@pytest.mark.parametrize("backend, cpu_build, driver, command", [
    ("tensorflow", True, "580.95.05", "python -m pip uninstall -y tensorflow-cpu && python -m pip install '.[gpu]'"),
    ("tensorflow", False, "580.95.05", "python -m pip install '.[gpu]'"),
    ("jax", False, "580.95.05", "python -m pip install -U 'jax[cuda13]'"),
    ("jax", False, "550.54.15", "python -m pip install -U 'jax[cuda12]'"),
    ("torch", False, "580.95.05",
     "python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu130"),
    ("torch", False, "535.104.05",
     "python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu126"),
])
def test_the_hint_gives_the_command_for_the_backend_and_the_driver(monkeypatch, backend, cpu_build, driver, command):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("bench.backends.tensorflow.distribution_installed", lambda name: cpu_build)
    gpus = [NvidiaGpu("NVIDIA H100 80GB HBM3", 81559.0, driver)]
    assert backends.gpu_hint(backends.BACKENDS[backend], gpus) == (
        f"this machine has 1 x NVIDIA H100 80GB HBM3 (81559 MiB) that the {backend} backend cannot use; "
        f"to use them: {command}")


def test_the_hint_names_what_else_keeps_the_gpu_away(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert backends.gpu_hint(backends.BACKENDS["jax"], [H100]).endswith("CUDA_VISIBLE_DEVICES='' hides them; unset it")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    old = NvidiaGpu("Tesla K80", 11441.0, "470.82.01")
    assert backends.gpu_hint(backends.BACKENDS["jax"], [old]).endswith(
        "its driver (470.82.01) is older than CUDA 12 needs (525); update the NVIDIA driver")


class CpuOnlyBackend(StandInBackend):
    """A backend that sees no GPU (its CPU-only build)."""

    def gpu_command(self, cuda_major):
        return "python -m pip install '.[gpu]'"


@pytest.fixture
def cpu_only_session(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("bench.backends.active", lambda: CpuOnlyBackend())
    monkeypatch.setattr("bench.plan.device_table", lambda backend: {"cpu": Device("cpu", "Fake CPU")})

    def session(gpus):
        monkeypatch.setattr(hardware, "nvidia_gpus", lambda: tuple(gpus))
        return BenchSession(HarnessConfig.from_values({"models": "mnist_cnn", "devices": "cpu,gpu"}))
    return session


def test_gpu_rows_skip_with_the_command_when_the_backend_cannot_use_the_gpu(cpu_only_session):
    plan = cpu_only_session([H100]).plan
    hint = ("this machine has 1 x NVIDIA H100 80GB HBM3 (81559 MiB) that the tensorflow backend cannot use; "
            "to use them: python -m pip install '.[gpu]'")
    assert plan.gpu_hint() == hint
    assert plan.missing_device_reason("gpu") == f"gpu not present: the tensorflow backend sees no GPU; {hint}"
    assert plan.no_gpu_error() == f"--require-gpu: the tensorflow backend sees no GPU; {hint}"


def test_no_hint_on_a_machine_without_a_gpu(cpu_only_session):
    plan = cpu_only_session([]).plan
    assert plan.gpu_hint() is None
    assert plan.missing_device_reason("gpu") == "gpu not present: the tensorflow backend sees no GPU"
    assert plan.no_gpu_error() == "--require-gpu: the tensorflow backend sees no GPU"


def test_the_summary_ends_with_the_hint_only_when_there_is_one():
    from bench.output.summary import summary_lines

    assert summary_lines([], gpu_hint="this machine has ...")[-1] == "GPU: this machine has ..."
    assert not any(line.startswith("GPU:") for line in summary_lines([]))
