"""`python -m bench`: one program, its subcommands' bad input in one line (exit 2), the sweep's reports."""

import pytest
from tests_support import run_cli


def test_sweep_reports_a_missing_backend_with_its_install_command(monkeypatch):
    monkeypatch.setattr("bench.backends.is_installed", lambda name: False)
    code, out, _ = run_cli("sweep", "--backends", "jax")
    assert code == 0
    assert out.strip() == "sweep: jax is not installed, skipped; install it with: pip install jax   " \
                          "(GPU: pip install 'jax[cuda13]', or 'jax[cuda12]' on drivers before 580)"


@pytest.mark.parametrize("args,message", [
    (("--backends", "tf"), "--backends: unknown value 'tf'; accepted: tensorflow, jax, torch"),
    (("--", "--backend=jax"), "--backend after --: the sweep sets each backend itself"),
    (("--models", "x"), "unknown argument '--models'; pytest's arguments go after --"),
])
def test_sweep_bad_input(args, message):
    code, out, err = run_cli("sweep", *args)
    assert code == 2 and out == ""
    assert err.strip().startswith("error:") and message in err


@pytest.mark.parametrize("args,message", [
    (("--device", "tpu"), "--device: 'tpu' is not one device; accepted: cpu, gpu:N"),
    (("--model", "resnet"), "--model: unknown value 'resnet'"),
    (("--mode", "predict"), "--mode: unknown value 'predict'; accepted: forward, infer, train"),
    (("--batch-size", "0"), "--batch-size: '0' is not a positive integer"),
    (("--threads", "many"), "--threads: 'many' is not auto, N or INTRA,INTER"),
    (("--backend", "jax", "--threads", "1"), "--threads: the jax backend's thread pools cannot be set by this harness"),
])
def test_bad_options(args, message):
    code, out, err = run_cli("overhead", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.parametrize("args,message", [
    ((), "error: the following arguments are required: COMMAND"),
    (("bisekt",), "error: argument COMMAND: invalid choice: 'bisekt'"),
    (("report", "--out"), "error: argument --out: expected one argument"),
    (("compare", "a", "b", "--format", "html"), "error: argument --format: invalid choice: 'html'"),
])
def test_one_program_one_line_for_a_bad_command_line(args, message):
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


def test_help_lists_every_subcommand():
    code, out, _ = run_cli("--help")
    assert code == 0 and all(name in out for name in ("compare", "report", "sweep", "overhead"))
