"""The pytest layer: thin hooks that hand off to one BenchSession.

Loaded by the project's conftest.py. It must not import Keras at import time:
pytest_configure chooses the backend first, and Keras is imported only when
benchmark cases are collected.
"""

from __future__ import annotations

import pytest

from bench import backends, benchmark_plugin, store
from bench.options import OPTIONS, HarnessConfig
from bench.parsers import OptionError
from bench.session import BenchSession
from models.files import ModelFileError

SESSION = pytest.StashKey[BenchSession]()


def pytest_addoption(parser):
    group = parser.getgroup("keras-bench", "Keras model benchmarks (pytest bench/)")
    for option in OPTIONS:
        if option.metavar is None:
            group.addoption(option.flag, action="store_true", default=None, help=option.help)
        else:
            group.addoption(option.flag, metavar=option.metavar, default=None, help=option.help,
                            action="append" if option.repeatable else "store")


def pytest_configure(config):
    benchmark_plugin.set_table_defaults(config)
    benchmark_plugin.refuse_unusable_flags(config)
    try:
        harness_config = HarnessConfig.from_values({o.dest: _joined(config.getoption(o.dest)) for o in OPTIONS})
    except OptionError as error:
        raise pytest.UsageError(str(error)) from None
    backends.select(harness_config.backend)
    if harness_config.threads:  # before the backend starts its pools
        try:
            backends.active().set_threads(*harness_config.threads)
        except (backends.ThreadsUnsupported, RuntimeError) as error:
            raise pytest.UsageError(str(error)) from None
    session = config.stash[SESSION] = BenchSession(harness_config)
    try:
        processes = backends.requested_processes()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    if processes > 1 and not harness_config.replicas:
        raise pytest.UsageError(f"{backends.PROCESSES_VARIABLE}={processes}: a multi-process run measures "
                                "data-parallel training; give --replicas")
    if harness_config.replicas:  # before the backend starts: it reads the logical CPU split then
        _prepare_replicas(session, processes)
    for model_file in harness_config.model_files:  # loads each once (imports Keras): a bad one stops here
        try:
            model_file.inspect()
        except ModelFileError as error:
            raise pytest.UsageError(str(error)) from None
    if harness_config.serving:
        _check_serving_memory(harness_config)
    if harness_config.require_gpu and session.plan.gpu_count() == 0:  # imports Keras, as --replicas does
        raise pytest.UsageError(session.plan.no_gpu_error())


def _check_serving_memory(config: HarnessConfig) -> None:
    """A --max-batch whose inputs the host cannot hold stops here (a typo would otherwise exhaust the memory);
    one the device cannot hold stops when its model first warms up."""
    import psutil

    from bench.serving.endpoint import inputs_bytes

    available = psutil.virtual_memory().available
    for name in config.models:
        needed = inputs_bytes(config.spec(name), config.serving.max_batch)
        if needed > available / 2:
            raise pytest.UsageError(f"--max-batch: {config.serving.max_batch} queries in one batch of {name} need "
                                    f"{needed / 2**30:.1f} GiB of inputs, more than half the host's available "
                                    f"memory ({available / 2**30:.1f} GiB); give a smaller --max-batch")


def _joined(value):
    """A repeatable option's values as one comma list."""
    return ",".join(value) if isinstance(value, list) else value


