"""pytest-benchmark's flags that cannot apply to the harness stop the run at start-up, in one line saying why
(pytest's usage exit), before any model is built."""

import importlib.util

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")


@pytest.mark.parametrize("flag,why", [
    ("--benchmark-min-rounds=3", "each case's warm-up and rounds come from --profile and --passes"),
    ("--benchmark-max-time=2", "each case's warm-up and rounds come from --profile and --passes"),
    ("--benchmark-warmup=on", "the first call and warm-up are reported on their own"),
    ("--benchmark-timer=time.process_time", "timed with time.perf_counter, the clock their columns name"),
    ("--benchmark-disable-gc", "a row does not record the garbage collector's state"),
    ("--benchmark-compare-fail=median:5%", "needs --benchmark-compare"),
])
def test_a_flag_that_cannot_apply_is_refused_in_one_line(pytester, flag, why):
    done = pytester.runpytest_inprocess("-p", "bench.plugin", flag, "--collect-only")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [line for line in done.errlines if line.startswith("ERROR:")]
    assert line.startswith(f"ERROR: {flag.split('=')[0]}: ") and why in line, line


def test_the_histogram_without_its_extra_names_the_install(pytester, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("pygal") else
                        find_spec(name, *a))
    done = pytester.runpytest_inprocess("-p", "bench.plugin", "--benchmark-histogram", "--collect-only")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(["ERROR: --benchmark-histogram: needs pygal and pygaljs, not installed; install them "
                               "with: python -m pip install 'pytest-benchmark[histogram]'"])


def test_the_flags_that_apply_pass_the_start_up_checks(pytester):
    done = pytester.runpytest_inprocess("-p", "bench.plugin", "--benchmark-columns=min,ops", "--benchmark-sort=name",
                                        "--benchmark-save=x", "--benchmark-compare", "--benchmark-compare-fail=min:5%",
                                        "--benchmark-name=long", "--benchmark-group-by=func", "--collect-only")
    assert done.ret == pytest.ExitCode.NO_TESTS_COLLECTED, done.errlines
