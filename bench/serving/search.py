"""The highest offered load whose p99 latency stays within a bound: a bisection over QPS, confirmed.

As perf_analyzer and LoadGen do it, each probe is a full load level (bench.serving.figures
judges it: ok and within the bound by early stopping). The search starts from the
device's closed-loop capacity (the most queries a second its best bucket serves back to
back, timed in warm-up): a server cannot sustain more, so the first interval is
[0, HEADROOM x capacity]. It halves the interval until its width is within RESOLUTION
of its top or MAX_PROBES levels ran. Then it runs its best level again, and the lowest
failing probe above it once more: near the knee one draw is fragile (a slow second of a
shared machine fills the queue), so the answer is a load that passed twice; a level that
fails its second draw counts as failing, and the search goes on below it.

Bounded in time: no search starts when one query alone is slower than the bound, a probe
that has more queries over the bound than it could pass with ends at once (bench.serving.batcher),
and no probe goes below `floor_qps`, under which a level would outlast its time cap
(bench.serving.levels): at most MAX_PROBES + CONFIRM_LEVELS levels of at most that cap each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.serving.figures import LevelFigures

HEADROOM = 1.1
RESOLUTION = 0.05
MAX_PROBES = 7
CONFIRM_LEVELS = 5  # levels a search may add to confirm its answer (see _confirm)


@dataclass
class Search:
    """A finished search: every probe in order, the answer (passed twice) if any, and why it stopped."""

    bound_ms: float
    probes: list[LevelFigures] = field(default_factory=list)
    best: LevelFigures | None = None  # the answer's first draw
    again: LevelFigures | None = None  # the answer's second draw
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The probes in one line, e.g. "probes (qps): 550 within, 825 over, ...; ..."."""
        probes = "probes (qps): " + ", ".join(f"{probe.offered_qps:.4g} {_verdict(probe, self.bound_ms)}"
                                               for probe in self.probes)
        return "; ".join([probes, *self.notes]) if self.probes else "; ".join(self.notes)


def _verdict(probe: LevelFigures, bound_ms: float) -> str:
    if probe.meets_bound(bound_ms):
        return "within"
    if probe.status == "overloaded":
        return "overloaded"
    return "over (generator late)" if probe.generator_late else "over"


def find_max_qps(measure: Callable[[float], LevelFigures], *, capacity_qps: float, bound_ms: float,
                 floor_qps: float = 0.0, unloaded_ms: float | None = None) -> Search:
    """Bisects the offered load between 0 and HEADROOM x `capacity_qps`, then confirms (see above).

    Args:
        measure: runs one level at the given QPS.
        capacity_qps: the closed-loop capacity.
        bound_ms: the p99 bound.
        floor_qps: no probe below this load (a level there would outlast its time cap).
        unloaded_ms: one query's latency alone (the warm batch-1 step); over the bound, nothing runs.
    """
    search = Search(bound_ms)
    if unloaded_ms is not None and unloaded_ms > bound_ms:
        search.notes.append(f"one query alone takes {unloaded_ms:.3g} ms, over the bound: no load can meet it")
        return search
    low, high = 0.0, HEADROOM * capacity_qps
    while len(search.probes) < MAX_PROBES:
        qps = (low + high) / 2
        if qps < floor_qps:
            search.notes.append(f"no probe below {floor_qps:.3g} qps, where a level would outlast its time cap")
            break
        probe = measure(qps)
        search.probes.append(probe)
        if probe.meets_bound(bound_ms):
            search.best, low = probe, qps
        else:
            high = qps
        if search.best and high - low <= RESOLUTION * high:
            break
    if search.best is not None:
        _confirm(search, measure, floor_qps)
    return search


def _confirm(search: Search, measure: Callable[[float], LevelFigures], floor_qps: float) -> None:
    """Runs the lowest failing probe above the best once more (if it passes now, the answer may lie
    higher: said in the notes); then the best level again, the answer if it passes twice. A level that
    fails its second draw counts as failing: the next passing probe below it is run again, or, where
    there is none, a new one at half the load (CONFIRM_LEVELS levels in all, none below `floor_qps`)."""
    bound = search.bound_ms
    passing = sorted((probe for probe in search.probes if probe.meets_bound(bound)),
                     key=lambda probe: probe.offered_qps, reverse=True)
    above = [probe for probe in search.probes if probe.offered_qps > passing[0].offered_qps]
    levels = 0
    if above:
        lowest = min(above, key=lambda probe: probe.offered_qps)
        levels += 1
        if measure(lowest.offered_qps).meets_bound(bound):
            search.notes.append(f"{lowest.offered_qps:.4g} qps, over at first, was within on its second draw: "
                                "the answer may lie higher")
    search.best, failed_qps = None, passing[0].offered_qps
    while levels < CONFIRM_LEVELS:
        if passing:
            candidate = passing.pop(0)
        else:  # nothing below passed once: a new probe at half the lowest load that failed
            if failed_qps / 2 < floor_qps:
                break
            candidate = measure(failed_qps / 2)
            search.probes.append(candidate)
            levels += 1
            if not candidate.meets_bound(bound):
                failed_qps = candidate.offered_qps
                continue
            if levels >= CONFIRM_LEVELS:
                break
        again = measure(candidate.offered_qps)
        levels += 1
        if again.meets_bound(bound):
            search.best, search.again = candidate, again
            search.notes.append(f"confirmed: {candidate.offered_qps:.4g} qps within twice (p99 "
                                f"{candidate.latency.p99_ms:.3g} and {again.latency.p99_ms:.3g} ms)")
            return
        search.notes.append(f"{candidate.offered_qps:.4g} qps was over on its second draw (p99 "
                            f"{again.latency.p99_ms:.3g} ms)")
        failed_qps = candidate.offered_qps
    search.notes.append("no load passed twice")
