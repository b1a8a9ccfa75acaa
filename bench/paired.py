"""Paired workers: two long-lived bench.worker processes timed block by block, side by side in time.

The machine's speed wanders over seconds to minutes (docs/measurements.md), and two
processes timed in alternating short blocks feel the same wander: the log-ratio of a
pair of blocks, one from each worker, taken one right after the other in a random
order, leaves most of it out. `Pair` runs one such pair of workers (from two checkouts,
or twice from one for the noise probe) and records every block; the gate
(bench.analysis.paired_gate) and the noise probe (bench.noise) read the records.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.worker import PROTOCOL

STARTUP_TIMEOUT_S = 300.0  # imports and device discovery; a worker silent for longer is stopped
BLOCK_TIMEOUT_S = 600.0  # a first block builds and warms its model (resnet50 on a slow CPU: minutes)


class WorkerError(RuntimeError):
    """A worker that could not start, stopped, or answered out of protocol; `side` names it, `case` what it
    was timing (None: starting)."""

    def __init__(self, message: str, side: str = "", case: str | None = None):
        super().__init__(message)
        self.side, self.case = side, case


# Two workers share one GPU for a pair's life: each gets under half of its memory, instead of the
# backends' default of (nearly) all of it for whichever starts first. A user's own setting wins.
SHARED_GPU_ENVIRONMENT = {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.45", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


class WorkerProcess:
    """One `python -m bench.worker` in a checkout; its stderr goes to `log`."""

    def __init__(self, checkout: Path, harness_args: list[str], *, log: Path, cpus: list[int] | None = None):
        pin = ["--cpus", ",".join(map(str, cpus))] if cpus else []
        self.log = log
        with log.open("w") as stream:
            self.process = subprocess.Popen([sys.executable, "-m", "bench.worker", *pin, *harness_args],
                                            cwd=checkout, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=stream, text=True, bufsize=1,
                                            env={**SHARED_GPU_ENVIRONMENT, **os.environ})
        self.cases: list[str] | None = None

    def ready(self) -> list[str]:
        """Waits for the worker's first line; its cases. Raises WorkerError."""
        hello = self._receive(STARTUP_TIMEOUT_S)
        if hello.get("protocol") != PROTOCOL:
            raise WorkerError(f"speaks protocol {hello.get('protocol')!r}, not {PROTOCOL}")
        if "error" in hello:
            raise WorkerError(hello["error"])
        self.cases = list(hello["cases"])
        return self.cases

    def send(self, case: str, seconds: float, instance: int = 1) -> None:
        self.process.stdin.write(json.dumps({"time": case, "seconds": seconds, "instance": instance}) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict:
        return self._receive(BLOCK_TIMEOUT_S)

    def block(self, case: str, seconds: float, instance: int = 1) -> dict:
        self.send(case, seconds, instance)
        return self.receive()

    def _receive(self, timeout: float) -> dict:
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            self.close()
            raise WorkerError(f"{'stopped' if readable else f'silent for {timeout:.0f} s'} (see {self.log})")
        try:
            return json.loads(line)
        except ValueError:
            self.close()
            raise WorkerError(f"answered out of protocol: {line.strip()[:120]!r} (see {self.log})") from None

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"quit": True}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@dataclass
class Block:
    pair: int  # the worker pair, numbered from 1
    round: int  # the round of that pair: every case its visits' times, in a random order
    case: str
    side: str  # base or head (the noise probe: a and b)
    first: bool  # timed first of its two blocks
    started_s: float  # since the gate started
    calls: int
    median_ms: float  # the block's median call: the unit the gate compares
    spread: float  # the block's calls' interquartile range over their median (noise inside a block)
    built_s: float  # > 0: this block's request built and warmed the case first
    visit: int = 0  # which of the case's block pairs in its round (a cheap case has several)


def block_record(answer: dict, **identity) -> Block:
    seconds = np.asarray(answer["seconds"], float)
    q1, median, q3 = np.percentile(seconds, [25, 50, 75])
    return Block(**identity, calls=seconds.size, median_ms=median * 1e3, spread=(q3 - q1) / median,
                 built_s=answer.get("built_s", 0.0))


class Pair:
    """Two workers, `sides` -> (checkout, cpus), timed in alternating blocks (or at once: `concurrent`)."""

    def __init__(self, number: int, sides: dict, harness_args: list[str], *, logs: Path, clock_zero: float,
                 rng: random.Random, concurrent: bool = False, label: str = "pair"):
        self.number, self.rng, self.concurrent, self.clock_zero = number, rng, concurrent, clock_zero
        self.workers = {side: WorkerProcess(checkout, harness_args, cpus=cpus,
                                            log=logs / f"{label}{number:03d}-{side}.log")
                        for side, (checkout, cpus) in sides.items()}
        self.failures: dict[tuple[str, str], str] = {}  # (side, case) -> why it could not run

    def start(self) -> dict[str, list[str]]:
        """Waits for both workers (they start at the same time); each side's cases."""
        try:
            return {side: self._ask(side, None, self.workers[side].ready) for side in self.workers}
        except WorkerError:
            self.close()
            raise

    @staticmethod
    def _ask(side: str, case: str | None, request):
        try:
            return request()
        except WorkerError as error:
            raise WorkerError(f"{side}'s worker {error}", side, case) from None

    def prepare(self, cases: list[str]) -> None:
        """Builds and warms `cases` in both workers at the same time (one core each); failures are kept."""
        for worker in self.workers.values():
            worker.process.stdin.write(json.dumps({"prepare": cases}) + "\n")
            worker.process.stdin.flush()
        for side, worker in self.workers.items():
            for case, message in self._ask(side, None, worker.receive)["failed"].items():
                self.failures[side, case] = message

    def round(self, number: int, cases: list[str], seconds: float) -> list[Block]:
        """Every case of `cases` once for each time it is listed, in a random order; each visit a pair of
        blocks, its sides in a random order."""
        blocks, visits, failed = [], dict.fromkeys(cases, 0), set()
        for case in self.rng.sample(cases, len(cases)):
            if case in failed:  # at an earlier visit of this round
                continue
            order = self.rng.sample(list(self.workers), 2)
            started = time.monotonic() - self.clock_zero
            if self.concurrent:
                for side in order:
                    self.workers[side].send(case, seconds)
                answers = [(side, self._ask(side, case, self.workers[side].receive)) for side in order]
            else:
                answers = [(side, self._ask(side, case, lambda: self.workers[side].block(case, seconds)))
                           for side in order]
            if any(answer["status"] != "ok" for _, answer in answers):
                for side, answer in answers:
                    if answer["status"] != "ok":
                        self.failures[side, case] = answer["message"]
                failed.add(case)
                continue
            blocks += [block_record(answer, pair=self.number, round=number, visit=visits[case], case=case, side=side,
                                    first=index == 0, started_s=started) for index, (side, answer) in enumerate(answers)]
            visits[case] += 1
        return blocks

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
