"""`python -m bench ab BASE HEAD`: the regression gate, base and head measured side by side in time.

BASE and HEAD are checkouts of this project (directories, or git refs of the
repository this runs in, checked out as worktrees under --out). Both collect their
matrix with the user's arguments (a bad one is refused in one line); then worker
pairs (bench.paired) run one after another: each pair starts one bench.worker in
each checkout, which builds and warms its cases through its own harness and models
code (both at once), and times rounds: every case in a random order, as a block in one
worker and then one in the other, the two in a random order; a cheap case is visited
more than once a round (MAX_VISITS). The budget is
shared among PLANNED_PAIRS pairs; fresh pairs sample what is fixed for a process's
life. After MIN_PAIRS pairs each look
settles the cases and models whose interval lies inside the threshold band; later
pairs time only what is still undecided, until nothing is or the budget is spent.
Verdicts: bench.analysis.paired_gate. Measurements behind the constants:
docs/measurements-gate.md, "Paired workers".
"""

from __future__ import annotations

import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from bench import backends
from bench.analysis import paired_gate, stats
from bench.analysis.gate import ALL_MODELS, Verdicts
from bench.checkouts import Side, check_pytest_args, checkout, collect, remove_worktree
from bench.output.tables import render
from bench.output.verdicts import verdict_lines
from bench.paired import Block, Pair, WorkerError
from bench.parsers import OptionError

# The recipe when no arguments are given: the gate profile's warm-up, no predict (Keras' predict
# machinery costs ~0.1 s a call), one thread per pool where the backend lets the harness set it
# (docs/measurements.md, "Thread pools"; JAX's pools cannot be set).
DEFAULT_ARGS = ("--profile", "gate", "--modes", "infer,train")
THREADS_ARGS = ("--threads", "1")
# One block of a case: a round's pair of blocks spread as much at 0.05 s as at 0.25 s in the A/A gates, and a
# round took 11 s instead of 21 (docs/measurements-gate.md, "Models borrow the cases' prior; blocks of 0.05 s").
BLOCK_S = 0.05
# A case's block pairs in a round: sqrt(the costliest case's block over its own), at most MAX_VISITS. A
# round's log-ratio spreads about alike in every case, cheap or not, so a second of rounds buys the most
# precision in the cheapest cases (Kalibera & Jones' allocation by cost): a 50-ms infer block is worth
# repeating while an IMDB training step of 1.5 s is timed once (docs/measurements-gate.md, "Visits").
MAX_VISITS = 4
PLANNED_PAIRS = 4  # the budget is shared among them: what 3 leave undecided gets the 4th's rounds alone
MIN_PAIRS = 3  # before any case is settled or the gate may stop: 2 df of a case's own
MIN_ROUNDS = 2  # a pair's rounds: its within-pair variance needs two
DEFAULT_THRESHOLD = 0.05  # the smallest change that counts; near what the gate sees in 15 minutes here


def default_args() -> list[str]:
    backend = backends.BACKENDS.get(backends.requested())
    settable = backend is not None and backend.sets_threads
    return [*DEFAULT_ARGS, *(THREADS_ARGS if settable else ())]


