"""What is measured around the rounds: NVML energy with a faked pynvml (no GPU needed)."""

import sys
import types

import pytest

from bench.backends import Device
from bench.meters import DeviceEnergy


GPU = Device("gpu:0", "Fake GPU")


def fake_nvml(monkeypatch, readings_mj, *, fails=False):
    """A stand-in pynvml whose energy counter returns `readings_mj` one after another."""
    readings = iter(readings_mj)

    class NVMLError(Exception):
        pass

    def energy(handle):
        if fails:
            raise NVMLError("Not Supported")
        return next(readings)

    module = types.SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda index: index,
                                   nvmlDeviceGetTotalEnergyConsumption=energy, NVMLError=NVMLError)
    monkeypatch.setitem(sys.modules, "pynvml", module)


def test_energy_over_the_timed_rounds(monkeypatch):
    fake_nvml(monkeypatch, [0, 1_000, 6_000])  # probe at start-up, then 1 J -> 6 J: 5 J
    with DeviceEnergy(GPU) as energy:
        pass
    assert energy.joules == pytest.approx(5.0)


def test_no_energy_on_the_cpu_or_without_a_counter(monkeypatch):
    fake_nvml(monkeypatch, [0, 0, 0])
    with DeviceEnergy(Device("cpu", "a CPU")) as energy:
        pass
    assert energy.joules is None
    fake_nvml(monkeypatch, [], fails=True)
    with DeviceEnergy(GPU) as energy:
        pass
    assert energy.joules is None


def test_no_energy_without_nvidia_ml_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    with DeviceEnergy(GPU) as energy:
        pass
    assert energy.joules is None
