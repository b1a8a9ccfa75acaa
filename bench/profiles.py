"""The profiles: how long each case is warmed up and measured, and over how many passes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.results import rounds_needed


@dataclass(frozen=True)
class Profile:
    """How long to warm up and measure each case.

    Warm-up runs until both `warmup_calls` calls and `warmup_s` seconds are done;
    the timed rounds then number `measure_s` / (the warm step time), clamped to
    [min_rounds, max_rounds]: many rounds for a 1 ms step, min_rounds for a 1 s step.
    Latency cases (batch-1 inference, where the tail matters) take at least
    `tail_rounds`, enough for a p99 (see bench.results.rounds_needed), as long as
    they fit in `tail_budget_s`; a slower step gets what fits, and no p99.
    They are split over `passes` passes through the whole matrix (see bench.plan):
    a shared machine's speed wanders from second to second, and rounds spread over
    the session sample many of its states instead of one.
    A server-scenario load level lasts `serve_s` and issues `serve_queries` at least
    (enough for its p99, or its p99.9).
    """

    name: str
    batch_sizes: tuple[int, ...]
    warmup_calls: int
    warmup_s: float
    measure_s: float
    min_rounds: int
    max_rounds: int
    passes: int
    tail_rounds: int
    tail_budget_s: float
    serve_s: float
    serve_queries: int

    def rounds_for(self, step_s: float, *, tail: bool = False) -> int:
        wanted = int(self.measure_s / step_s) if step_s > 0 else self.max_rounds
        rounds = max(self.min_rounds, min(self.max_rounds, wanted))
        if tail:
            affordable = int(self.tail_budget_s / step_s) if step_s > 0 else self.tail_rounds
            rounds = max(rounds, min(self.tail_rounds, affordable))
        return rounds

    def rounds_per_pass(self, step_s: float, passes: int, *, tail: bool = False) -> int:
        return max(1, math.ceil(self.rounds_for(step_s, tail=tail) / passes))


PROFILES = {
    "quick": Profile("quick", batch_sizes=(1, 32, 128), warmup_calls=2, warmup_s=0.1,
                     measure_s=0.5, min_rounds=5, max_rounds=500, passes=5,
                     tail_rounds=rounds_needed(0.99), tail_budget_s=30.0,
                     serve_s=5.0, serve_queries=rounds_needed(0.99)),
    # `bench ab`'s: its replicates are processes, so each process is kept short: no p99 rounds
    # (batch-1 inference gets the rounds of any other case), two batch sizes.
    "gate": Profile("gate", batch_sizes=(1, 32), warmup_calls=2, warmup_s=0.1,
                    measure_s=0.5, min_rounds=5, max_rounds=500, passes=5,
                    tail_rounds=0, tail_budget_s=0.0, serve_s=5.0, serve_queries=rounds_needed(0.99)),
    "full": Profile("full", batch_sizes=(1, 32, 128, 512), warmup_calls=10, warmup_s=2.0,
                    measure_s=5.0, min_rounds=30, max_rounds=5000, passes=10,
                    tail_rounds=1000, tail_budget_s=120.0,
                    serve_s=60.0, serve_queries=rounds_needed(0.999)),
}
