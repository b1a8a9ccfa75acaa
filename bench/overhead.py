"""The overhead check: does the harness add anything to what it measures?

Times one case twice, alternately, each in a fresh process: through a real
`pytest bench/` session (its median read from the run CSV) and through a bare
loop over the same compiled call (predict_on_batch / train_on_batch on a
device-resident batch, result fetched to the host). The two medians should
agree within the machine's noise; a harness that added overhead would show
here as a ratio above 1.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import models
from bench import ROOT, backends, store
from bench.parsers import OptionError


def threads_args(threads: tuple[int, int] | None) -> list[str]:
    """The --threads option that gives both sides the same CPU thread pools (none: the backend's own)."""
    return [f"--threads={threads[0]},{threads[1]}"] if threads else []


def bare_median_ms(model_name: str, mode: str, batch_size: int, device_name: str, rounds: int, *,
                   threads: tuple[int, int] | None = None) -> float:
    """Median of `rounds` timed calls of the mode's step, after a first call and warm-up."""
    import keras

    from bench.plan import device_table
    from bench.timing import MODE_STEPS

    backend = backends.active()
    if threads:
        backend.set_threads(*threads)
    device = device_table(backend)[device_name]
    spec = models.get(model_name)
    with keras.device(device.keras_name):
        model = spec.build()
        x, y = (backend.to_device(a, device) for a in spec.synthetic_batch(batch_size))
        step = MODE_STEPS[mode](model, x, y, batch_size)
        for _ in range(10):
            step()
            backend.synchronize(device)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            step()
            backend.synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bare_median_ms_in_subprocess(model_name, mode, batch_size, device_name, backend_name, rounds, threads) -> float:
    command = [sys.executable, "-m", "bench", "overhead", f"--model={model_name}", f"--mode={mode}",
               f"--batch-size={batch_size}", f"--device={device_name}", f"--backend={backend_name}",
               f"--bare-loop-rounds={rounds}", *threads_args(threads)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bare loop failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def harness_median_ms(model_name, mode, batch_size, device_name, backend_name, profile, threads) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as results:
        command = [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
                   f"--models={model_name}", f"--modes={mode}", f"--batch-sizes={batch_size}",
                   f"--devices={device_name}", f"--backend={backend_name}", f"--profile={profile}",
                   f"--results-dir={results}", *threads_args(threads)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        try:
            if done.returncode != 0:
                raise store.RunFileError(f"exit code {done.returncode}")
            row = store.read_rows(store.resolve(results)).iloc[0]
        except store.RunFileError as error:
            raise RuntimeError(f"the benchmark session failed ({error}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}") from None
        if row["status"] != "ok":  # e.g. a GPU that is not there: skipped, nothing timed
            raise OptionError(f"{model_name} {mode} on {device_name} was not timed: {row['status']}, {row['message']}")
        return float(row["median_ms"]), int(row["rounds"])


def measure_overhead(model_name, mode, batch_size, device_name, backend_name, *, profile, repeats,
                     threads=None) -> None:
    """Alternates `repeats` harness / bare-loop pairs and prints each pair and the median pair ratio.

    Raises:
        OptionError: the case could not be timed (e.g. its device is not there).
    """
    harness, bare = [], []
    for repeat in range(repeats):
        median, rounds = harness_median_ms(model_name, mode, batch_size, device_name, backend_name, profile, threads)
        harness.append(median)
        bare.append(bare_median_ms_in_subprocess(model_name, mode, batch_size, device_name, backend_name, rounds,
                                                 threads))
        print(f"pair {repeat + 1}: harness {harness[-1]:.3f} ms ({rounds} rounds), bare loop {bare[-1]:.3f} ms")
    # Pairs run back to back, so their ratio cancels the machine's slow drift.
    ratio = statistics.median(h / b for h, b in zip(harness, bare))
    print(f"{model_name} {mode} b{batch_size} {device_name} on {backend_name}: harness median "
          f"{statistics.median(harness):.3f} ms, bare loop {statistics.median(bare):.3f} ms, "
          f"median pair ratio harness/bare {ratio:.3f}")
