"""Inference suite: every model's compiled forward function (forward), its predict_on_batch (infer) and Keras'
model.predict (predict), on every device and batch size the options select.

    pytest bench/test_inference.py          this suite alone (see the README for the options)
"""

SUITE_MODES = ("forward", "infer", "predict")


def test_model(benchmark, bench_case, bench_session):
    case, pass_number = bench_case
    bench_session.run(case, pass_number, benchmark)
