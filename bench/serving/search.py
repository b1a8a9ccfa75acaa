"""The highest offered load whose p99 latency stays within a bound: a bisection over QPS.

As perf_analyzer and LoadGen do it, each probe is a full load level (bench.serving.figures
judges it: ok and within the bound by early stopping). The search starts from the
device's closed-loop capacity (the most queries a second its largest batch can serve,
timed in warm-up): a server cannot sustain more, so the first interval is
[0, HEADROOM x capacity]. It halves the interval until its width is within RESOLUTION
of its top or MAX_PROBES levels ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.serving.figures import LevelFigures

HEADROOM = 1.1
RESOLUTION = 0.05
MAX_PROBES = 7


@dataclass
class Search:
    """A finished search: every probe in order, and the best (highest passing) one, if any."""

    bound_ms: float
    probes: list[LevelFigures] = field(default_factory=list)
    best: LevelFigures | None = None

    def describe(self) -> str:
        """The probes in one line, e.g. "probes: 550 ok, 825 over, 688 ok, ..."."""
        return "probes (qps): " + ", ".join(f"{probe.offered_qps:.4g} {_verdict(probe, self.bound_ms)}"
                                            for probe in self.probes)


def _verdict(probe: LevelFigures, bound_ms: float) -> str:
    if probe.meets_bound(bound_ms):
        return "within"
    if probe.status == "overloaded":
        return "overloaded"
    return "over (generator late)" if probe.generator_late else "over"


def find_max_qps(measure: Callable[[float], LevelFigures], *, capacity_qps: float, bound_ms: float) -> Search:
    """Bisects the offered load between 0 and HEADROOM x `capacity_qps`; `measure(qps)` runs one level."""
    search = Search(bound_ms)
    low, high = 0.0, HEADROOM * capacity_qps
    while len(search.probes) < MAX_PROBES:
        qps = (low + high) / 2
        probe = measure(qps)
        search.probes.append(probe)
        if probe.meets_bound(bound_ms):
            search.best, low = probe, qps
        else:
            high = qps
        if search.best and high - low <= RESOLUTION * high:
            break
    return search