class PairedGate:
    """Opens worker pairs one after another within the budget and judges their blocks.

    `open_pair(number)` gives a started-to-be Pair (a simulated one in the tests) and `clock` tells the
    time, so that the whole procedure can be checked against simulated noise.
    """

    def __init__(self, open_pair, cases: list[str], *, budget_s: float, threshold: float, alpha: float,
                 say=print, clock=time.monotonic, started: float | None = None, holes=()):
        self.open_pair, self.cases, self.budget_s = open_pair, list(cases), budget_s
        self.threshold, self.alpha, self.say, self.clock = threshold, alpha, say, clock
        self.started = clock() if started is None else started
        self.blocks: list = []
        self.failures: dict[tuple[str, str], str] = {}
        self.settled: set = set()
        self.holes = list(holes)
        self.pairs = 0
        self._startup_s = 60.0  # the last pair's start-up (imports, building every case); a guess before one
        self._round_s_per_case = 0.0
        self._block_s: dict[str, float] = {}  # a case's last pair of blocks: seconds, the two sides' mean
        self._judged = None  # (what it judged, the verdicts): the last look, reused when nothing changed

    def run(self) -> Verdicts | None:
        todo = None  # None: every case the workers can run
        while True:
            cases = [case for case in (self.cases if todo is None else todo) if not self._failed(case)]
            if not cases or not self._affordable(len(cases)):
                break
            self.pairs += 1
            self._run_pair(cases)
            if self.pairs < MIN_PAIRS:
                continue
            verdicts = self.judge()
            if verdicts is None:  # no case has been timed on both sides
                continue
            self.settled |= _unchanged(verdicts)
            todo = self._undecided(verdicts)
            self.say(f"undecided: {len(todo)} case(s)" if todo else "every case and model decided")
            if not todo:
                break
        return self.judge() if self.blocks else None

    def _left(self) -> float:
        return self.budget_s - (self.clock() - self.started)

    def _affordable(self, cases: int) -> bool:
        needed = self._startup_s + MIN_ROUNDS * self._round_s_per_case * cases
        if self.pairs and needed > self._left():
            self.say(f"budget: {(self.budget_s - self._left()) / 60:.1f} of {self.budget_s / 60:.1f} min spent; "
                     f"the next worker pair needs ~{needed / 60:.1f} min")
            return False
        return True

    def _run_pair(self, cases: list[str]) -> None:
        """One worker pair: start, build every case in both workers at once, then rounds for its share of
        what is left of the budget (the planned pairs still to come each get as much)."""
        opened = self.clock()
        pair = self.open_pair(self.pairs)
        rounds = 0
        try:
            runnable = pair.start()
            if self.pairs == 1:  # the workers list the cases their devices can run
                self._keep_runnable(runnable)
                cases = [case for case in cases if case in self.cases]
            pair.prepare(cases)
            self.failures.update(pair.failures)
            cases = [case for case in cases if not self._failed(case)]
            self._startup_s = self.clock() - opened
            # Its share of what is left, counted now that its start-up is known (the first pair's is not
            # before it ends): the pairs still to come each start as long and get as much.
            coming = max(1, PLANNED_PAIRS - self.pairs + 1)
            share = (self._left() - self._startup_s * (coming - 1)) / coming
            rounds_start = self.clock()
            while cases and (rounds < MIN_ROUNDS or (self.clock() - rounds_start < share
                                                     and self._left() > self._round_s_per_case * len(cases))):
                round_start = self.clock()
                rounds += 1
                timed = pair.round(rounds, self._visits(cases), BLOCK_S)
                self.blocks += timed
                self._round_s_per_case = (self.clock() - round_start) / len(cases)
                for block in timed:
                    self._block_s[block.case] = block.calls * block.median_ms / 1e3
                self.failures.update(pair.failures)
                cases = [case for case in cases if not self._failed(case)]
        except WorkerError as error:  # a worker that stopped: what it was doing is a failure of its side
            if error.side == "base" and error.case is None:
                raise  # BASE cannot run its matrix: nothing can be judged
            for case in [error.case] if error.case else cases:
                self.failures[error.side, case] = str(error)
            self.say(f"pair {self.pairs:2d}: {error}")
        finally:
            pair.close()
            self.failures.update(pair.failures)
        self.say(f"pair {self.pairs:2d}: {rounds} rounds of {len(cases)} case(s) in {self.clock() - opened:5.1f} s")

    def _visits(self, cases: list[str]) -> list[str]:
        """The next round's visits: each case listed once per pair of blocks (once each until every case's
        block has been timed)."""
        if not cases or any(case not in self._block_s for case in cases):
            return list(cases)
        costliest = max(self._block_s[case] for case in cases)

        def visits(case: str) -> int:
            return min(MAX_VISITS, max(1, round(math.sqrt(costliest / max(self._block_s[case], 1e-9)))))

        return [case for case in cases for _ in range(visits(case))]

    def _keep_runnable(self, runnable: dict[str, list[str]]) -> None:
        base, head = set(runnable["base"]), set(runnable["head"])
        self.holes += [f"{_name(case)}: missing in head (its worker cannot run it)" for case in sorted(base - head)
                       if case in self.cases]
        self.cases = [case for case in self.cases if case in base & head]

    def _failed(self, case: str) -> bool:
        return any((side, case) in self.failures for side in ("base", "head"))

    def _undecided(self, verdicts: Verdicts) -> list[str]:
        """Undecided cases, and every case of an undecided model (a model is judged on all of its cases)."""
        undecided = verdicts.cases[verdicts.cases["verdict"] == stats.INCONCLUSIVE]["case"].tolist()
        models = verdicts.models[(verdicts.models["verdict"] == stats.INCONCLUSIVE)
                                 & (verdicts.models["model"] != ALL_MODELS)]
        keys = set(zip(models["model"], models["device"]))
        for case in self.cases:
            columns = paired_gate.case_columns(case)
            if (columns["model"], columns["device"]) in keys:
                undecided.append(case)
        return sorted(set(undecided) - {c for c in self.cases if self._failed(c)})

    def judge(self) -> Verdicts | None:
        if not self.blocks:
            return None
        if self._judged is not None and self._judged[0] == (len(self.blocks), len(self.failures), len(self.settled)):
            return self._judged[1]  # nothing new since the last look
        holes = self.holes_named()
        blocks = self.block_table()  # a case that failed on either side is judged in no pair (nor its model's)
        blocks = blocks[~blocks["case"].map(self._failed)]
        verdicts = paired_gate.judge(blocks, threshold=self.threshold, alpha=self.alpha, settled=self.settled,
                                     holes=holes)
        self._judged = ((len(self.blocks), len(self.failures), len(self.settled)), verdicts)
        return verdicts

    def holes_named(self) -> list[str]:
        """Cases missing in head, and those that fail there but not in base, each named once."""
        return self.holes + [f"{_name(case)}: error in head: {message}"
                             for (side, case), message in sorted(self.failures.items())
                             if side == "head" and ("base", case) not in self.failures]

    def block_table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(block) for block in self.blocks])  # flat dataclasses: vars is asdict, faster

    def save_blocks(self, path: Path) -> None:
        columns = list(Block.__dataclass_fields__)
        (self.block_table() if self.blocks else pd.DataFrame(columns=columns)).to_csv(path, index=False)


