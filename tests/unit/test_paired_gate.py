"""The paired gate's decision (bench.analysis.paired_gate) against its definition: a case's replicates are its
worker pairs' mean log-ratios, tested by Student's one-sample t (moderated when three or more cases give a
prior), Holm-adjusted per family; a model is the precision-weighted mean of its cases; failures in head are
holes."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bench.analysis import paired_gate
from bench.analysis.gate import ALL_MODELS


def blocks_of(ratios: dict, *, rounds=3, seed=0) -> pd.DataFrame:
    """Blocks whose rounds' log-ratios in pair k of case c are ratios[c][k] plus a zero-mean wobble."""
    rng, rows = np.random.default_rng(seed), []
    for case, per_pair in ratios.items():
        for pair, ratio in enumerate(per_pair, start=1):
            wobble = rng.normal(0, 0.01, rounds)
            wobble -= wobble.mean()  # the pair's mean log-ratio is exactly log(ratio)
            for number in range(1, rounds + 1):
                level = rng.normal(math.log(5.0), 0.1)  # the wander: shared by the round's two blocks
                for side, log in (("base", level), ("head", level + math.log(ratio) + wobble[number - 1])):
                    rows.append(dict(pair=pair, round=number, case=case, side=side, first=side == "base",
                                     started_s=0.0, calls=10, median_ms=math.exp(log), spread=0.02, built_s=0.0))
    return pd.DataFrame(rows)


def test_two_cases_are_judged_by_the_one_sample_t_of_their_pairs_with_holm_over_the_family():
    ratios = {"mnist_cnn-infer-cpu-b1": [1.10, 1.14, 1.12, 1.16], "mnist_cnn-train-cpu-b32": [0.99, 1.02, 1.0, 1.01]}
    verdicts = paired_gate.judge(blocks_of(ratios), threshold=0.03, alpha=0.04)
    cases = verdicts.cases.set_index("case")
    p_values = {case: scipy_stats.ttest_1samp(np.log(values), 0.0, alternative="greater").pvalue
                for case, values in ratios.items()}
    for case, values in ratios.items():
        assert cases.loc[case, "ratio"] == pytest.approx(np.exp(np.log(values).mean()))
        assert cases.loc[case, "pairs"] == 4 and cases.loc[case, "rounds"] == 12
    # Holm over two cases: the smaller p times 2; the larger max(that, p).
    slow, flat = p_values["mnist_cnn-infer-cpu-b1"], p_values["mnist_cnn-train-cpu-b32"]
    assert cases.loc["mnist_cnn-infer-cpu-b1", "p_holm"] == pytest.approx(2 * slow)
    assert cases.loc["mnist_cnn-infer-cpu-b1", "verdict"] == ("slower" if 2 * slow < 0.01 else "inconclusive")
    low, high = cases.loc["mnist_cnn-train-cpu-b32", ["low", "high"]]
    assert math.sqrt(low * high) == pytest.approx(cases.loc["mnist_cnn-train-cpu-b32", "ratio"])
    assert flat > slow
    # The model: each pair's cases weighted by the inverse of their rounds' variance, pooled over the pairs.
    rounds = blocks_of(ratios).assign(log=lambda f: np.log(f["median_ms"]))
    rounds = rounds.pivot_table(index=["case", "pair", "round"], columns="side", values="log")
    weight = 1 / (rounds["head"] - rounds["base"]).groupby(["case", "pair"]).var().groupby("case").mean()
    model_pairs = sum(weight[case] * np.log(values) for case, values in ratios.items()) / weight.sum()
    models = verdicts.models.set_index("model")
    assert models.loc["mnist_cnn", "ratio"] == pytest.approx(np.exp(model_pairs.mean()))
    assert models.loc[ALL_MODELS, "ratio"] == pytest.approx(np.exp(model_pairs.mean()))


def test_the_shared_wander_cancels_and_a_steady_slowdown_of_five_percent_is_slower():
    cases = [f"m{i}-infer-cpu-b1" for i in range(6)]
    ratios = {case: [1.05 if case.startswith("m0") else 1.0] * 5 for case in cases}
    ratios = {case: list(np.array(values) * np.exp(np.random.default_rng(i).normal(0, 0.005, 5)))
              for i, (case, values) in enumerate(ratios.items())}
    verdicts = paired_gate.judge(blocks_of(ratios), threshold=0.03, alpha=0.01)
    assert verdicts.regressions == ["m0 cpu", "m0 infer b1 cpu"] and verdicts.failed
    assert (verdicts.cases.set_index("case").drop("m0-infer-cpu-b1")["verdict"] == "unchanged").all()


