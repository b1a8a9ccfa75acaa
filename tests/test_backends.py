"""The device layer without a GPU: NVML energy faked, and the sweep's reports."""

import io
import sys
import types
from contextlib import redirect_stderr, redirect_stdout

import pytest

from bench import sweep
from bench.backends import Device
from bench.measure import DeviceEnergy

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


def run_sweep(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = sweep.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_sweep_reports_a_missing_backend_with_its_install_command(monkeypatch):
    monkeypatch.setattr("bench.backends.is_installed", lambda name: False)
    code, out, _ = run_sweep("--backends", "jax")
    assert code == 0
    assert out.strip() == "sweep: jax is not installed, skipped; install it with: pip install jax   " \
                          "(GPU: pip install 'jax[cuda12]')"


@pytest.mark.parametrize("args,message", [
    (("--backends", "tf"), "--backends: unknown value 'tf'; accepted: tensorflow, jax, torch"),
    (("--", "--backend=jax"), "--backend after --: the sweep sets each backend itself"),
    (("--models", "x"), "unknown argument '--models'; pytest's arguments go after --"),
])
def test_sweep_bad_input(args, message):
    code, out, err = run_sweep(*args)
    assert code == 2 and out == ""
    assert err.strip().startswith("error:") and message in err
