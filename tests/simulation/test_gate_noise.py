"""`bench ab`'s paired gate (bench.ab.PairedGate: worker pairs, looks, settling, the budget) and its decision on
simulated worker pairs with the measured noise (tests/paired_noise.py: rounds' spread, cases far noisier than
others, stalls inside blocks, offsets fixed for a worker pair's life); and `compare --runs`' decision on
simulated processes (tests/noise_model.py). Seconds each, on both cores."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from noise_model import MEASURED, on_every_core, simulate
from paired_noise import MEASURED as MEASURED_PAIRED
from paired_noise import simulated_gate

from bench.analysis import gate

pytestmark = pytest.mark.simulation
ALPHA = 0.01


@pytest.mark.slow
def test_a_a_gates_within_the_budget_raise_false_alarms_at_most_alpha():
    """200 same-code gates, each the whole procedure within 15 simulated minutes: exit 1 in at most 1% (2).
    Sized by power: a gate with five times the false alarms it may have (5%) passes this in 0.2% of draws
    (binomial, at most 2 of 200), one with exactly alpha in 68%. And the paired t alone, without the
    threshold's guard: any unit significantly slower at its family's share of alpha in at most 2.5 x alpha
    of the gates (5 of 200; a rate of exactly alpha exceeds that in 1.7% of draws)."""
    outcomes = on_every_core(_false_alarms, 2026, 200)
    assert sum(failed for failed, _ in outcomes) <= 2
    assert sum(significant for _, significant in outcomes) <= 5


@pytest.mark.slow
def test_one_model_8_percent_slower_is_named_in_most_gates():
    """Power: mnist_cnn 8% slower in every case is named slower in 88 of 100 15-minute gates on this stream
    (docs/measurements-gate.md, "Visits"). At least 75 of 100: a gate that finds it
    in 65% passes that in about 2% of draws."""
    found = sum(on_every_core(_named, 11, 100, slower={"mnist_cnn": 1.08}))
    assert found >= 75


@pytest.mark.slow
def test_a_worker_pair_moving_whole_models_raises_no_more_false_alarms():
    """Models borrow the cases' prior unless their own pairs spread more (bench.analysis.paired_gate): with
    each worker pair moving every case of a model together by three times the measured spread (2.7% instead
    of 0.9%), 200 same-code gates still exit 1 in at most 2."""
    noise = replace(MEASURED_PAIRED, model_pair_sd=3 * MEASURED_PAIRED.model_pair_sd)
    outcomes = on_every_core(_false_alarms, 5, 200, noise=noise)
    assert sum(failed for failed, _ in outcomes) <= 2


def _false_alarms(rng, **kwargs) -> tuple[bool, bool]:
    """(the gate failed, some unit was significantly slower whatever its ratio)."""
    verdicts, _ = simulated_gate(rng, **kwargs)
    units = pd.concat([verdicts.cases.assign(level=ALPHA / 4),
                       verdicts.models.assign(level=verdicts.models["model"].map(
                           lambda model: ALPHA / 4 if model == gate.ALL_MODELS else ALPHA / 2))], ignore_index=True)
    return verdicts.failed, bool(((units["p_holm"] < units["level"]) & (units["ratio"] > 1)).any())


def _named(rng, **kwargs) -> bool:
    verdicts, _ = simulated_gate(rng, **kwargs)
    return "mnist_cnn cpu" in verdicts.regressions


@pytest.mark.slow
def test_compares_significance_alone_keeps_its_family_wise_rate_within_four_times_alpha(processes=4):
    """`compare --runs` (processes as replicates): without the threshold's guard, how often is any case, model or the matrix significantly slower? Measured
    about 3% at alpha 1% (9 of 300 with every family checked at alpha/2, 2026-11-27): the two-state cases and the spread of noise between cases push the
    moderated t past its nominal rate; the gate's exit 1 stays within alpha because a verdict also needs the
    threshold (test above). This bounds the drift; the excess is recorded in docs/methodology.md."""
    hits = sum(on_every_core(_significant_without_threshold, processes, 300, processes=processes))
    assert hits / 300 <= 4 * ALPHA


def _significant_without_threshold(rng, *, processes) -> bool:
    verdicts = gate.judge(simulate(rng, MEASURED, processes=processes), threshold=0.0, alpha=ALPHA)
    models = verdicts.models["model"] != gate.ALL_MODELS  # each family at its share of alpha
    levels = pd.concat([pd.Series(ALPHA / 4, verdicts.cases.index),
                        models.map({True: ALPHA / 2, False: ALPHA / 4})], ignore_index=True)
    units = pd.concat([verdicts.cases, verdicts.models], ignore_index=True)
    return bool(((units["p_holm"] < levels) & (units["ratio"] > 1)).any())
