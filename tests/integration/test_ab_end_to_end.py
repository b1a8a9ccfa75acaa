"""`python -m bench ab` end to end: real worker pairs on a tiny matrix, a HEAD whose model fails to build,
pytest refusing an argument and a BASE from before the paired gate (one line, exit 2)."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from tests_support import ROOT

pytestmark = pytest.mark.integration

TINY = ["--models", "mnist_cnn,mnist_separable_cnn", "--modes", "infer", "--batch-sizes", "32", "--devices", "cpu",
        "--profile", "gate", "--threads", "1"]


def run_ab(*args, cwd=ROOT):
    done = subprocess.run([sys.executable, "-m", "bench", "ab", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


def copy_of_the_project(target):
    """A checkout-like copy of this project (the files `pytest bench/` needs)."""
    target.mkdir()
    for name in ("bench", "models", "conftest.py", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target


@pytest.mark.slow
def test_a_gate_of_paired_workers_names_a_model_that_fails_to_build_in_head(tmp_path):
    """One worker pair (the procedure's looks, settling and budget are tested on simulated pairs,
    tests/unit/test_ab.py and tests/simulation): HEAD's mnist_cnn fails to build, its mnist_separable_cnn is
    BASE's code, and each round times it once in each worker, the sides in a random order."""
    head = copy_of_the_project(tmp_path / "head")
    builder = head / "models" / "mnist.py"
    builder.write_text(builder.read_text().replace('    return _cnn(layers.Conv2D,',
                                                   '    raise ValueError("broken on purpose")\n    return _cnn(layers.Conv2D,'))
    code, out, err = run_ab(ROOT, head, "--budget", "0.05", "--out", tmp_path / "gate", "--", *TINY)
    assert code == 1, out + err
    assert "FAILED mnist_cnn infer b32 cpu: error in head: ValueError: broken on purpose" in out
    blocks = pd.read_csv(tmp_path / "gate" / "blocks.csv")
    assert set(blocks["case"]) == {"mnist_separable_cnn-infer-cpu-b32"} and set(blocks["pair"]) == {1}
    rounds = blocks.groupby("round")
    assert (rounds["side"].apply(sorted).map(tuple) == ("base", "head")).all() and len(rounds) >= 2
    assert (rounds["first"].sum() == 1).all() and (blocks["calls"] > 0).all()
    assert (blocks["built_s"] == 0).all()  # both workers built and warmed their cases before the rounds
    cases = pd.read_csv(tmp_path / "gate" / "cases.csv")
    assert cases[["model", "mode", "batch_size", "pairs"]].values.tolist() == [["mnist_separable_cnn", "infer", 32, 1]]
    assert cases["verdict"].iloc[0] == "inconclusive"  # one worker pair decides nothing
    assert (tmp_path / "gate" / "logs" / "pair001-head.log").is_file()


def test_an_argument_pytest_refuses_is_one_line_and_exit_2(tmp_path):
    code, out, err = run_ab(ROOT, ROOT, "--out", tmp_path / "gate", "--", "--no-such-option")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "pytest refused the arguments" in err
    assert "--no-such-option" in err


def test_a_base_from_before_the_paired_gate_is_one_line_and_exit_2(tmp_path):
    base = copy_of_the_project(tmp_path / "base")
    (base / "bench" / "worker.py").unlink()
    code, out, err = run_ab(base, ROOT, "--out", tmp_path / "gate")
    assert code == 2 and out == ""
    assert err.strip() == (f"error: BASE ({base}) predates the paired gate (it has no bench/worker.py); give a newer "
                           "commit, or run that commit's own `bench ab`")
