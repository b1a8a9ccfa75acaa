"""The gate's decision (bench.analysis.gate), checked by simulation with noise like the 2-core VM's,
and its holes: failures, out-of-memory and cases missing in the candidate fail the gate."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import ab
from bench.analysis import gate
from bench.store import CASE_KEY

MODELS = ("mnist_cnn", "mnist_separable_cnn", "imdb_lstm", "imdb_lstm_cudnn", "imdb_bilstm", "imdb_gru",
          "imdb_simplernn")
CASES = [(model, mode, batch) for model in MODELS for mode in ("infer", "train") for batch in (1, 32)]


@dataclass(frozen=True)
class Noise:
    """Log-scale noise of one process's case medians, in the magnitudes measured on the 2-core VM with
    the gate's recipe (docs/measurements.md, "Noise between processes", 2026-11-27).

    Each case's spread from process to process is `case_sd` times a lognormal factor of spread
    `case_spread` (some cases are far noisier than others); its pass medians inside a process spread
    `pass_ratio` times as much, give or take a lognormal factor `pass_jitter` (what the prior's trend
    can read); every process shifts all of its cases together by `common_sd`; `two_state` cases take
    a slower state (`two_state_shift`) for a whole process with probability `two_state_p`."""

    case_sd: float = 0.07
    case_spread: float = 0.5
    pass_ratio: float = 2.3
    pass_jitter: float = 1.0
    passes: int = 5
    common_sd: float = 0.026
    two_state: int = 3
    two_state_p: float = 0.25
    two_state_shift: float = 0.37


MEASURED = Noise()


class SimulatedMachine:
    """The 2-core VM as the gate sees it: `pytest bench/` processes of the recipe's matrix (CASES), each
    case with its own noise drawn once (as Noise describes), each process lasting as long as the
    recipe's did (STARTUP_S plus PER_CASE_S a case; docs/measurements.md). `slower` maps a model to the
    factor its cases are slower by in head. A launcher for bench.ab.Gate, with its clock."""

    STARTUP_S, PER_CASE_S = 15.0, 3.3

    def __init__(self, rng, noise: Noise = MEASURED, slower: dict | None = None):
        self.rng, self.noise, self.now = rng, noise, 0.0
        count = len(CASES)
        self.case_sd = noise.case_sd * rng.lognormal(0, noise.case_spread, count)
        self.pass_sd = noise.pass_ratio * self.case_sd * rng.lognormal(0, noise.pass_jitter, count)
        self.two_state = np.zeros(count, bool)
        self.two_state[rng.choice(count, noise.two_state, replace=False)] = True
        self.effect = np.array([np.log((slower or {}).get(model, 1.0)) for model, _, _ in CASES])

    def clock(self) -> float:
        return self.now

    def rows(self, side: str, number: int, chosen=None) -> pd.DataFrame:
        """One process's rows (as bench.store.load_process gives them) for the cases `chosen` (indices)."""
        noise, rng = self.noise, self.rng
        chosen = np.arange(len(CASES)) if chosen is None else np.asarray(chosen)
        passes = rng.normal(0, 1, (noise.passes, len(CASES))) * self.pass_sd
        state = self.two_state & (rng.uniform(size=len(CASES)) < noise.two_state_p)
        logs = (np.log(10.0) + rng.normal(0, noise.common_sd) + rng.normal(0, 1, len(CASES)) * self.case_sd
                + state * noise.two_state_shift + (self.effect if side == "head" else 0))
        return pd.DataFrame({
            "backend": "tensorflow", "device": "cpu", "model": [CASES[i][0] for i in chosen],
            "mode": [CASES[i][1] for i in chosen], "batch_size": [CASES[i][2] for i in chosen], "replicas": 1,
            "precision": "float32", "jit_compile": "auto", "run_id": f"{side}{number}", "status": "ok",
            "message": "", "median_ms": np.exp(logs[chosen]), "pass_log_var": passes.var(axis=0, ddof=1)[chosen]})

    def __call__(self, side, ids, number, limit_s) -> ab.Process:
        chosen = [i for i, case in enumerate(CASES) if ids is None or ab.case_id(_row(case)) in ids]
        seconds = self.STARTUP_S + self.PER_CASE_S * len(chosen)
        self.now += seconds
        return ab.Process(side, number, seconds, self.rows(side, number, chosen), "simulated",
                          0 if ids is None else len(ids))


def _row(case) -> dict:
    return {"model": case[0], "mode": case[1], "device": "cpu", "batch_size": case[2]}


def simulate(rng, noise: Noise, *, processes: int, slower: dict | None = None) -> pd.DataFrame:
    """`processes` whole-matrix processes a side on one SimulatedMachine, as rows for gate.judge."""
    machine = SimulatedMachine(rng, noise, slower)
    return pd.concat([machine.rows(side, number).assign(side=side, process=f"{side}{number}")
                      for side in ("base", "head") for number in range(processes)], ignore_index=True)


def simulated_gate(rng, *, budget_min=15.0, slower=None) -> gate.Verdicts:
    """bench.ab's whole procedure (alternation, looks, settling, -k selection, budget) on a SimulatedMachine."""
    machine = SimulatedMachine(rng, MEASURED, slower)
    ids = {ab.case_id(_row(case)) for case in CASES}
    sides = {name: ab.Side(name, name, Path("."), cases=set(ids)) for name in ("base", "head")}
    return ab.Gate(sides, machine, budget_s=budget_min * 60, threshold=0.10, alpha=0.01, say=lambda line: None,
                   clock=machine.clock).run()


