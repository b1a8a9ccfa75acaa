"""`python -m bench overhead`: bad input is one line and exit 2."""

import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from bench import overhead


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = overhead.main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("args,message", [
    (("--device", "tpu"), "--device: 'tpu' is not one device; accepted: cpu, gpu:N"),
    (("--model", "resnet"), "--model: unknown value 'resnet'"),
    (("--mode", "predict"), "--mode: unknown value 'predict'; accepted: infer, train"),
    (("--batch-size", "0"), "--batch-size: '0' is not a positive integer"),
])
def test_bad_options(args, message):
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_a_device_that_is_not_there(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    code, _, err = run_cli("--device", "gpu:3", "--repeats", "1")
    assert code == 2
    assert err.strip() == ("error: mnist_cnn infer on gpu:3 was not timed: skipped, gpu:3 not present: "
                           "the tensorflow backend sees no GPU")
