"""The 2-core VM's noise as the paired gate sees it, for simulations of `bench ab` (tests/simulation, tests/unit).

Magnitudes: docs/measurements-gate.md, "Paired workers" (2026-12-02: `python -m bench noise` on the gate's recipe,
28 cases, one thread a pool, blocks of 0.25 s; and the first A/A gate's 4 worker pairs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench import ab
from bench.paired import Block

MODELS = ("mnist_cnn", "mnist_separable_cnn", "imdb_lstm", "imdb_lstm_cudnn", "imdb_bilstm", "imdb_gru",
          "imdb_simplernn")
CASES = [f"{model}-{mode}-cpu-b{batch}" for model in MODELS for mode in ("infer", "train") for batch in (1, 32)]
# Each case's warm call, ms (the A/A gate of 2026-12-03 00:01, its blocks' median calls): a block lasts
# whole calls, one at least, so the IMDB training cases bound a round however short the blocks.
CALL_MS = dict(zip(CASES, [1.4, 12, 21, 57, 1.2, 5.8, 20, 38, 49, 110, 420, 720, 21, 55, 110, 260,
                           110, 200, 860, 1500, 51, 100, 420, 600, 14, 25, 75, 140]))


@dataclass(frozen=True)
class PairedNoise:
    """Log-scale noise of a round's pair of blocks and of a worker pair, in the measured magnitudes.

    A round's log-ratio (head block less base block) spreads `round_sd` for the median case, times a
    lognormal factor of spread `round_spread` drawn once per case; with probability `hiccup_p` one of the
    two blocks is `hiccup` slower (a stall inside a block: the heavy tail). Each worker pair adds its own
    offset to each case's ratio (what is fixed for a process's life), of spread `pair_sd` times the case's
    lognormal factor of spread `pair_spread`, and an offset of spread `model_pair_sd` to all of a model's
    cases alike (what a worker pair does to a model as a whole). The shared wander, which pairing removes,
    moves both blocks of a round by `wander_sd`."""

    round_sd: float = 0.146
    round_spread: float = 0.32
    pair_sd: float = 0.022  # the first A/A gate: pairs' values spread 1.22 times as much as rounds predict
    pair_spread: float = 0.5
    model_pair_sd: float = 0.009  # two A/A gates: 0.004 and 0.013 beyond what the cases' factor predicts
    hiccup_p: float = 0.01
    hiccup: float = 0.3
    wander_sd: float = 0.16


MEASURED = PairedNoise()


class SimulatedMachine:
    """The VM as the paired gate sees it: worker pairs of the recipe's matrix (CASES) with the noise drawn once
    per case, lasting as the measured ones did (STARTUP_S, then BUILD_S a case, both workers at once, then
    a block's whole calls of CALL_MS, as many as its seconds need and one at least, plus OVERHEAD_S).
    `slower` maps a model to the factor its cases are slower by in head; `broken` names cases that fail in
    head. Gives bench.ab.PairedGate its pairs and its clock."""

    STARTUP_S, BUILD_S, OVERHEAD_S = 20.0, 2.1, 0.001  # a pair's start-up and build: 69 to 91 s measured

    def __init__(self, rng, noise: PairedNoise = MEASURED, slower: dict | None = None, broken=()):
        self.rng, self.noise, self.now, self.broken = rng, noise, 0.0, set(broken)
        count = len(CASES)
        self.round_sd = noise.round_sd * rng.lognormal(0, noise.round_spread, count)
        self.pair_sd = noise.pair_sd * rng.lognormal(0, noise.pair_spread, count)
        self.level = np.log([CALL_MS[case] for case in CASES])
        self.effect = {case: math.log((slower or {}).get(case.split("-")[0], 1.0)) for case in CASES}
        self.opened: list[list[str]] = []  # the cases each pair timed, once a visit
        self.rounds: list[int] = []  # each pair's rounds
        self.timing_s: list[float] = []  # each pair's seconds in its rounds

    def clock(self) -> float:
        return self.now

    def open_pair(self, number: int) -> "SimulatedPair":
        return SimulatedPair(self, number)


class SimulatedPair:
    def __init__(self, machine: SimulatedMachine, number: int):
        self.machine, self.number, self.failures = machine, number, {}
        shared = dict(zip(MODELS, machine.rng.normal(0, machine.noise.model_pair_sd, len(MODELS))))
        self.offsets = machine.rng.normal(0, 1, len(CASES)) * machine.pair_sd + [shared[case.split("-")[0]]
                                                                                  for case in CASES]
        machine.opened.append([])
        machine.rounds.append(0)
        machine.timing_s.append(0.0)

    def start(self) -> dict[str, list[str]]:
        self.machine.now += SimulatedMachine.STARTUP_S
        return {"base": list(CASES), "head": list(CASES)}

    def prepare(self, cases: list[str]) -> None:
        self.machine.now += SimulatedMachine.BUILD_S * len(cases)
        self.failures.update({("head", case): "ValueError: broken on purpose" for case in cases
                              if case in self.machine.broken})

    def round(self, number: int, cases: list[str], seconds: float) -> list[Block]:
        machine, noise, rng, blocks = self.machine, self.machine.noise, self.machine.rng, []
        visits = dict.fromkeys(cases, 0)
        machine.rounds[-1] = number
        for case in rng.permutation(cases):
            index = CASES.index(case)
            call = CALL_MS[case] / 1e3
            calls = max(1, math.ceil(seconds / call))
            machine.now += 2 * (call * calls + SimulatedMachine.OVERHEAD_S)
            machine.timing_s[-1] += 2 * (call * calls + SimulatedMachine.OVERHEAD_S)
            machine.opened[-1].append(case)
            shared = machine.level[index] + rng.normal(0, noise.wander_sd)
            half = rng.normal(0, machine.round_sd[index]) / 2  # the two blocks differ by round_sd
            hiccups = (rng.uniform(size=2) < noise.hiccup_p) * noise.hiccup
            logs = {"base": shared - half + hiccups[0],
                    "head": shared + half + hiccups[1] + self.offsets[index] + machine.effect[case]}
            first = rng.integers(2) == 0
            blocks += [Block(pair=self.number, round=number, case=case, side=side, first=(side == "base") == first,
                             started_s=machine.now, calls=calls, median_ms=math.exp(log), spread=0.02,
                             built_s=0.0, visit=visits[case]) for side, log in logs.items()]
            visits[case] += 1
        return blocks

    def close(self) -> None:
        pass


def simulated_gate(rng, *, budget_min=15.0, slower=None, broken=(), noise: PairedNoise = MEASURED,
                   threshold=ab.DEFAULT_THRESHOLD, say=lambda line: None):
    """bench.ab's whole procedure (pairs, looks, settling, the budget) on a SimulatedMachine; (verdicts, machine)."""
    machine = SimulatedMachine(rng, noise, slower, broken)
    gate = ab.PairedGate(machine.open_pair, list(CASES), budget_s=budget_min * 60, threshold=threshold, alpha=0.01,
                         say=say, clock=machine.clock)
    return gate.run(), machine
