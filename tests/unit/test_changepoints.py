"""E-divisive means (bench.analysis.changepoints): Q against its published definition, summed pair by pair;
change points found where a history steps, none where it only wanders, the magnitude filter, bad input."""

import math
from itertools import combinations

import numpy as np
import pytest

from bench.analysis.changepoints import ChangePoint, e_divisive_q, find_change_points


def q_by_definition(x, exponent):
    """Matteson & James' Q(tau), kappa at the end, tau = 1..n-1, as written: pure Python sums over the pairs."""
    x, n, result = [float(value) for value in x], len(x), []
    for tau in range(1, n):
        m, k = tau, n - tau
        across = sum(abs(x[i] - x[j]) ** exponent for i in range(tau) for j in range(tau, n))
        left = sum(abs(x[i] - x[l]) ** exponent for i, l in combinations(range(tau), 2))
        right = sum(abs(x[j] - x[l]) ** exponent for j, l in combinations(range(tau, n), 2))
        energy = (2 / (m * k) * across - (left / math.comb(m, 2) if m > 1 else 0.0)
                  - (right / math.comb(k, 2) if k > 1 else 0.0))
        result.append(m * k / (m + k) * energy)
    return result


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.5, 1.9])
@pytest.mark.parametrize("length", [2, 3, 8, 17])
def test_q_is_the_definition(exponent, length):
    rng = np.random.default_rng([length, int(exponent * 10)])
    x = rng.normal(0, 0.1, length) + (np.arange(length) >= length // 2) * 0.05
    assert e_divisive_q(x, exponent=exponent) == pytest.approx(q_by_definition(x, exponent), rel=1e-9, abs=1e-12)


def test_q_peaks_at_a_step():
    x = np.log([10.0] * 6 + [12.0] * 9)
    assert int(np.argmax(e_divisive_q(x))) + 1 == 6


def test_q_refuses_an_exponent_outside_0_2():
    with pytest.raises(ValueError, match=r"Received: exponent=2\.0$"):
        e_divisive_q(np.zeros(4), exponent=2.0)


def history(*levels, sd, seed=0):
    """Values around 10 ms: `levels` is ((length, factor), ...), with log-normal noise of spread `sd`."""
    factors = np.concatenate([np.full(length, factor) for length, factor in levels])
    return 10.0 * factors * np.exp(np.random.default_rng(seed).normal(0, sd, factors.size))


def test_a_clear_slowdown_is_found_at_its_index_with_its_ratio():
    points = find_change_points(history((17, 1.0), (23, 1.2), sd=0.02))
    assert [point.index for point in points] == [17]
    point = points[0]
    assert point.ratio == pytest.approx(1.2, abs=0.02)
    assert point.low < 1.2 < point.high and point.low < point.ratio < point.high
    assert point.p == pytest.approx(1 / 500)  # no shuffle of 499 reaches it


def test_a_speed_up_has_a_ratio_below_1():
    [point] = find_change_points(history((20, 1.0), (15, 0.8), sd=0.02, seed=1))
    assert point.index == 20 and point.ratio == pytest.approx(0.8, abs=0.02) and point.high < 1


def test_two_steps_are_both_found():
    points = find_change_points(history((15, 1.0), (12, 1.25), (18, 1.1), sd=0.02, seed=2))
    assert [point.index for point in points] == [15, 27]
    assert points[0].ratio == pytest.approx(1.25, abs=0.03)
    assert points[1].ratio == pytest.approx(1.1 / 1.25, abs=0.03)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_noisy_history_without_a_step_has_no_change_point(seed):
    assert find_change_points(history((60, 1.0), sd=0.02, seed=seed)) == []


def test_a_constant_history_has_no_change_point():
    assert find_change_points([10.0] * 20) == []


def test_a_significant_step_smaller_than_min_change_is_filtered_out():
    values = history((20, 1.0), (20, 1.02), sd=0.002, seed=6)
    assert find_change_points(values, min_change=0.05) == []
    [point] = find_change_points(values, min_change=0.01)
    assert point.index == 20 and point.ratio == pytest.approx(1.02, abs=0.003) and point.p <= 0.01


def test_the_filter_drops_the_weakest_first_and_rates_the_merged_segments():
    """Steps of 2% then 4.9% (1.07 / 1.02): the 2% one goes first, and the other is then rated against the merged
    first 20 values (1.07 / sqrt(1.02) = 1.059, above 5%), not against its old neighbour (1.049, below)."""
    values = history((10, 1.0), (10, 1.02), (10, 1.07), sd=0.001, seed=7)
    assert [point.index for point in find_change_points(values, min_change=0.001)] == [10, 20]
    [point] = find_change_points(values, min_change=0.05)
    assert point.index == 20 and point.ratio == pytest.approx(1.07 / math.sqrt(1.02), abs=0.003)


def test_a_history_shorter_than_two_minimal_segments_has_none():
    assert find_change_points([10.0, 10.0, 10.0, 20.0, 20.0]) == []


def test_the_same_seed_gives_the_same_answer():
    values = history((12, 1.0), (12, 1.06), sd=0.04, seed=8)
    first = find_change_points(values, seed=11, alpha=0.2)
    assert first == find_change_points(values, seed=11, alpha=0.2)
    assert all(isinstance(point, ChangePoint) for point in first)


@pytest.mark.parametrize("values, options, received", [
    ([10.0, -1.0, 10.0], {}, "values[1]=-1.0"),
    ([10.0, 0.0], {}, "values[1]=0.0"),
    ([10.0, math.nan], {}, "values[1]=nan"),
    ([10.0, math.inf], {}, "values[1]=inf"),
    ([10.0, "fast"], {}, "values[1]='fast'"),
    ([[10.0, 11.0]], {}, "values.shape=(1, 2)"),
    ([10.0] * 8, {"min_change": 0}, "min_change=0"),
    ([10.0] * 8, {"alpha": 1.0}, "alpha=1.0"),
    ([10.0] * 8, {"alpha": 0}, "alpha=0"),
    ([10.0] * 8, {"permutations": 18}, "permutations=18"),
    ([10.0] * 8, {"min_size": 1}, "min_size=1"),
    ([10.0] * 8, {"seed": -1}, "seed=-1"),
])
def test_bad_input_is_refused_in_one_line_naming_it(values, options, received):
    with pytest.raises(ValueError) as raised:
        find_change_points(values, **options)
    message = str(raised.value)
    assert "\n" not in message and message.endswith(f"Received: {received}")
