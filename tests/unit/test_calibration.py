"""The calibration's per-device peaks: every precision that applies, through a faked GPU device layer (the
real GPU path runs on a lent machine: results/reference/), and which peak a row is measured against."""

import contextlib
import math

import pytest

from bench.backends import Device
from bench.calibration import compute_precision, device_peaks, format_peaks, parse_peaks
from bench.results import CaseResult


class FakeGpuBackend:
    """The Backend calls device_peaks makes, answered on the CPU for a device that claims to be gpu:0;
    it records TF32 switches, and runs no float16 (as some CPU-only builds would not)."""

    def __init__(self):
        self.tf32 = True
        self.switches = []

    def tf32_enabled(self):
        return self.tf32

    def set_tf32(self, enabled):
        self.switches.append(enabled)
        self.tf32 = enabled

    def device_scope(self, device):
        return contextlib.nullcontext()

    def to_device(self, array, device):
        import keras

        return keras.ops.convert_to_tensor(array)

    def synchronize(self, device):
        pass


def test_a_gpu_gets_a_peak_per_precision_it_runs_and_tf32_is_set_back(monkeypatch):
    import keras

    backend, gpu = FakeGpuBackend(), Device("gpu:0", "Fake GPU")
    real_cast = keras.ops.cast

    def cast(x, dtype):
        if dtype == "float16":
            raise TypeError("no float16 here")
        return real_cast(x, dtype)

    monkeypatch.setattr(keras.ops, "cast", cast)
    monkeypatch.setattr("bench.calibration.BACKEND_MATMUL", {"cpu": (64, 1), "gpu": (128, 2)})
    peaks = device_peaks(backend, gpu, budget_s=0.01)
    assert set(peaks) == {("gpu:0", "float32"), ("gpu:0", "tf32"), ("gpu:0", "bfloat16")}  # float16 left out
    assert all(value > 0 for value in peaks.values())
    assert backend.switches == [False, True, False, False, True]  # per precision, then set back
    assert backend.tf32 is True


def test_a_row_is_measured_against_its_own_device_and_precision():
    assert compute_precision("float32", "on") == "tf32"
    assert compute_precision("float32", "off") == compute_precision("float32", "") == "float32"
    assert compute_precision("mixed_bfloat16", "on") == "bfloat16"
    assert compute_precision("mixed_float16", "") == "float16"
    row = CaseResult(device="gpu:0", model="m", mode="infer", batch_size=4, precision="float32", status="ok",
                     flops_per_sample=1e9).with_latency([0.004, 0.004])
    assert row.with_peak(2000.0).efficiency == pytest.approx(row.gflops_per_s / 2000.0)
    assert math.isnan(row.with_peak(math.nan).efficiency)


def test_the_peaks_column_reads_back():
    peaks = {("cpu", "float32"): 151.25, ("gpu:0", "tf32"): 347714.0}
    assert parse_peaks(format_peaks(peaks)) == pytest.approx({("cpu", "float32"): 151.2, ("gpu:0", "tf32"): 347714.0},
                                                             abs=0.06)
    assert parse_peaks(float("nan")) == {} and parse_peaks("cpu/float32=x") == {}
