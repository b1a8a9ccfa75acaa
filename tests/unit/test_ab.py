"""`python -m bench ab`: its input checks, and its procedure (worker pairs, looks, settling, the budget, holes) on
simulated worker pairs (tests/paired_noise.py)."""

import numpy as np
import pytest
from paired_noise import CASES, PairedNoise, simulated_gate
from tests_support import ROOT, run_cli

from bench import ab, checkouts
from bench.parsers import OptionError

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


def test_looks_begin_after_three_pairs_and_later_pairs_time_only_what_is_undecided():
    said = []
    quiet = PairedNoise(round_sd=0.04, pair_sd=0.005)  # cases settle: the fourth pair has less to time
    verdicts, machine = simulated_gate(np.random.default_rng(0), slower={"mnist_cnn": 1.04}, noise=quiet,
                                       say=said.append)
    pairs = [line for line in said if line.startswith("pair ")]
    looks = [index for index, line in enumerate(said) if line.startswith(("undecided", "every"))]
    assert len(pairs) >= 4 and looks and said[looks[0] - 1].startswith("pair  3")
    assert set(machine.opened[0]) == set(CASES)
    assert set(machine.opened[-1]) < set(CASES), (said, machine.opened[-1])
    undecided_after_three = int(said[looks[0]].split()[1])  # "undecided: N case(s)"
    assert len(set(machine.opened[3])) == undecided_after_three  # the fourth pair timed those alone
    assert machine.clock() <= 15 * 60


@pytest.mark.parametrize("budget_min", [2.0, 6.0, 15.0])
def test_the_gate_keeps_within_its_budget(budget_min):
    verdicts, machine = simulated_gate(np.random.default_rng(1), budget_min=budget_min)
    assert machine.clock() <= budget_min * 60 + 30  # a pair that started in time finishes its second round
    assert verdicts is not None and len(machine.opened) >= 1


def test_a_case_failing_in_head_is_a_hole_named_once_and_the_rest_is_judged():
    verdicts, machine = simulated_gate(np.random.default_rng(2), broken={"imdb_gru-train-cpu-b32"})
    assert verdicts.holes == ["imdb_gru train b32 cpu: error in head: ValueError: broken on purpose"]
    assert verdicts.failed and "imdb_gru-train-cpu-b32" not in set(verdicts.cases["case"])
    assert all("imdb_gru-train-cpu-b32" not in opened for opened in machine.opened[1:])


@pytest.mark.parametrize("backend,threads", [("tensorflow", True), ("torch", True), ("jax", False)])
def test_the_default_recipe_fixes_the_thread_pools_only_where_the_backend_lets_it(monkeypatch, backend, threads):
    monkeypatch.setenv("KERAS_BACKEND", backend)
    assert ("--threads" in ab.default_args()) is threads


def test_every_case_failing_in_head_stops_the_gate_with_every_hole_named():
    verdicts, machine = simulated_gate(np.random.default_rng(3), broken=set(CASES))
    assert verdicts is None and len(machine.opened) == 1  # nothing left to time after the first pair


def test_a_head_worker_that_stops_while_timing_makes_its_case_a_hole():
    from bench.paired import WorkerError
    from paired_noise import SimulatedMachine, SimulatedPair

    class Crashing(SimulatedPair):
        def round(self, number, cases, seconds):
            if self.number == 2:
                raise WorkerError("head's worker stopped (see its log)", "head", "imdb_gru-train-cpu-b1")
            return super().round(number, cases, seconds)

    machine = SimulatedMachine(np.random.default_rng(4))
    gate = ab.PairedGate(lambda number: Crashing(machine, number), list(CASES), budget_s=900, threshold=0.05,
                         alpha=0.01, say=lambda line: None, clock=machine.clock)
    verdicts = gate.run()
    assert verdicts.failed and verdicts.holes == ["imdb_gru train b1 cpu: error in head: head's worker stopped "
                                                  "(see its log)"]
    assert "imdb_gru-train-cpu-b1" not in set(verdicts.cases["case"]) and len(machine.opened) >= 3


def test_the_first_pair_takes_its_share_counted_from_its_measured_start_up(monkeypatch):
    """A start-up far over the gate's first guess (60 s): the first pair's share is counted once its own is known,
    so it times no longer than the pairs after it (counted from the guess, it took 3 times their rounds)."""
    from paired_noise import SimulatedMachine

    monkeypatch.setattr(SimulatedMachine, "STARTUP_S", 150.0 - SimulatedMachine.BUILD_S * len(CASES))
    verdicts, machine = simulated_gate(np.random.default_rng(5))
    timing = machine.timing_s[:3]  # the first three time every case
    assert len(machine.opened) >= 3 and max(timing) <= 1.25 * min(timing), timing


def test_a_round_visits_the_cheap_cases_more_often_than_the_costly_ones():
    """After the first round (every case once: costs unknown), a 1.4-ms case's 50-ms block is timed
    MAX_VISITS times a round, a 1.5-s IMDB training step once, both in every round."""
    verdicts, machine = simulated_gate(np.random.default_rng(6))
    first_pair, rounds = machine.opened[0], machine.rounds[0]
    cheap, costly = "mnist_cnn-infer-cpu-b1", "imdb_bilstm-train-cpu-b32"
    assert rounds >= 3 and first_pair.count(costly) == rounds
    assert first_pair.count(cheap) == 1 + ab.MAX_VISITS * (rounds - 1)
    cheap_blocks = verdicts.cases.set_index("case").loc[[cheap, costly], "rounds"]
    assert cheap_blocks[cheap] > 2 * cheap_blocks[costly]  # the verdicts count block pairs
