"""Run-to-run noise of one value per run (a run's median ms), for simulations of `bench history`'s change points
(bench.analysis.changepoints; tests/simulation).

Magnitudes: docs/measurements-history.md, "History: change points" (fifteen real runs of one commit on the 2-core VM):
the series `bench history` judges a model by, the model against the run's other models, spread 4.5%, 5.9% and
6.7% from run to run for its three models; 6% here. A point pools `runs` runs of one commit (the nightly
recipe's repeats), each with its own noise and hiccup.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.changepoints import find_change_points

RUN_SD = 0.06  # log-scale spread of a run's value from run to run (docs/measurements-history.md)
HICCUP_RATE = 0.02  # the share of runs that hit a hiccup (a slow machine for the whole run)...
HICCUP_SIZE = 0.15  # ...and are this much slower
LEVEL_MS = 10.0
MIN_SIZE = 3  # find_change_points' default, which the simulations use


def simulate_series(rng: np.random.Generator, length: int, *, step: float | None = None,
                    at: int | None = None, runs: int = 1) -> np.ndarray:
    """`length` commits' values (ms, around LEVEL_MS), oldest first, each the geometric mean of `runs` runs; with
    `step`, values from index `at` on are 1 + step times slower (a negative step: faster)."""
    if (step is None) != (at is None):
        raise ValueError(f"a step needs both its size and its index. Received: step={step}, at={at}")
    shape = (length, runs)
    logs = (rng.normal(0, RUN_SD, shape) + (rng.uniform(size=shape) < HICCUP_RATE) * math.log1p(HICCUP_SIZE)
            ).mean(axis=1)
    if step is not None:
        logs[at:] += math.log1p(step)
    return LEVEL_MS * np.exp(logs)


def recall_table(*, seed: int, series: int = 200, length: int = 30, runs: int = 1,
                 steps=(0.03, 0.05, 0.10, 0.20)) -> pd.DataFrame:
    """How find_change_points (its defaults) does on simulated histories: one row without a step, then one per step.

    Each series has its step at `at`, uniform in [MIN_SIZE + 2, length - MIN_SIZE - 2]. Columns: step (0: none),
    series, found_exact (the share of series whose change points include `at`), found_within_1 (one within 1 of
    `at`), false_per_series (change points other than the step's find, per series: the find is `at`, else the
    nearest within 1), median_abs_error (over the series with any change point: the distance from `at` to the
    nearest; empty without a step). Each row draws from its own stream of `seed`: rows do not depend on each other.
    """
    rows = []
    for row_number, step in enumerate((0.0, *steps)):
        rng = np.random.default_rng([seed, row_number])
        exact = within_1 = false = 0
        errors = []
        for number in range(series):
            at = int(rng.integers(MIN_SIZE + 2, length - MIN_SIZE - 1))  # the upper end is exclusive
            values = (simulate_series(rng, length, step=step, at=at, runs=runs) if step
                      else simulate_series(rng, length, runs=runs))
            found = [point.index for point in find_change_points(values, seed=number)]
            if not step:
                false += len(found)
                continue
            nearest = min(found, key=lambda index: abs(index - at), default=None)
            is_find = nearest is not None and abs(nearest - at) <= 1
            exact, within_1 = exact + (nearest == at), within_1 + is_find
            false += len(found) - is_find
            if nearest is not None:
                errors.append(abs(nearest - at))
        rows.append({"runs": runs, "step": step, "series": series,
                     "found_exact": exact / series if step else math.nan,
                     "found_within_1": within_1 / series if step else math.nan,
                     "false_per_series": false / series,
                     "median_abs_error": float(np.median(errors)) if errors else math.nan})
    return pd.DataFrame(rows)
