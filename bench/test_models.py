"""The benchmark suite: every (model, mode, device, batch size) the options select.

Run with `pytest bench/`; see the README for the options.
"""


def test_model(benchmark, bench_case, bench_session):
    bench_session.run(bench_case, benchmark)
