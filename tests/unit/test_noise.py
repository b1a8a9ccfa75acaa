"""`python -m bench noise`: its split of the noise into levels (bench.noise.decompose) on blocks whose levels
are known, and its bad input (one line, exit 2)."""

import math

import numpy as np
import pandas as pd
import pytest
from tests_support import run_cli

from bench import noise


def synthetic_blocks(*, shared=0.10, own=0.05, pair_offset=0.0, pairs=40, rounds=30, seed=0) -> pd.DataFrame:
    """Two workers' blocks of 4 cases: a wander `shared` by a round's two blocks, each block's `own` noise,
    and each worker pair's offset of b against a (sd `pair_offset`)."""
    rng, rows = np.random.default_rng(seed), []
    for case in ("m-infer-cpu-b1", "m-infer-cpu-b32", "n-train-cpu-b1", "n-train-cpu-b32"):
        for pair in range(1, pairs + 1):
            offset = rng.normal(0, pair_offset)
            for number in range(1, rounds + 1):
                level = math.log(10) + rng.normal(0, shared)
                for side in ("a", "b"):
                    log = level + rng.normal(0, own) + (offset if side == "b" else 0)
                    rows.append(dict(pair=pair, round=number, case=case, side=side, first=side == "a", started_s=0.0,
                                     calls=10, median_ms=math.exp(log), spread=0.02, built_s=0.0,
                                     arrangement="alternate"))
    return pd.DataFrame(rows)


def test_each_level_of_known_noise_is_found():
    row = noise.decompose(synthetic_blocks(pair_offset=0.03)).iloc[0]
    assert row["arrangement"] == "alternate" and row["cases"] == 4 and row["pairs"] == 40 and row["rounds"] == 30
    assert row["within_block"] == pytest.approx(0.02 / 1.349)
    assert row["between_blocks"] == pytest.approx(math.hypot(0.10, 0.05), rel=0.1)
    assert row["correlation"] == pytest.approx(0.10**2 / (0.10**2 + 0.05**2), abs=0.05)
    assert row["pair_ratio"] == pytest.approx(0.05 * math.sqrt(2), rel=0.1)
    assert row["pair_se"] == pytest.approx(0.05 * math.sqrt(2 / 30), rel=0.15)
    assert row["between_pairs"] == pytest.approx(math.hypot(0.03, 0.05 * math.sqrt(2 / 30)), rel=0.15)
    assert row["excess"] == pytest.approx(0.03, rel=0.25)


def test_no_pair_offset_gives_no_excess():
    assert noise.decompose(synthetic_blocks())["excess"].iloc[0] < 0.01


@pytest.mark.parametrize("args,message", [
    (("--block-s", "0"), "error: --block-s: '0' is not a positive number; give e.g. 0.25"),
    (("--pairs", "two"), "error: --pairs: 'two' is not a positive integer; give e.g. 2"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    code, out, err = run_cli("noise", "--out", tmp_path / "new", *args)
    assert code == 2 and out == "" and err.strip() == message


def test_an_existing_out_is_refused(tmp_path):
    code, out, err = run_cli("noise", "--out", tmp_path)
    assert code == 2 and err.strip() == f"error: --out: '{tmp_path}' exists; the probe writes into a new directory"


def test_an_argument_pytest_refuses_is_one_line_and_exit_2(tmp_path):
    code, out, err = run_cli("noise", "--out", tmp_path / "new", "--", "--no-such-option")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "pytest refused the arguments" in err, err
    assert "--no-such-option" in err and not (tmp_path / "new").exists()
