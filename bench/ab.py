"""`python -m bench ab BASE HEAD`: the regression gate, with fresh processes as the replicates.

BASE and HEAD are checkouts of this project (directories, or git refs of the
repository this runs in, checked out as worktrees under --out). Each side's
`python -m pytest bench/` runs in fresh processes, alternating A B B A A B ...
with the same arguments, so that the machine's slow and fast spells fall on both
sides alike. After MIN_PROCESSES a side, each look settles the cases and models
whose interval lies inside the threshold band; the next processes time only what
is still undecided (every case of an undecided model), until nothing is or the
budget is spent. Verdicts: bench.analysis.gate.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import store
from bench.analysis import gate
from bench.checkouts import Side, check_pytest_args, checkout, collect, remove_worktree
from bench.output.tables import render
from bench.output.verdicts import verdict_lines
from bench.parsers import OptionError
from bench.store import CASE_KEY

# The recipe when no pytest arguments are given: the gate profile's short processes, no predict
# (Keras' predict machinery costs ~0.1 s a call: the 2-core VM then affords too few processes),
# one thread per pool (whole processes wander far less: docs/measurements.md, "Thread pools").
DEFAULT_ARGS = ("--profile", "gate", "--modes", "infer,train", "--threads", "1")
MIN_PROCESSES = 3  # a side, before any case is settled or the gate may stop: 4 df of the case's own
ORDER = ("base", "head", "head", "base")  # repeated: each side goes first as often as second
STARTUP_S = 15.0  # a process's cost before its first case (imports, calibration), for the budget
HANG_S = 120.0
@dataclass
class Process:
    side: str
    number: int
    seconds: float
    values: pd.DataFrame | None  # its rows (bench.store.load_process); None when it wrote no run
    note: str  # the run file's name, or why there is none
    selected: int  # cases asked for; 0: the whole matrix


def case_id(case: dict) -> str:
    """The pytest id of a single-device case (bench.plan.Case.id) from a run's row."""
    return f"{case['model']}-{case['mode']}-{case['device']}-b{int(case['batch_size'])}"


def selection(values: pd.DataFrame, undecided_cases: set, undecided_models: set) -> list[str]:
    """The case ids the next processes time: undecided cases, every case of an undecided model, and each
    model's fastest case (its anchor: the process's level is read from the other models' cases)."""
    ok = values[values["status"] == "ok"]
    anchors = ok.sort_values("median_ms").drop_duplicates(list(gate.MODEL_KEY))
    chosen = {case_id(row) for _, row in anchors.iterrows()}
    for case in ok[list(CASE_KEY)].drop_duplicates().itertuples(index=False):
        row = dict(zip(CASE_KEY, case))
        if tuple(case) in undecided_cases or tuple(row[c] for c in gate.MODEL_KEY) in undecided_models:
            chosen.add(case_id(row))
    return sorted(chosen)


def keyword(ids: list[str]) -> str:
    """A -k expression matching exactly these cases, in every pass (ids end with ] or -passN])."""
    return " or ".join(f"[{case}] or [{case}-pass" for case in ids)


class PytestLauncher:
    """Starts one side's `python -m pytest bench/` in its checkout and reads its run back from out/<side>/."""

    def __init__(self, sides: dict[str, Side], pytest_args: list[str], out: Path):
        self.sides, self.pytest_args, self.out = sides, pytest_args, out

    def __call__(self, side: str, ids: list[str] | None, number: int, limit_s: float) -> Process:
        results = self.out / side
        log = self.out / "logs" / f"{number:03d}-{side}.log"
        before = set(results.glob("*.csv")) if results.exists() else set()
        command = [sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider", *self.pytest_args,
                   "--results-dir", str(results.resolve())]
        if ids is not None:
            command += ["-k", keyword(ids)]
        start = time.monotonic()
        with log.open("w") as stream:
            try:
                subprocess.run(command, cwd=self.sides[side].checkout, stdout=stream, stderr=subprocess.STDOUT,
                               timeout=limit_s)
            except subprocess.TimeoutExpired:
                stream.write(f"\nab: stopped after {limit_s:.0f} s\n")
        seconds = time.monotonic() - start
        written = sorted(p for p in set(results.glob("*.csv")) - before if not p.name.endswith(store.SAMPLES_SUFFIX))
        selected = len(ids) if ids is not None else 0
        if not written:
            return Process(side, number, seconds, None, f"no run written (see {log})", selected)
        return Process(side, number, seconds, store.load_process(written[-1]), written[-1].name, selected)