PROCESSES = 5  # a side: what the recipe's budget affords (docs/measurements.md)


def test_a_a_false_alarms_stay_below_alpha():
    """400 same-code gates with pass-level, run-level, per-case and two-state noise: exit 1 at most alpha."""
    rng = np.random.default_rng(2026)
    alarms = sum(gate.judge(simulate(rng, MEASURED, processes=PROCESSES), threshold=0.10, alpha=0.01).failed
                 for _ in range(400))
    assert alarms / 400 <= 0.01


def test_significance_alone_keeps_its_family_wise_rate():
    """Without the threshold's guard, the chance that any case or model is significant stays near alpha."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(300):
        verdicts = gate.judge(simulate(rng, MEASURED, processes=PROCESSES), threshold=0.0, alpha=0.01)
        hits += bool((pd.concat([verdicts.cases, verdicts.models])["p_holm"] < 0.005).any())
    assert hits / 300 <= 0.02  # alpha 0.01, with room for 300 draws' chance (2.6 standard errors)


def test_one_model_15_percent_slower_is_found():
    """Power: mnist_cnn 15% slower in every case is named slower in at least 90% of gates."""
    rng = np.random.default_rng(11)
    found = 0
    for _ in range(200):
        verdicts = gate.judge(simulate(rng, MEASURED, processes=PROCESSES, slower={"mnist_cnn": 1.15}),
                              threshold=0.10, alpha=0.01)
        found += "mnist_cnn cpu" in verdicts.regressions
    assert found / 200 >= 0.90


def test_the_ratio_shown_is_the_ratio_tested():
    values = simulate(np.random.default_rng(0), MEASURED, processes=4)
    cases = gate.judge(values, threshold=0.10, alpha=0.01).cases
    logs = np.log(values.set_index(["side", "model", "mode", "batch_size"])["median_ms"])
    for row in cases.itertuples():
        base = logs.loc[("base", row.model, row.mode, row.batch_size)].mean()
        head = logs.loc[("head", row.model, row.mode, row.batch_size)].mean()
        assert row.ratio == pytest.approx(np.exp(head - base))
        assert row.head_ms / row.base_ms == pytest.approx(row.ratio)
        assert row.low <= row.ratio <= row.high


def test_one_process_a_side_decides_nothing():
    verdicts = gate.judge(simulate(np.random.default_rng(0), MEASURED, processes=1, slower={"mnist_cnn": 2.0}),
                          threshold=0.10, alpha=0.01)
    assert (verdicts.cases["verdict"] == "inconclusive").all() and not verdicts.failed
    assert (verdicts.cases["needs"] == "2 processes a side").all()


def with_status(values, model, status, message="", *, processes=None):
    values = values.copy()
    rows = (values["side"] == "head") & (values["model"] == model)
    if processes is not None:
        rows &= values["process"].isin(processes)
    values.loc[rows, ["status", "message", "median_ms"]] = [status, message, np.nan]
    return values


@pytest.mark.parametrize("status,message", [("error", "ValueError: broken"), ("oom", "out of memory")])
def test_a_case_that_fails_in_head_fails_the_gate(status, message):
    values = with_status(simulate(np.random.default_rng(1), MEASURED, processes=3), "imdb_gru", status, message,
                         processes=["head1"])
    verdicts = gate.judge(values, threshold=0.10, alpha=0.01)
    assert verdicts.failed and not verdicts.regressions
    assert len(verdicts.holes) == 4
    assert verdicts.holes[0].startswith(f"imdb_gru infer b1 cpu: {status} in head (1 of 3 processes): {message}")


def test_a_case_missing_in_head_fails_the_gate():
    values = simulate(np.random.default_rng(1), MEASURED, processes=3)
    values = values[~((values["side"] == "head") & (values["model"] == "imdb_gru") & (values["mode"] == "train"))]
    verdicts = gate.judge(values, threshold=0.10, alpha=0.01)
    assert verdicts.holes == ["imdb_gru train b1 cpu: missing in head", "imdb_gru train b32 cpu: missing in head"]


def test_a_case_failing_in_base_only_is_not_a_hole():
    values = simulate(np.random.default_rng(1), MEASURED, processes=3)
    values.loc[(values["side"] == "base") & (values["model"] == "imdb_gru"), "status"] = "error"
    assert gate.judge(values, threshold=0.10, alpha=0.01).holes == []


def test_settled_units_keep_their_verdict_and_enter_holm_with_p_1():
    values = simulate(np.random.default_rng(3), MEASURED, processes=4, slower={"mnist_cnn": 1.5})
    first = gate.judge(values, threshold=0.10, alpha=0.01)
    case = tuple(first.cases.iloc[0][list(CASE_KEY)])
    later = gate.judge(values, threshold=0.10, alpha=0.01, settled={case})
    assert later.cases.iloc[0]["verdict"] == "unchanged" and later.cases.iloc[0]["p_holm"] == 1.0
    assert (later.cases["p_holm"].iloc[1:] >= first.cases["p_holm"].iloc[1:] - 1e-12).all()


def test_undecided_lists_inconclusive_cases_and_models():
    verdicts = gate.judge(simulate(np.random.default_rng(0), MEASURED, processes=2), threshold=0.10, alpha=0.01)
    cases, models = verdicts.undecided()
    assert len(cases) == (verdicts.cases["verdict"] == "inconclusive").sum()
    assert all(len(model) == len(gate.MODEL_KEY) for model in models)