def test_one_pair_decides_nothing_and_says_what_it_needs():
    verdicts = paired_gate.judge(blocks_of({"a-infer-cpu-b1": [1.5], "b-infer-cpu-b1": [1.0]}), threshold=0.03,
                                 alpha=0.01)
    assert (verdicts.cases["verdict"] == "inconclusive").all() and not verdicts.failed
    assert (verdicts.cases["needs"] == "2 worker pairs").all()


def test_blocks_that_built_the_model_are_not_timings_and_holes_fail_the_gate():
    blocks = blocks_of({"a-infer-cpu-b1": [1.0, 1.0, 1.0]})
    built = blocks.index[(blocks["round"] == 1) & (blocks["side"] == "head")]
    blocks.loc[built, ["median_ms", "built_s"]] = [1e6, 3.0]  # the first block of head built its model
    verdicts = paired_gate.judge(blocks, threshold=0.03, alpha=0.01, holes=["b infer b1 cpu: error in head: x"])
    assert verdicts.cases["ratio"].iloc[0] == pytest.approx(1.0, rel=0.02) and verdicts.cases["rounds"].iloc[0] == 6
    assert verdicts.failed and verdicts.holes == ["b infer b1 cpu: error in head: x"]


def test_a_case_id_is_split_at_its_last_three_dashes():
    assert paired_gate.case_columns("my-model-train-gpu:1-b32") == {"model": "my-model", "mode": "train",
                                                                   "batch_size": 32, "device": "gpu:1"}


def test_settled_units_keep_their_verdict_and_enter_holm_with_p_1():
    cases = [f"m{i}-infer-cpu-b1" for i in range(4)]
    ratios = {case: list(np.exp(np.random.default_rng(i).normal(0.02 * i, 0.01, 4))) for i, case in enumerate(cases)}
    first = paired_gate.judge(blocks_of(ratios), threshold=0.03, alpha=0.01).cases.set_index("case")
    later = paired_gate.judge(blocks_of(ratios), threshold=0.03, alpha=0.01, settled={cases[3]}).cases.set_index("case")
    assert later.loc[cases[3], "verdict"] == "unchanged" and later.loc[cases[3], "p_holm"] == 1.0
    assert (later["p_holm"].drop(cases[3]) >= first["p_holm"].drop(cases[3]) - 1e-12).all()


def _model_units(blocks: pd.DataFrame) -> pd.DataFrame:
    values = paired_gate.pair_values(blocks)
    values = values.merge(paired_gate._columns_of(values["case"]), on="case")
    units = paired_gate._unit_means(values, ["model", "device"])
    return units.groupby("model").agg(mean=("mean", "mean"), own=("mean", "var"), pairs=("mean", "size"),
                                      expected=("expected", "mean"))


@pytest.mark.parametrize("shared", [0.0, 0.03])
def test_models_borrow_the_cases_prior_or_their_own_pooled_factor_where_larger(shared):
    """Each model's variance is moderated towards F times what its rounds predict, with the cases' prior df
    (capped at 8): F is the cases' factor, or the models' own pooled one (sum of df x s^2/expected over the
    sum of df) where that is larger, as when a worker pair moves all of a model's cases together (`shared`)."""
    rng = np.random.default_rng(3)
    offsets = {model: rng.normal(0, shared, 4) for model in ("m0", "m1")}
    ratios = {f"{model}-{mode}-cpu-b{batch}": list(np.exp(offsets[model] + rng.normal(0, 0.004, 4)))
              for model in ("m0", "m1") for mode in ("infer", "train") for batch in (1, 32)}
    blocks = blocks_of(ratios, rounds=6, seed=4)
    values = paired_gate.pair_values(blocks).merge(paired_gate._columns_of(pd.Series(list(ratios))), on="case")
    _, (case_factor, case_df) = paired_gate._judge_units(values, ["case"], 0.03, 0.01, set())
    units = _model_units(blocks)
    pooled = (units["own"] / units["expected"]).mean()  # every model has 3 df
    factor = max(case_factor, pooled)
    assert shared == 0 or pooled > 3 * case_factor  # the models' own factor, where their cases move together
    df = min(case_df, paired_gate.PRIOR_DF_CAP)
    models = paired_gate.judge(blocks, threshold=0.03, alpha=0.01).models.set_index("model")
    for model, unit in units.iterrows():
        variance = (df * factor * unit["expected"] + 3 * unit["own"]) / (df + 3)
        expected = paired_gate.stats.Comparison.of_mean(unit["mean"], variance / 4, df + 3)
        assert models.loc[model, ["low", "high"]].tolist() == pytest.approx([expected.low, expected.high])
        assert models.loc[model, "detectable"] == pytest.approx(expected.detectable(0.01 / 2 / 2))
