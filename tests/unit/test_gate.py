"""The gate's decision (bench.analysis.gate) on simulated processes: the ratio it shows, what one process a
side decides, settled units, and its holes: failures, out-of-memory and cases missing in the candidate."""

import numpy as np
import pytest
from noise_model import MEASURED, simulate

from bench.analysis import gate


def test_the_ratio_shown_is_the_ratio_tested_and_the_times_are_the_raw_geometric_means():
    values = simulate(np.random.default_rng(0), MEASURED, processes=4)
    cases = gate.judge(values, threshold=0.10, alpha=0.01).cases
    logs = np.log(values.set_index(["side", "model", "mode", "batch_size"])["median_ms"])
    for row in cases.itertuples():
        assert row.base_ms == pytest.approx(np.exp(logs.loc[("base", row.model, row.mode, row.batch_size)].mean()))
        assert row.head_ms == pytest.approx(np.exp(logs.loc[("head", row.model, row.mode, row.batch_size)].mean()))
        assert np.sqrt(row.low * row.high) == pytest.approx(row.ratio)  # the interval is the tested ratio's


def test_a_whole_process_running_faster_moves_no_case_or_model_only_the_matrix():
    values = simulate(np.random.default_rng(4), MEASURED, processes=4)
    before = gate.judge(values, threshold=0.10, alpha=0.01)
    values.loc[values["side"] == "head", "median_ms"] *= 1.3  # every head process, every case
    after = gate.judge(values, threshold=0.10, alpha=0.01)
    assert np.allclose(after.cases["ratio"], before.cases["ratio"])
    models = after.models.set_index("model")["ratio"]
    assert np.allclose(models.drop(gate.ALL_MODELS), before.models.set_index("model")["ratio"].drop(gate.ALL_MODELS))
    assert models[gate.ALL_MODELS] == pytest.approx(1.3 * before.models.set_index("model")["ratio"][gate.ALL_MODELS])


def test_one_process_a_side_decides_nothing():
    verdicts = gate.judge(simulate(np.random.default_rng(0), MEASURED, processes=1, slower={"mnist_cnn": 2.0}),
                          threshold=0.10, alpha=0.01)
    assert (verdicts.cases["verdict"] == "inconclusive").all() and not verdicts.failed
    assert (verdicts.cases["needs"] == "2 processes a side").all()


def with_status(values, model, status, message="", *, processes=None):
    values = values.copy()
    rows = (values["side"] == "head") & (values["model"] == model)
    if processes is not None:
        rows &= values["process"].isin(processes)
    values.loc[rows, ["status", "message", "median_ms"]] = [status, message, np.nan]
    return values


@pytest.mark.parametrize("status,message", [("error", "ValueError: broken"), ("oom", "out of memory")])
def test_a_case_that_fails_in_head_fails_the_gate(status, message):
    values = with_status(simulate(np.random.default_rng(1), MEASURED, processes=3), "imdb_gru", status, message,
                         processes=["head1"])
    verdicts = gate.judge(values, threshold=0.10, alpha=0.01)
    assert verdicts.failed and not verdicts.regressions
    assert len(verdicts.holes) == 4
    assert verdicts.holes[0].startswith(f"imdb_gru infer b1 cpu: {status} in head (1 of 3 processes): {message}")


def test_a_case_missing_in_head_fails_the_gate():
    values = simulate(np.random.default_rng(1), MEASURED, processes=3)
    values = values[~((values["side"] == "head") & (values["model"] == "imdb_gru") & (values["mode"] == "train"))]
    verdicts = gate.judge(values, threshold=0.10, alpha=0.01)
    assert verdicts.holes == ["imdb_gru train b1 cpu: missing in head", "imdb_gru train b32 cpu: missing in head"]


def test_a_case_failing_in_base_only_is_not_a_hole():
    values = simulate(np.random.default_rng(1), MEASURED, processes=3)
    values.loc[(values["side"] == "base") & (values["model"] == "imdb_gru"), "status"] = "error"
    assert gate.judge(values, threshold=0.10, alpha=0.01).holes == []
