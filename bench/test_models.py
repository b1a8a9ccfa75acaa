"""The benchmark suite: every (model, mode, device, batch size) the options select.

Run with `pytest bench/`; see the README for the options.
"""


def test_model(benchmark, bench_case, bench_session):
    case, pass_number = bench_case
    bench_session.run(case, pass_number, benchmark)
