"""`python -m bench ab` end to end: real processes on a tiny matrix, a HEAD whose model fails to build,
and pytest refusing an argument (one line, exit 2)."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from tests_support import ROOT

pytestmark = pytest.mark.integration

TINY = ["--models", "mnist_cnn", "--modes", "infer", "--batch-sizes", "32", "--devices", "cpu", "--profile", "gate",
        "--passes", "1"]


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


def test_a_gate_on_real_processes_names_a_model_that_fails_to_build_in_head(tmp_path):
    """One pair of real processes (the procedure's alternation, looks and budget are tested on a simulated
    machine, tests/unit/test_ab.py and tests/simulation): HEAD's mnist_cnn fails to build, its
    mnist_separable_cnn is BASE's code."""
    head = copy_of_the_project(tmp_path / "head")
    builder = head / "models" / "mnist.py"
    builder.write_text(builder.read_text().replace('    return _cnn(layers.Conv2D,',
                                                   '    raise ValueError("broken on purpose")\n    return _cnn(layers.Conv2D,'))
    code, out, err = run_ab(ROOT, head, "--budget", "0.05", "--out", tmp_path / "gate", "--",
                            *TINY[:1], "mnist_cnn,mnist_separable_cnn", *TINY[2:])
    assert code == 1, out + err
    assert "FAILED mnist_cnn infer b32 cpu: error in head (1 of 1 processes): ValueError: broken on purpose" in out
    runs = {side: [p for p in (tmp_path / "gate" / side).glob("*.csv") if not p.name.endswith(".samples.csv")]
            for side in ("base", "head")}
    assert len(runs["base"]) == len(runs["head"]) == 1, out
    order = [line.split()[1] for line in out.splitlines() if line.split()[1:2] in (["base"], ["head"])]
    assert order == ["base", "head"]
    cases = pd.read_csv(tmp_path / "gate" / "cases.csv")
    assert cases[["model", "mode", "batch_size", "n_base", "n_head"]].values.tolist() == [
        ["mnist_separable_cnn", "infer", 32, 1, 1]]
    assert cases["verdict"].iloc[0] == "inconclusive"  # one process a side decides nothing
    assert "mnist_separable_cnn" in pd.read_csv(tmp_path / "gate" / "models.csv")["model"].tolist()


def test_an_argument_pytest_refuses_is_one_line_and_exit_2(tmp_path):
    code, out, err = run_ab(ROOT, ROOT, "--out", tmp_path / "gate", "--", "--no-such-option")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "pytest refused the arguments" in err
    assert "--no-such-option" in err
