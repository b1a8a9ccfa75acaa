"""A fixed workload timed once per session, to tell machines (and busy moments) apart.

A float32 matmul through numpy's BLAS gives the CPU's measured peak
(GFLOP/s, the yardstick for efficiency), and a small convolution through the
Keras backend adds what the backend's own kernels do on this machine.
`compare --normalize` divides each run's medians by its calibration time.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

MATMUL_N = 1024  # one product: 2 * 1024^3 = 2.1 GFLOP
CONV_INPUT, CONV_KERNEL = (8, 64, 64, 32), (3, 3, 32, 32)
COLUMNS = ("calibration_matmul_ms", "calibration_matmul_gflops", "calibration_conv_ms")


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
    """Times the workload on the CPU (the convolution inside `cpu_scope`); returns the run's calibration columns."""
    import keras

    rng = np.random.default_rng(0)
    a, b = (rng.random((MATMUL_N, MATMUL_N), dtype=np.float32) for _ in range(2))
    matmul_s = _median_time(lambda: a @ b, budget_s=budget_s)
    with cpu_scope:
        x = keras.ops.convert_to_tensor(rng.random(CONV_INPUT, dtype=np.float32))
        kernel = keras.ops.convert_to_tensor(rng.random(CONV_KERNEL, dtype=np.float32))
        conv_s = _median_time(lambda: keras.ops.convert_to_numpy(keras.ops.conv(x, kernel)), budget_s=budget_s)
    return {
        "calibration_matmul_ms": matmul_s * 1e3,
        "calibration_matmul_gflops": 2 * MATMUL_N**3 / matmul_s / 1e9,
        "calibration_conv_ms": conv_s * 1e3,
    }
