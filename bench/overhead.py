"""`python -m bench overhead`: does the harness add anything to what it measures?

Times one case twice, alternately, each in a fresh process: through a real
`pytest bench/` session (its median read from the run CSV) and through a bare
loop over the same compiled call (predict_on_batch / train_on_batch on a
device-resident batch, result fetched to the host). The two medians should
agree within the machine's noise; a harness that added overhead would show
here as a ratio above 1.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import backends, runs
import models
from bench.options import MODES, PROFILES, OptionError, parse_one

ROOT = Path(__file__).resolve().parent.parent


def bare_median_ms(model_name: str, mode: str, batch_size: int, device_name: str, rounds: int) -> float:
    """Median of `rounds` timed calls of the mode's step, after a first call and warm-up."""
    import keras

    from bench.measure import MODE_STEPS
    from bench.session import device_table

    backend = backends.active()
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


def bare_median_ms_in_subprocess(model_name, mode, batch_size, device_name, backend_name, rounds) -> float:
    command = [sys.executable, "-m", "bench", "overhead", f"--model={model_name}", f"--mode={mode}",
               f"--batch-size={batch_size}", f"--device={device_name}", f"--backend={backend_name}",
               f"--bare-loop-rounds={rounds}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bare loop failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def harness_median_ms(model_name, mode, batch_size, device_name, backend_name, profile) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as results:
        command = [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
                   f"--models={model_name}", f"--modes={mode}", f"--batch-sizes={batch_size}",
                   f"--devices={device_name}", f"--backend={backend_name}", f"--profile={profile}",
                   f"--results-dir={results}"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        try:
            if done.returncode != 0:
                raise runs.RunFileError(f"exit code {done.returncode}")
            row = runs.read_rows(runs.resolve(results)).iloc[0]
        except runs.RunFileError as error:
            raise RuntimeError(f"the benchmark session failed ({error}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}") from None
        if row["status"] != "ok":  # e.g. a GPU that is not there: skipped, nothing timed
            raise OptionError(f"{model_name} {mode} on {device_name} was not timed: {row['status']}, {row['message']}")
        return float(row["median_ms"]), int(row["rounds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mnist_cnn", help="one model (default: mnist_cnn)")
    parser.add_argument("--mode", default="infer", help="infer or train (default: infer)")
    parser.add_argument("--batch-size", default="32", help="a positive integer (default: 32)")
    parser.add_argument("--device", default="cpu", help="cpu or gpu:N (default: cpu)")
    parser.add_argument("--backend", default=None, help="tensorflow, jax or torch (default: $KERAS_BACKEND)")
    parser.add_argument("--repeats", default="5", help="harness/bare pairs to alternate (default: 5)")
    parser.add_argument("--profile", default="full", help="the harness profile (default: full, for many rounds)")
    parser.add_argument("--bare-loop-rounds", default=None, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)
    try:
        model_name = parse_one("--model", tuple(models.names()))(args.model)
        profile = parse_one("--profile", tuple(PROFILES))(args.profile)
        mode = parse_one("--mode", tuple(m for m in MODES if m != "predict"))(args.mode)
        batch_size, repeats = _positive("--batch-size", args.batch_size), _positive("--repeats", args.repeats)
        backend_name = parse_one("--backend", backends.BACKEND_NAMES)(args.backend or backends.requested())
        if args.device != "cpu" and not re.fullmatch(r"gpu:\d+", args.device):
            raise OptionError(f"--device: {args.device!r} is not one device; accepted: cpu, gpu:N")
    except (OptionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    backends.select(backend_name)
    if args.bare_loop_rounds:
        print(bare_median_ms(model_name, mode, batch_size, args.device, _positive("rounds", args.bare_loop_rounds)))
        return 0
    harness, bare = [], []
    for repeat in range(repeats):
        try:
            median, rounds = harness_median_ms(model_name, mode, batch_size, args.device, backend_name, profile)
        except OptionError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        harness.append(median)
        bare.append(bare_median_ms_in_subprocess(model_name, mode, batch_size, args.device, backend_name, rounds))
        print(f"pair {repeat + 1}: harness {harness[-1]:.3f} ms ({rounds} rounds), bare loop {bare[-1]:.3f} ms")
    # Pairs run back to back, so their ratio cancels the machine's slow drift.
    ratio = statistics.median(h / b for h, b in zip(harness, bare))
    print(f"{model_name} {mode} b{batch_size} {args.device} on {backend_name}: harness median "
          f"{statistics.median(harness):.3f} ms, bare loop {statistics.median(bare):.3f} ms, "
          f"median pair ratio harness/bare {ratio:.3f}")
    return 0


def _positive(option, text):
    if not str(text).isdigit() or int(text) < 1:
        raise OptionError(f"{option}: {text!r} is not a positive integer")
    return int(text)
