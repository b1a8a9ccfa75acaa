"""`python -m bench compare`: verdicts, exit codes, formats, views and bad input."""

import io

import numpy as np
import pandas as pd
import pytest
from tests_support import CASES, make_run
from tests_support import run_cli as run_subcommand


def run_cli(*args):
    return run_subcommand("compare", *args)


MANY = [(model, mode, batch) for model in ("mnist_cnn", "imdb_lstm") for mode in ("infer", "train")
        for batch in (1, 8, 32, 128, 256)]


def runs_a_side(tmp_path, *, run_noise, slowdown=None, runs=3, cases=MANY, calibration=None):
    """`runs` baseline (a/) and candidate (b/) runs, each case shifted by its own run-level noise;
    `slowdown` slows chosen cases in the candidate, `calibration` the candidate's whole machine."""
    rng = np.random.default_rng(11)
    for side, hour in (("a", 0), ("b", 5)):
        machine = calibration if side == "b" and calibration else 1.0
        for i in range(runs):
            shifts = {case: float(rng.lognormal(0, run_noise))  # make_run scales by the calibration
                      * ((slowdown or {}).get(case, 1.0) if side == "b" else 1.0) for case in cases}
            make_run(tmp_path / side, f"20260101T0{hour + i}0000Z", seed=10 * hour + i, cases=cases, scale=shifts,
                     calibration_ms=10.0 * machine)
    return tmp_path / "a", tmp_path / "b"


def test_one_run_a_side_decides_nothing_and_says_so(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, scale={("mnist_cnn", "train", 32): 2.0})
    code, out, _ = run_cli(base, cand)
    assert code == 0
    assert "note: one run a side is one replicate of the run-to-run noise: no case can be decided" in out
    assert "6 inconclusive (models, matrix and cases)" in out  # 3 cases, 2 models, the matrix: even the doubled one


def test_runs_a_side_same_code_raise_no_alarm(tmp_path):
    base, cand = runs_a_side(tmp_path, run_noise=0.05)
    code, out, _ = run_cli(base, cand, "--runs", "3")
    assert code == 0, out
    assert "| 3 run(s) a side |" in out.splitlines()[0]
    assert "noise: with 3 against 3 processes a typical case must move by x" in out


def test_runs_a_side_find_one_slower_case_and_name_it_last(tmp_path):
    slower = ("imdb_lstm", "train", 32)
    base, cand = runs_a_side(tmp_path, run_noise=0.02, slowdown={slower: 1.3})
    code, out, _ = run_cli(base, cand, "--runs", "3")
    assert code == 1
    assert out.splitlines()[-1] == "SLOWER imdb_lstm train b32 cpu"
    table = pd.read_csv(io.StringIO(run_cli(base, cand, "--runs", "3", "--format", "csv")[1]))
    assert table.loc[table["verdict"] == "slower", ["model", "mode", "batch_size"]].values.tolist() == [list(slower)]


def test_a_whole_model_slower_is_named_as_a_model(tmp_path):
    slowdown = {case: 1.15 for case in MANY if case[0] == "mnist_cnn"}
    base, cand = runs_a_side(tmp_path, run_noise=0.02, slowdown=slowdown, runs=4)
    code, out, _ = run_cli(base, cand, "--runs", "4")
    assert code == 1 and "SLOWER mnist_cnn cpu" in out.splitlines()


