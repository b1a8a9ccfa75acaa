"""Training suite: one training step (train_on_batch) of every model, on every device and batch
size the options select, and data-parallel training with --replicas.

    pytest bench/test_training.py           this suite alone (see the README for the options)
"""

SUITE_MODES = ("train",)


def test_model(benchmark, bench_case, bench_session):
    case, pass_number = bench_case
    bench_session.run(case, pass_number, benchmark)
