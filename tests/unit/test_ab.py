"""`python -m bench ab`: its input checks, the cases it picks for later processes, and their -k expression."""

import numpy as np
import pandas as pd
import pytest
from _pytest.mark.expression import Expression
from tests_support import ROOT, run_cli

from bench import ab, checkouts
from bench.parsers import OptionError

IDS = ["mnist_cnn-infer-cpu-b1", "mnist_cnn-infer-cpu-b128", "mnist_cnn-train-cpu-b1", "imdb_lstm-infer-cpu-b1",
       "imdb_lstm_cudnn-infer-cpu-b1", "mnist_cnn-infer-gpu:0-b1"]


def matches(expression: str, item_name: str) -> bool:
    """pytest's -k: a substring of the item's name, case-insensitively."""
    return Expression.compile(expression).evaluate(lambda sub, **kwargs: sub.lower() in item_name.lower())


@pytest.mark.parametrize("chosen", [["mnist_cnn-infer-cpu-b1"], ["imdb_lstm-infer-cpu-b1", "mnist_cnn-train-cpu-b1"],
                                    ["mnist_cnn-infer-gpu:0-b1"]])
def test_the_keyword_expression_picks_exactly_the_chosen_cases_in_every_pass(chosen):
    expression = ab.keyword(chosen)
    for case in IDS:
        for name in (f"test_model[{case}]", f"test_model[{case}-pass3]"):
            assert matches(expression, name) == (case in chosen), (expression, name)


def test_later_processes_time_undecided_cases_every_case_of_an_undecided_model_and_the_anchors():
    rows = [dict(backend="tensorflow", device="cpu", model=model, model_sha256="", mode=mode, batch_size=batch,
                 scenario="batch", load="",
                 replicas=1, precision="float32", jit_compile="auto", status="ok", median_ms=speed * batch * (1 + (mode == "train")))
            for model, speed in (("mnist_cnn", 1.0), ("imdb_lstm", 10.0), ("imdb_gru", 5.0))
            for mode in ("infer", "train") for batch in (1, 32)]
    values = pd.DataFrame(rows)
    lstm_case = tuple(values.iloc[5][list(ab.CASE_KEY)])  # imdb_lstm infer b32
    mnist_model = ("tensorflow", "cpu", "mnist_cnn", "", "float32", "auto", "batch")
    chosen = ab.selection(values, {lstm_case}, {mnist_model})
    assert chosen == ["imdb_gru-infer-cpu-b1", "imdb_lstm-infer-cpu-b1", "imdb_lstm-infer-cpu-b32",  # anchors: b1 infer
                      "mnist_cnn-infer-cpu-b1", "mnist_cnn-infer-cpu-b32", "mnist_cnn-train-cpu-b1",
                      "mnist_cnn-train-cpu-b32"]


@pytest.mark.parametrize("arg", ["-k", "-kmnist", "--results-dir=x", "--replicas", "--benchmark-disable"])
def test_options_ab_sets_itself_are_refused(arg):
    with pytest.raises(OptionError, match="ab sets it itself"):
        checkouts.check_pytest_args(["--models", "mnist_cnn", arg])


def test_a_directory_that_is_not_a_checkout_is_refused(tmp_path):
    with pytest.raises(checkouts.CheckoutError, match="is not a checkout of this project"):
        checkouts.checkout(str(tmp_path), "base", tmp_path / "out")


@pytest.mark.parametrize("args,message", [
    (("ab", "{tmp}", str(ROOT)), "error: BASE: '{tmp}' is not a checkout of this project"),
    (("ab", str(ROOT), "no-such-ref-xyz"), "error: HEAD: 'no-such-ref-xyz' is neither a directory nor a git ref"),
    (("ab", str(ROOT), str(ROOT), "--budget", "0"), "error: --budget: '0' is not a positive number of minutes"),
    (("ab", str(ROOT), str(ROOT), "--budget", "soon"), "error: --budget: 'soon' is not a positive number"),
    (("ab", str(ROOT), str(ROOT), "--models", "x"), "error: unknown argument '--models'; pytest's arguments go after --"),
    (("ab", str(ROOT), str(ROOT), "--", "-k", "mnist"), "error: -k after --: ab sets it itself"),
    (("ab", str(ROOT), str(ROOT), "--out", "{full}"), "error: --out: {full} is not empty"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    args = [a.format(tmp=tmp_path, full=full) for a in args]
    code, out, err = run_cli(*args)
    assert code == 2 and out == "", (out, err)
    assert err.startswith(message.format(tmp=tmp_path, full=full)) and len(err.strip().splitlines()) == 1, err


def test_case_id_is_the_pytest_id():
    from bench.plan import Case

    row = {"model": "imdb_gru", "mode": "train", "device": "gpu:1", "batch_size": np.int64(32)}
    assert ab.case_id(row) == Case("imdb_gru", "train", "gpu:1", 32).id


def test_the_gate_alternates_the_sides_and_looks_only_after_three_processes_a_side():
    from noise_model import CASES, SimulatedMachine  # the recipe's matrix on a simulated machine

    machine, launched, looks = SimulatedMachine(np.random.default_rng(0)), [], []

    def launch(side, ids, number, limit_s):
        launched.append(side)
        return machine(side, ids, number, limit_s)

    ids = {ab.case_id({"model": m, "mode": mode, "device": "cpu", "batch_size": b}) for m, mode, b in CASES}
    sides = {name: checkouts.Side(name, name, ROOT, cases=set(ids)) for name in ("base", "head")}
    gate = ab.Gate(sides, launch, budget_s=15 * 60, threshold=0.10, alpha=0.01, clock=machine.clock,
                   say=lambda line: looks.append(len(launched)) if line.startswith(("undecided", "every")) else None)
    gate.run()
    assert launched[:8] == ["base", "head", "head", "base"] * 2
    assert looks and looks[0] == 6  # the first look after three processes a side, then one after each pair
    assert all(later - earlier == 2 for earlier, later in zip(looks, looks[1:]))