def test_csv_and_markdown_formats(tmp_path):
    base, cand = runs_a_side(tmp_path, run_noise=0.02, runs=2)
    code, out, _ = run_cli(base, cand, "--runs", "2", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and len(table) == len(MANY)
    assert {"ratio", "low", "high", "p_holm", "detectable", "n_base", "n_head", "verdict"} <= set(table.columns)
    code, out, _ = run_cli(base, cand, "--runs", "2", "--format", "markdown")
    assert code == 0 and "| model | device | base_ms |" in out


def test_a_case_missing_in_the_candidate_fails_and_is_named(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, cases=CASES[:2])
    code, out, _ = run_cli(base, cand)
    assert code == 1
    assert "FAILED imdb_lstm infer b1 cpu: missing in head" in out.splitlines()


def test_without_samples_the_run_medians_are_the_replicates(tmp_path):
    base, cand = runs_a_side(tmp_path, run_noise=0.02, runs=3)
    for samples in tmp_path.rglob("*.samples.csv"):
        samples.unlink()
    code, out, _ = run_cli(base, cand, "--runs", "3", "--format", "csv")
    assert code == 0 and (pd.read_csv(io.StringIO(out))["n_base"] == 3).all()


def test_normalize_removes_a_slower_machine(tmp_path):
    base, cand = runs_a_side(tmp_path, run_noise=0.02, calibration=1.5)
    assert run_cli(base, cand, "--runs", "3")[0] == 1
    code, out, _ = run_cli(base, cand, "--runs", "3", "--normalize")
    assert code == 0 and "normalized by calibration" in out.splitlines()[0]


def test_by_device_gives_the_gpu_speedup(tmp_path):
    cpu = make_run(tmp_path, "20260101T000000Z", device="cpu")
    gpu_frame = pd.read_csv(make_run(tmp_path / "g", "20260101T000000Z", device="gpu:0", calibration_ms=2.5))
    run = pd.concat([pd.read_csv(cpu), gpu_frame.assign(run_id=pd.read_csv(cpu)["run_id"].iloc[0])])
    both = tmp_path / "both.csv"
    run.to_csv(both, index=False)
    code, out, _ = run_cli("--by", "device", both, "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and set(table["device"]) == {"gpu:0"}
    assert table["speedup"].to_numpy() == pytest.approx(table["cpu_ms"] / table["gpu_ms"])
    assert table["speedup"].to_numpy() == pytest.approx(4.0, rel=0.05)


def test_by_backend_side_by_side(tmp_path):
    tf = make_run(tmp_path / "tf", "20260101T000000Z", backend="tensorflow")
    jax = make_run(tmp_path / "jax", "20260101T000000Z", backend="jax", calibration_ms=5)
    code, out, _ = run_cli("--by", "backend", tf, jax, "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and len(table) == 3
    assert table["jax/tensorflow"].to_numpy() == pytest.approx(0.5, rel=0.05)


@pytest.fixture
def good_run(tmp_path):
    return make_run(tmp_path / "good", "20260101T000000Z")


def bad_inputs(tmp_path, good_run):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    not_run = tmp_path / "notrun.csv"
    pd.DataFrame({"model": ["x"], "median_ms": [1.0]}).to_csv(not_run, index=False)
    text = tmp_path / "text.csv"
    pd.read_csv(good_run).assign(median_ms="fast").to_csv(text, index=False)
    other = make_run(tmp_path / "other", "20260101T000000Z", cases=[("imdb_gru", "train", 8)])
    jax = make_run(tmp_path / "jax", "20260101T000000Z", backend="jax")
    mismatched = make_run(tmp_path / "mismatch", "20260101T000000Z")
    samples = mismatched.with_name(mismatched.stem + ".samples.csv")
    pd.read_csv(samples).iloc[:-1].to_csv(samples, index=False)
    (tmp_path / "nothing").mkdir()
    return [
        ((tmp_path / "absent.csv", good_run), "absent.csv: no such file or directory"),
        ((empty, good_run), "empty.csv: empty file"),
        ((not_run, good_run), "notrun.csv: not a run file: missing columns run_id, backend, device, mode"),
        ((good_run, text), "column median_ms has a non-numeric value 'fast'"),
        ((good_run, other), "no case ran ok in both"),
        ((good_run, good_run, "--threshold", "abc"), "--threshold: 'abc' is not a percentage"),
        ((good_run, good_run, "--threshold=-5%"), "--threshold: '-5%' is negative"),
        ((good_run, good_run, "--alpha", "2"), "--alpha: '2' is not a probability"),
        ((good_run, jax), "runs of different backends (tensorflow against jax): compare them with --by backend"),
        ((good_run, mismatched), "does not match its run: imdb_lstm infer b1 cpu has 29 samples for 30 rounds"),
        ((tmp_path / "nothing", good_run), "nothing: no run files"),
        (("--by", "device", good_run), "no GPU rows"),
    ]


def test_every_bad_input_is_one_line_and_exit_2(tmp_path, good_run):
    for args, message in bad_inputs(tmp_path, good_run):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code, out, err = run_cli(*args)
        assert code == 2, (args, out, err)
        assert out == "", args
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("args,message", [
    (("--runs", "0"), "--runs: '0' is not a positive integer"),
    (("--runs", "4"), "2 run(s) in this directory; --runs asks for 4"),
    (("--runs", "2", "--baseline-run", "x"), "--runs pools a directory's newest runs"),
])
def test_bad_pooling(tmp_path, args, message):
    for stamp in ("20260101T000000Z", "20260101T010000Z"):
        make_run(tmp_path / "a", stamp)
        make_run(tmp_path / "b", stamp)
    code, out, err = run_cli(tmp_path / "a", tmp_path / "b", *args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_an_internal_error_exits_3_not_1(monkeypatch, tmp_path):
    """Exit 1 means "a regression": a bug in the gate must not read as one."""
    from bench.analysis import gate

    def broken(*args, **kwargs):
        raise KeyError("median_ms")

    monkeypatch.setattr(gate, "judge", broken)
    base = make_run(tmp_path / "a", "20260101T000000Z")
    code, out, err = run_cli(base, base)
    assert code == 3 and err.strip() == "internal error: KeyError: 'median_ms'"
