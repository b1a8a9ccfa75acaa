"""Fixed workloads timed once per session, to tell machines (and busy moments) apart and to give each
device the yardstick its efficiency is measured against.

The CPU: a float32 matmul through numpy's BLAS gives its measured float32 peak
(GFLOP/s), a small convolution through the Keras backend adds what the backend's
own kernels do on this machine, and a bfloat16 matmul through the backend gives
its bfloat16 peak. Every GPU a run used: matmuls through the backend in float32
(TensorFloat-32 off), TF32, bfloat16 and float16, timed after the cases (so that
JAX's process-long peak of device memory is the cases' own). A precision the
backend cannot run on a device is left out. A row's `peak_gflops` is its
device's peak at the precision its matmuls ran in (see compute_precision).
"""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np

MATMUL_N = 1024  # numpy's product: 2 * 1024^3 = 2.1 GFLOP
CONV_INPUT, CONV_KERNEL = (8, 64, 64, 32), (3, 3, 32, 32)
# Backend matmuls: size, and independent products per timed call (one synchronization each), so that a
# GPU's launch and synchronization costs are a few percent of the call.
BACKEND_MATMUL = {"cpu": (512, 1), "gpu": (4096, 8)}
PRECISIONS = {"cpu": ("bfloat16",), "gpu": ("float32", "tf32", "bfloat16", "float16")}
PEAKS_COLUMN = "calibration_peaks_gflops"  # every measured peak of the run: "cpu/float32=151.2; gpu:0/tf32=..."
NUMERIC_COLUMNS = ("calibration_matmul_ms", "calibration_matmul_gflops", "calibration_conv_ms")
COLUMNS = (*NUMERIC_COLUMNS, PEAKS_COLUMN)


def _median_time(call, *, budget_s: float, min_calls: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        call()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate(cpu_scope, *, budget_s: float = 0.5) -> dict:
    """Times numpy's matmul and the backend's convolution on the CPU (the convolution inside `cpu_scope`);
    returns the run's calibration columns (the peaks column holds the CPU's float32 peak)."""
    import keras

    rng = np.random.default_rng(0)
    a, b = (rng.random((MATMUL_N, MATMUL_N), dtype=np.float32) for _ in range(2))
    matmul_s = _median_time(lambda: a @ b, budget_s=budget_s)
    with cpu_scope:
        x = keras.ops.convert_to_tensor(rng.random(CONV_INPUT, dtype=np.float32))
        kernel = keras.ops.convert_to_tensor(rng.random(CONV_KERNEL, dtype=np.float32))
        conv_s = _median_time(lambda: keras.ops.convert_to_numpy(keras.ops.conv(x, kernel)), budget_s=budget_s)
    gflops = 2 * MATMUL_N**3 / matmul_s / 1e9
    return {
        "calibration_matmul_ms": matmul_s * 1e3,
        "calibration_matmul_gflops": gflops,
        "calibration_conv_ms": conv_s * 1e3,
        PEAKS_COLUMN: format_peaks({("cpu", "float32"): gflops}),
    }


def device_peaks(backend, device, *, budget_s: float = 0.3) -> dict[tuple[str, str], float]:
    """{(device, precision): GFLOP/s} of the backend's matmul on `device`, for each precision that applies
    (PRECISIONS) and that the backend runs there. TensorFloat-32 is switched per precision on a GPU and
    set back as it was."""
    kind = "gpu" if device.is_gpu else "cpu"
    n, products = BACKEND_MATMUL[kind]
    tf32_before = backend.tf32_enabled() if device.is_gpu else None
    peaks = {}
    try:
        for precision in PRECISIONS[kind]:
            if device.is_gpu:
                backend.set_tf32(precision == "tf32")
            try:
                seconds = _median_time(_matmul_call(backend, device, precision, n, products),
                                       budget_s=budget_s, min_calls=3, warmup=1)
            except Exception:  # this backend cannot run the precision here: no peak, no efficiency
                continue
            peaks[(device.name, precision)] = products * 2 * n**3 / seconds / 1e9
    finally:
        if device.is_gpu:
            backend.set_tf32(tf32_before)
    return peaks


def _matmul_call(backend, device, precision: str, n: int, products: int):
    import keras

    dtype = "float32" if precision == "tf32" else precision
    rng = np.random.default_rng(0)
    with backend.device_scope(device):
        a, b = (keras.ops.cast(backend.to_device(rng.random((n, n), dtype=np.float32), device), dtype)
                for _ in range(2))

    def call():
        with backend.device_scope(device):
            for _ in range(products):
                out = keras.ops.matmul(a, b)
            backend.synchronize(device)
            # The host reads one element: the device has finished (streams run in order).
            return float(keras.ops.convert_to_numpy(keras.ops.cast(out[0, 0], "float32")))

    call()  # fails here, not while timing, when the precision cannot run
    return call


def compute_precision(policy: str, tf32: str) -> str:
    """The precision a row's matmuls run in: its dtype policy's compute dtype, and TF32 for float32 on a
    GPU that allowed it (tf32 "on")."""
    if policy == "mixed_bfloat16":
        return "bfloat16"
    if policy == "mixed_float16":
        return "float16"
    return "tf32" if tf32 == "on" else "float32"


def format_peaks(peaks: dict[tuple[str, str], float]) -> str:
    return "; ".join(f"{device}/{precision}={gflops:.1f}" for (device, precision), gflops in peaks.items())


def parse_peaks(text) -> dict[tuple[str, str], float]:
    """The peaks column back into {(device, precision): GFLOP/s}; empty for a missing or malformed value."""
    peaks = {}
    for item in str(text).split(";") if isinstance(text, str) else ():
        where, _, value = item.strip().partition("=")
        device, _, precision = where.partition("/")
        with contextlib.suppress(ValueError):
            peaks[(device, precision)] = float(value)
    return peaks