def _prepare_replicas(session: BenchSession, processes: int) -> None:
    """Splits the CPU, joins the other processes of a multi-process run, and checks the counts."""
    replicas = session.config.replicas
    uneven = [count for count in replicas if count % processes]
    if uneven:
        raise pytest.UsageError(f"--replicas: {uneven[0]} is not a multiple of the {processes} processes "
                                f"({backends.PROCESSES_VARIABLE}); every process holds as many replicas")
    wanted = max(replicas)
    backend = backends.BACKENDS[session.config.backend]
    try:
        backend.split_cpu(wanted // processes)
        if processes > 1:
            backend.join_processes()
    except (backends.DataParallelUnsupported, backends.MultiProcessUnsupported) as error:
        raise pytest.UsageError(str(error)) from None
    capacity, device = session.plan.replica_capacity() * processes, session.plan.replica_device()
    if wanted > capacity:
        what = f"{capacity} GPU(s)" if device.is_gpu else f"{capacity} usable CPU core(s), one per replica"
        raise pytest.UsageError(f"--replicas: {wanted} is more than the devices present ({what}); "
                                f"accepted: at most {capacity}")


def pytest_generate_tests(metafunc):
    """Each suite (bench/test_*.py) gets the plan's cases of the modes it names in SUITE_MODES."""
    if "bench_case" in metafunc.fixturenames:
        session = metafunc.config.stash[SESSION]
        modes = metafunc.module.SUITE_MODES
        passes = [(case, number) for case, number in session.plan.timed_passes() if case.mode in modes]
        session.collected = True
        metafunc.parametrize("bench_case", passes,
                             ids=[case.id if number == 1 else f"{case.id}-pass{number}" for case, number in passes])


def pytest_collection_finish(session):
    """The GPU hint, at the top of a benchmark run (collection asked the backend for its devices already)."""
    bench = session.config.stash.get(SESSION, None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if bench is not None and bench.collected and reporter is not None:
        hint = bench.plan.gpu_hint()
        if hint:
            reporter.write_line(f"GPU: {hint}", yellow=True, bold=True)


def pytest_collection_modifyitems(config, items):
    """Puts the benchmark cases in the plan's order (pass 1 of every case, then pass 2, ...; within a
    pass, suite by suite), drops a suite that has no case, and checks that the run can be written
    before any model is built. (Checked here, not at configure, so that `pytest tests/` leaves the
    results directory alone.)"""
    cases = [item for item in items if "bench_case" in getattr(item, "fixturenames", ())]
    if not cases:
        return
    empty = _in_plan_order(items, cases, config.stash[SESSION].plan.timed_passes())
    if empty:
        config.hook.pytest_deselected(items=empty)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # our summary already lists the skipped cases with their reason
        reporter.reportchars = reporter.reportchars.replace("s", "")
    if len(empty) < len(cases) and not config.getoption("benchmark_disable", False):
        session = config.stash[SESSION]
        try:
            store.check_writable(session.config.results_dir)
        except store.RunFileError as error:
            session.collected = False  # nothing will run: no end-of-run summary either
            raise pytest.UsageError(f"--results-dir: {error}") from None


def _in_plan_order(items: list, cases: list, timed_passes: list) -> list:
    """Reorders `items` in place: the benchmark `cases` pass by pass, each suite in turn (so pytest's
    progress shows one line per suite and pass), in the plan's order within. Returns the items
    pytest made for a suite without any case ("empty parameter set"), removed from `items`."""
    order = {step: index for index, step in enumerate(timed_passes)}
    step = {id(item): getattr(getattr(item, "callspec", None), "params", {}).get("bench_case") for item in cases}
    empty = [item for item in cases if step[id(item)] not in order]
    suites = {module: rank for rank, module in enumerate(dict.fromkeys(item.module for item in cases))}
    timed = iter(sorted((item for item in cases if step[id(item)] in order),
                        key=lambda item: (step[id(item)][1], suites[item.module], order[step[id(item)]])))
    items[:] = [item if id(item) not in step else next(timed)
                for item in items if id(item) not in step or step[id(item)] in order]
    return empty


@pytest.fixture
def bench_session(request) -> BenchSession:
    return request.config.stash[SESSION]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Writes the run before any other plugin's session-finish work (pytest-benchmark's JSON and saved
    runs among them), so that none can lose it; and shows the summary if one of them fails."""
    bench = session.config.stash.get(SESSION, None)
    if bench is not None:
        benchmarks = getattr(session.config, "_benchmarksession", None)
        bench.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
                     smoke=bool(benchmarks and benchmarks.disabled))
        benchmark_plugin.hand_over(session.config, bench.runner.benchmark_entries, backend=bench.config.backend,
                                   run_file=bench.written.run.name if bench.written else None)
    outcome = yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if bench is not None and outcome.excinfo is not None and reporter is not None:
        _show_summary(bench, reporter)  # pytest's own summary, which would show it, was cut short


@pytest.hookimpl(hookwrapper=True, trylast=True)  # after pytest-benchmark's table, even if its comparison fails
def pytest_terminal_summary(terminalreporter, config):
    yield
    if SESSION in config.stash:
        _show_summary(config.stash[SESSION], terminalreporter)


def _show_summary(bench: BenchSession, reporter) -> None:
    if bench.summary_shown:
        return
    bench.summary_shown = True
    lines = bench.summary_lines()
    if lines:
        reporter.section("keras benchmark summary")
        for line in lines:
            reporter.write_line(line)