class Gate:
    """Runs the processes, alternating the sides, and judges them (see the module docstring).

    `launch(side, ids, number, limit_s)` runs one process (PytestLauncher; a simulation in the tests)
    and `clock` tells the time, so that the whole procedure can be checked against simulated noise.
    """

    def __init__(self, sides: dict[str, Side], launch, *, budget_s: float, threshold: float, alpha: float,
                 say=print, clock=time.monotonic, started: float | None = None):
        self.sides, self.launch, self.budget_s = sides, launch, budget_s
        self.threshold, self.alpha, self.say, self.clock = threshold, alpha, say, clock
        self.processes: list[Process] = []
        self.settled: set = set()
        self.started = clock() if started is None else started  # the budget counts from here

    def run(self) -> gate.Verdicts | None:
        ids: list[str] | None = None  # None: the whole matrix
        order = itertools.cycle(ORDER)
        while True:
            pair = [next(order), next(order)]
            if not self._affordable(ids):
                break
            for side in pair:
                self._run_process(side, ids)
            if self._count("base") < MIN_PROCESSES or self._count("head") < MIN_PROCESSES:
                continue
            verdicts = self.judge()
            self.settled |= _unchanged(verdicts)
            cases, models = verdicts.undecided()
            if not cases and not models:
                self.say("every case and model decided")
                break
            ids = selection(self.values(), cases, models)
            self.say(f"undecided: {len(cases)} case(s), {len(models)} model(s); next processes time {len(ids)} case(s)")
        return self.judge() if self.processes else None

    def _count(self, side: str) -> int:
        return sum(1 for p in self.processes if p.side == side and p.values is not None)

    def _affordable(self, ids) -> bool:
        """Whether one more pair of processes fits in the budget, at the pace measured so far."""
        elapsed = self.clock() - self.started
        if not self.processes:
            return True
        # The slowest whole-matrix process so far sets the pace: a gate that overruns its budget is worse
        # than one that stops a pair early.
        full = [p for p in self.processes if p.selected == 0 and p.values is not None] or self.processes
        slowest = max(full, key=lambda p: p.seconds)
        timed = max(1, slowest.values["status"].eq("ok").sum() if slowest.values is not None else 1)
        per_case = max(0.0, slowest.seconds - STARTUP_S) / timed
        pair_s = 2 * (STARTUP_S + per_case * (len(ids) if ids is not None else timed))
        if elapsed + pair_s > self.budget_s:
            self.say(f"budget: {elapsed / 60:.1f} of {self.budget_s / 60:.1f} min spent; the next pair needs "
                     f"~{pair_s / 60:.1f} min")
            return False
        return True

    def _run_process(self, side: str, ids: list[str] | None) -> None:
        # A process that hangs is stopped once it has overrun what is left of the budget by HANG_S.
        limit = max(0.0, self.budget_s - (self.clock() - self.started)) + HANG_S
        process = self.launch(side, ids, len(self.processes) + 1, limit)
        self.processes.append(process)
        self.say(f"{process.number:3d} {side:4s} {process.seconds:6.1f} s  {process.note}")

    def values(self) -> pd.DataFrame:
        frames = [p.values.assign(side=p.side, process=f"{p.side}{p.number:03d}")
                  for p in self.processes if p.values is not None]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def judge(self) -> gate.Verdicts | None:
        values = self.values()
        if values.empty or not {"base", "head"} <= set(values["side"]):
            return None
        verdicts = gate.judge(values, threshold=self.threshold, alpha=self.alpha, settled=self.settled)
        base, head = self.sides["base"].cases, self.sides["head"].cases
        verdicts.holes += [f"{case}: missing in head (its collection has no such case)"
                           for case in sorted(base - head)]
        return verdicts


def _unchanged(verdicts: gate.Verdicts) -> set:
    from bench.analysis.stats import UNCHANGED

    cases = verdicts.cases[verdicts.cases["verdict"] == UNCHANGED]
    models = verdicts.models[verdicts.models["verdict"] == UNCHANGED]
    return ({tuple(row) for row in cases[list(CASE_KEY)].itertuples(index=False)}
            | {tuple(row) for row in models[list(gate.MODEL_KEY)].itertuples(index=False)})


def main(base_text: str, head_text: str, pytest_args: list[str], *, out: Path, budget_min: float,
         threshold: float, alpha: float, say=print) -> int:
    """The whole gate: check the input, collect both sides, run, print and write the verdicts.

    Returns:
        0 no regression, 1 a regression or a hole (named), 2 nothing could be judged.
    """
    started = time.monotonic()  # the budget covers the collection too
    pytest_args = list(pytest_args) or list(DEFAULT_ARGS)
    check_pytest_args(pytest_args)
    if out.exists() and any(out.iterdir()):
        raise OptionError(f"--out: {out} is not empty; every gate writes its runs into a directory of its own")
    base, head = checkout(base_text, "base", out), checkout(head_text, "head", out)
    try:
        for side in (base, head):
            collect(side, pytest_args)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        return _gate(base, head, pytest_args, out=out, budget_min=budget_min, threshold=threshold, alpha=alpha,
                     say=say, started=started)
    finally:
        for side in (base, head):
            remove_worktree(side)


def _gate(base: Side, head: Side, pytest_args, *, out, budget_min, threshold, alpha, say, started) -> int:
    base_text, head_text = base.given, head.given
    if not base.cases:
        raise OptionError(f"BASE ({base_text}): no benchmark case in its matrix; widen the pytest arguments")
    say(f"ab: {base_text} against {head_text}: {len(base.cases)} case(s) collected ({' '.join(pytest_args)}), budget "
        f"{budget_min:g} min, threshold {threshold:.0%}, alpha {alpha}; runs in {out}")
    sides = {"base": base, "head": head}
    verdicts = Gate(sides, PytestLauncher(sides, pytest_args, out), budget_s=budget_min * 60, threshold=threshold,
                    alpha=alpha, say=say, started=started).run()
    if verdicts is None or verdicts.cases.empty:
        say("error: nothing could be judged: no case ran ok on both sides (see the logs in "
            f"{out / 'logs'})")
        return 2
    for name, table in (("models.csv", verdicts.models), ("cases.csv", verdicts.cases)):
        (out / name).write_text(render(table, "csv") + "\n")
    for line in verdict_lines(verdicts):
        say(line)
    return 1 if verdicts.failed else 0
