"""What the harness hands to pytest-benchmark, whose table, JSON (--benchmark-json), saved runs
(--benchmark-save, --benchmark-autosave) and comparisons (--benchmark-compare, `pytest-benchmark
compare`) all read its benchmark objects: the table's defaults, the flags refused at start-up, and at
the end one entry per measured case with all of its rounds and its identity in `extra_info`.

Each case's rounds are spread over passes (a test per pass); later passes join pass 1's entry
(bench.timing.timed_rounds), and their own empty entries are dropped here, before pytest-benchmark
exports anything: an entry without rounds has no statistics and breaks its export.
"""

from __future__ import annotations

import importlib.util
import math
import numbers

import pytest

from bench.results import SERVER_STATUSES

# pytest-benchmark's table, unless the command line sets these: a group per model, the
# columns that fit 120 characters, names without the "test_" prefix, milliseconds as in our summary.
TABLE_DEFAULTS = {"benchmark_group_by": ("--benchmark-group-by", "group"),
                  "benchmark_columns": ("--benchmark-columns", ["min", "median", "iqr", "rounds"]),
                  "benchmark_name": ("--benchmark-name", "short"),
                  "benchmark_time_unit": ("--benchmark-time-unit", "ms")}

_ROUNDS = "each case's warm-up and rounds come from --profile and --passes"
# pytest-benchmark's flags for its own timing loop, which the harness does not use (it times each
# case through benchmark.pedantic, one call a round), or that would change what a row measured
# without the row saying so: refused at start-up, each with why.
REFUSED = {
    "benchmark_min_time": _ROUNDS, "benchmark_max_time": _ROUNDS, "benchmark_min_rounds": _ROUNDS,
    "benchmark_precision": _ROUNDS, "benchmark_confidence": _ROUNDS,
    "benchmark_warmup": f"{_ROUNDS}; the first call and warm-up are reported on their own",
    "benchmark_warmup_iterations": f"{_ROUNDS}; the first call and warm-up are reported on their own",
    "benchmark_calibration_precision": "each round is one call of the step, timed whole (no calibrated loops)",
    "benchmark_timer": "the rows are timed with time.perf_counter, the clock their columns name",
    "benchmark_disable_gc": "a row does not record the garbage collector's state, so it would not say what it "
                            "measured (the server scenario holds the collector off during a level itself)",
}

# The row's fields a JSON consumer needs to group and label an entry without parsing its test name.
IDENTITY = ("model", "model_sha256", "mode", "scenario", "load", "batch_size", "device", "device_name",
            "precision", "jit_compile", "params", "flops_per_sample", "status")


def set_table_defaults(config) -> None:
    """Runs before pytest-benchmark's own pytest_configure (a trylast hook), which reads these."""
    given = config.invocation_params.args
    for dest, (flag, value) in TABLE_DEFAULTS.items():
        if hasattr(config.option, dest) and not any(str(arg).startswith(flag) for arg in given):
            setattr(config.option, dest, value)


def refuse_unusable_flags(config) -> None:
    """Stops the run at start-up, in one line, on a pytest-benchmark flag that cannot apply to it."""
    if not hasattr(config.option, "benchmark_disable"):  # pytest-benchmark is not loaded (-p no:benchmark)
        return
    defaults = vars(config._parser.parse_known_args([]))  # what an empty command line gives
    for dest, why in REFUSED.items():
        if dest in defaults and getattr(config.option, dest, None) != defaults[dest]:
            flag = "--" + dest.replace("_", "-")
            raise pytest.UsageError(f"{flag}: not used by this harness: {why}. Received: {flag}="
                                    f"{getattr(config.option, dest)}")
    histogram = getattr(config.option, "benchmark_histogram", None)
    missing = [name for name in ("pygal", "pygaljs") if importlib.util.find_spec(name) is None]
    if histogram and missing:
        raise pytest.UsageError(f"--benchmark-histogram: needs {' and '.join(missing)}, not installed; install "
                                "them with: python -m pip install 'pytest-benchmark[histogram]'")
    if getattr(config.option, "benchmark_compare_fail", None) and not getattr(config.option, "benchmark_compare",
                                                                            None):
        raise pytest.UsageError("--benchmark-compare-fail: needs --benchmark-compare (a saved run to compare "
                                "with), else pytest-benchmark refuses it only after the whole run")


def hand_over(config, entries, *, backend: str | None, run_file: str | None) -> None:
    """Leaves pytest-benchmark one entry per measured case: `entries` are (row, pass 1's entry) pairs;
    each kept entry gets its row's identity and figures in `extra_info`. Entries of failed cases,
    of skipped ones and of later passes (empty: their rounds joined pass 1's) are dropped."""
    benchmark_session = getattr(config, "_benchmarksession", None)
    if benchmark_session is None:
        return
    kept = []
    for row, entry in entries:
        if row.status not in ("ok", *SERVER_STATUSES) or not entry:
            continue
        flat = row.flat()
        entry.extra_info.update({key: _json_value(value) for key, value in flat.items()
                                 if isinstance(value, numbers.Real) or key in IDENTITY})
        entry.extra_info.update(backend=backend, run_file=run_file)
        kept.append(entry)
    kept_ids = {id(entry) for entry in kept}
    benchmark_session.benchmarks[:] = [entry for entry in benchmark_session.benchmarks if id(entry) in kept_ids]


def _json_value(value):
    """A value strict JSON can hold (JavaScript's JSON.parse, which github-action-benchmark uses, has no NaN)."""
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value