def _unchanged(verdicts: Verdicts) -> set:
    cases = verdicts.cases[verdicts.cases["verdict"] == stats.UNCHANGED]["case"]
    models = verdicts.models[verdicts.models["verdict"] == stats.UNCHANGED]
    return set(cases) | set(zip(models["model"], models["device"]))


def _name(case: str) -> str:
    columns = paired_gate.case_columns(case)
    return f"{columns['model']} {columns['mode']} b{columns['batch_size']} {columns['device']}"


def main(base_text: str, head_text: str, pytest_args: list[str], *, out: Path, budget_min: float,
         threshold: float, alpha: float, say=print, seed: int | None = None) -> int:
    """The whole gate: check the input, collect both sides, run the worker pairs, print and write the verdicts.

    Returns:
        0 no regression, 1 a regression or a hole (named), 2 nothing could be judged.
    """
    started = time.monotonic()  # the budget covers the collection too
    pytest_args = list(pytest_args) or default_args()
    check_pytest_args(pytest_args)
    if out.exists() and any(out.iterdir()):
        raise OptionError(f"--out: {out} is not empty; every gate writes its runs into a directory of its own")
    base, head = checkout(base_text, "base", out), checkout(head_text, "head", out)
    try:
        for side in (base, head):
            if not (side.checkout / "bench" / "worker.py").is_file():
                raise OptionError(f"{side.name.upper()} ({side.given}) predates the paired gate (it has no "
                                  "bench/worker.py); give a newer commit, or run that commit's own `bench ab`")
        with ThreadPoolExecutor(2) as pool:  # each collection is a process of its own: both at once
            list(pool.map(lambda side: collect(side, pytest_args), (base, head)))
        (out / "logs").mkdir(parents=True, exist_ok=True)
        return _gate(base, head, pytest_args, out=out, budget_min=budget_min, threshold=threshold, alpha=alpha,
                     say=say, started=started, seed=seed)
    finally:
        for side in (base, head):
            remove_worktree(side)


def _gate(base: Side, head: Side, pytest_args, *, out, budget_min, threshold, alpha, say, started, seed) -> int:
    if not base.cases:
        raise OptionError(f"BASE ({base.given}): no benchmark case in its matrix; widen the pytest arguments")
    holes = [f"{_name(case)}: missing in head (its collection has no such case)"
             for case in sorted(base.cases - head.cases)]
    cases = sorted(base.cases & head.cases)
    say(f"ab: {base.given} against {head.given}: {len(cases)} case(s) ({' '.join(pytest_args)}), budget "
        f"{budget_min:g} min, threshold {threshold:.0%}, alpha {alpha}; paired workers, blocks of {BLOCK_S:g} s; "
        f"runs in {out}")
    rng = random.Random(seed)
    zero = time.monotonic()

    def open_pair(number: int) -> Pair:
        return Pair(number, {"base": (base.checkout, None), "head": (head.checkout, None)}, pytest_args,
                    logs=out / "logs", clock_zero=zero, rng=rng)

    gate = PairedGate(open_pair, cases, budget_s=budget_min * 60, threshold=threshold, alpha=alpha, say=say,
                      started=started, holes=holes)
    try:
        verdicts = gate.run()
    except WorkerError as error:  # BASE's worker could not start or build
        say(f"error: {error}")
        return 2
    finally:
        gate.save_blocks(out / "blocks.csv")
    for (side, case), message in sorted(gate.failures.items()):
        if side == "base":
            say(f"not judged: {_name(case)}: error in base: {message}")
    if verdicts is None or verdicts.cases.empty:
        holes = gate.holes_named()
        say(f"error: nothing could be judged: no case ran ok on both sides (see the logs in {out / 'logs'})")
        for hole in holes:
            say(f"FAILED {hole}")
        return 1 if holes else 2
    for name, table in (("models.csv", verdicts.models), ("cases.csv", verdicts.cases)):
        (out / name).write_text(render(table, "csv") + "\n")
    for line in verdict_lines(verdicts):
        say(line)
    return 1 if verdicts.failed else 0
