"""`python -m bench compare`: verdicts, exit codes, formats, views and bad input."""

import io

import numpy as np
import pandas as pd
import pytest
from tests_support import CASES, make_run
from tests_support import run_cli as run_subcommand


def run_cli(*args):
    return run_subcommand("compare", *args)


def test_same_machine_twice_is_unchanged(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1)
    code, out, _ = run_cli(base, cand)
    assert code == 0
    assert "3 unchanged" in out


def test_a_20_percent_slower_case_fails_and_is_named_last(tmp_path):
    make_run(tmp_path / "a", "20260101T000000Z")
    make_run(tmp_path / "b", "20260101T010000Z", seed=1, scale={("mnist_cnn", "train", 32): 1.2})
    code, out, _ = run_cli(tmp_path / "a", tmp_path / "b")  # directories: their newest runs
    assert code == 1
    assert out.splitlines()[-1].startswith("slower: mnist_cnn train b32 cpu x1.")


def test_a_3_percent_slower_case_passes(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, scale={("mnist_cnn", "train", 32): 1.03})
    assert run_cli(base, cand)[0] == 0


def test_csv_and_markdown_formats(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1)
    _, out, _ = run_cli(base, cand, "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert len(table) == 3 and set(table["verdict"]) == {"unchanged"}
    assert {"baseline_ms", "candidate_ms", "ratio", "p_value"} <= set(table.columns)
    _, out, _ = run_cli(base, cand, "--format", "markdown")
    assert [line for line in out.splitlines() if line.startswith("|")][1].startswith("|---|")


def test_cases_only_on_one_side(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z", cases=CASES[:2])
    cand = make_run(tmp_path / "b", "20260101T010000Z", cases=CASES[1:])
    _, out, _ = run_cli(base, cand, "--format", "csv")
    verdicts = pd.read_csv(io.StringIO(out)).set_index("model")["verdict"]
    assert verdicts["imdb_lstm"] == "only in candidate"
    assert "only in baseline" in set(verdicts)


def test_without_samples_the_summary_is_used_and_said(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z")
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, scale={("imdb_lstm", "infer", 1): 1.5})
    cand.with_name(cand.stem + ".samples.csv").unlink()
    code, out, _ = run_cli(base, cand)
    assert code == 1
    assert "verdicts use the summary columns" in out.splitlines()[0]


def test_normalize_removes_a_slower_machine(tmp_path):
    base = make_run(tmp_path / "a", "20260101T000000Z", calibration_ms=10)
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, calibration_ms=20)  # all twice as slow
    assert run_cli(base, cand)[0] == 1
    code, out, _ = run_cli(base, cand, "--normalize", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and set(table["verdict"]) == {"unchanged"}
    assert table["ratio"].to_numpy() == pytest.approx(2.0, rel=0.05)
    assert table["normalized_ratio"].to_numpy() == pytest.approx(1.0, rel=0.05)


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
        ((good_run, other), "no case in common"),
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


MANY = [(model, mode, batch) for model in ("mnist_cnn", "imdb_lstm") for mode in ("infer", "train")
        for batch in (1, 8, 32, 128, 256)]


def noisy_runs(tmp_path, *, run_noise, slowdown=1.0):
    """A baseline and a candidate whose cases each shift by a random run-level factor."""
    rng = np.random.default_rng(7)
    shifts = {case: float(rng.lognormal(0, run_noise)) * slowdown for case in MANY}
    base = make_run(tmp_path / "a", "20260101T000000Z", cases=MANY)
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, cases=MANY, scale=shifts)
    return base, cand


def test_a_noisy_machine_raises_no_false_alarm(tmp_path):
    base, cand = noisy_runs(tmp_path, run_noise=0.20)
    code, out, _ = run_cli(base, cand)
    assert code == 0
    assert "slower" not in out.splitlines()[-1]
    noise_line = next(line for line in out.splitlines() if line.startswith("noise:"))
    assert "between the runs (spread of the log ratios over 20 cases, one pass a side)" in noise_line


def test_a_regression_of_every_case_is_found_under_small_noise(tmp_path):
    base, cand = noisy_runs(tmp_path, run_noise=0.02, slowdown=1.2)
    code, out, _ = run_cli(base, cand, "--format", "csv")
    assert code == 1
    assert (pd.read_csv(io.StringIO(out))["verdict"] == "slower").all()


def pooled_runs(tmp_path, *, run_noise, slowdown=None, runs=3):
    """`runs` baseline and candidate runs of MANY, each case shifted by its own run-level noise."""
    rng = np.random.default_rng(11)
    for side, hour in (("a", 0), ("b", 5)):
        for i in range(runs):
            shifts = {case: float(rng.lognormal(0, run_noise)) * ((slowdown or {}).get(case, 1.0) if side == "b"
                                                                  else 1.0) for case in MANY}
            make_run(tmp_path / side, f"20260101T0{hour + i}0000Z", seed=10 * hour + i, cases=MANY, scale=shifts)
    return tmp_path / "a", tmp_path / "b"


def test_pooled_runs_measure_the_noise_and_raise_no_false_alarm(tmp_path):
    base, cand = pooled_runs(tmp_path, run_noise=0.15)
    code, out, _ = run_cli(base, cand, "--runs", "3")
    assert code == 0
    assert any(line.startswith("noise:") and "from one pass to the next" in line and "with 3 against 3 passes" in line
               for line in out.splitlines())
    assert "(3 runs) | candidate" in out.splitlines()[0]


def test_pooled_runs_find_one_slower_case(tmp_path):
    slower = ("imdb_lstm", "train", 32)
    base, cand = pooled_runs(tmp_path, run_noise=0.03, slowdown={slower: 1.3})
    code, out, _ = run_cli(base, cand, "--runs", "3", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 1
    assert table.loc[table["verdict"] == "slower", ["model", "mode", "batch_size"]].values.tolist() == [list(slower)]


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


def passes_runs(tmp_path, *, pass_noise, slowdown=None):
    """A baseline and a candidate of MANY cases in 5 passes each, whose speed wanders from pass to pass."""
    base = make_run(tmp_path / "a", "20260101T000000Z", cases=MANY, passes=5, pass_noise=pass_noise)
    cand = make_run(tmp_path / "b", "20260101T010000Z", seed=1, cases=MANY, passes=5, pass_noise=pass_noise,
                    scale=slowdown)
    return base, cand


def test_passes_give_each_case_its_noise_and_no_false_alarm(tmp_path):
    base, cand = passes_runs(tmp_path, pass_noise=0.15)
    code, out, _ = run_cli(base, cand)
    assert code == 0, out
    noise_line = next(line for line in out.splitlines() if line.startswith("noise:"))
    assert "from one pass to the next (median over 20 cases" in noise_line
    assert "with 5 against 5 passes a typical case must move by" in noise_line
    table = pd.read_csv(io.StringIO(run_cli(base, cand, "--format", "csv")[1]))
    assert (table["detectable"] > 1.1).all() and (table["p_holm"] >= table["p_value"]).all()


def test_passes_find_one_slower_case_that_clears_its_noise(tmp_path):
    slower = ("imdb_lstm", "train", 32)
    base, cand = passes_runs(tmp_path, pass_noise=0.03, slowdown={slower: 1.2})
    code, out, _ = run_cli(base, cand, "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 1
    assert table.loc[table["verdict"] == "slower", ["model", "mode", "batch_size"]].values.tolist() == [list(slower)]
    assert table["detectable"].max() < 1.2  # what the table promised it could see


def test_a_slowdown_inside_a_cases_noise_is_inconclusive_and_says_what_it_would_take(tmp_path):
    slower = ("imdb_lstm", "train", 32)
    base, cand = passes_runs(tmp_path, pass_noise=0.15, slowdown={slower: 1.2})
    code, out, _ = run_cli(base, cand, "--format", "csv")
    table = pd.read_csv(io.StringIO(out)).set_index(["model", "mode", "batch_size"])
    assert code == 0
    assert table.loc[slower, "verdict"] == "inconclusive"
    assert table.loc[slower, "detectable"] > 1.2
