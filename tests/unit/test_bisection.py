"""`python -m bench bisect`: the search over commits (with a stand-in gate) and its refusals."""

import pytest
from tests_support import run_cli

from bench.bisection import CannotJudge, first_bad, narrowed

COMMITS = [f"{i:040x}" for i in range(1, 12)]  # GOOD excluded, BAD last


def gate_slower_from(first: int, log: list):
    def gate(commit, step):
        log.append((step, COMMITS.index(commit)))
        return 1 if COMMITS.index(commit) >= first else 0
    return gate


@pytest.mark.parametrize("first", range(len(COMMITS)))
def test_finds_the_first_bad_commit_in_log2_steps(first):
    log = []
    assert first_bad(COMMITS, gate_slower_from(first, log)) == COMMITS[first]
    assert log[0] == (1, len(COMMITS) - 1)  # BAD is confirmed first
    assert [step for step, _ in log] == list(range(1, len(log) + 1))
    assert len(log) <= 1 + (len(COMMITS)).bit_length()


def test_a_bad_that_is_not_slower_ends_the_search_at_once():
    log = []
    assert first_bad(COMMITS, gate_slower_from(len(COMMITS) + 1, log)) is None
    assert log == [(1, len(COMMITS) - 1)]


def test_a_gate_that_cannot_judge_stops_the_search():
    with pytest.raises(CannotJudge, match="could judge nothing"):
        first_bad(COMMITS, lambda commit, step: 2)


def test_narrowing_to_a_model_or_a_case():
    recipe = ["--profile", "gate", "--modes", "infer,train", "--threads", "1"]
    assert narrowed([], recipe, model="mnist_cnn", case=None) == [*recipe, "--models", "mnist_cnn"]
    assert narrowed(["--modes=train"], recipe, model="mnist_cnn", case=None) == ["--modes=train", "--models", "mnist_cnn"]
    assert narrowed([], recipe, model=None, case="imdb_lstm-infer-cpu-b32") == [
        "--profile", "gate", "--threads", "1",  # the recipe's --modes gives way to the case's
        "--models", "imdb_lstm", "--modes", "infer", "--devices", "cpu", "--batch-sizes", "32"]
    assert narrowed(["--passes", "2"], recipe, model=None, case=None) == ["--passes", "2"]
    with pytest.raises(ValueError, match="--case: 'mnist_cnn-infer' is not a case as ab names it"):
        narrowed([], recipe, model=None, case="mnist_cnn-infer")
    with pytest.raises(ValueError, match="--models after --: --model chooses it itself"):
        narrowed(["--models=imdb_lstm"], recipe, model="mnist_cnn", case=None)
    with pytest.raises(ValueError, match="--modes after --: --case chooses it itself"):
        narrowed(["--modes", "infer"], recipe, model=None, case="mnist_cnn-infer-cpu-b1")


@pytest.mark.parametrize("args, message", [
    (["no-such-ref-anywhere", "HEAD"], "GOOD: 'no-such-ref-anywhere' is not a commit of"),
    (["HEAD", "HEAD"], "GOOD and BAD are the same commit"),
    (["HEAD", "HEAD~1"], "GOOD (HEAD) is not an ancestor of BAD (HEAD~1)"),
    (["HEAD~1", "HEAD", "--budget", "0"], "--budget: '0' is not a positive number of minutes"),
    (["HEAD~1", "HEAD", "--model", "a", "--case", "b"], "not allowed with argument"),
])
def test_bad_input_is_one_line(args, message):
    code, _, err = run_cli("bisect", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_command_gates_good_against_each_step_and_names_the_first_bad_commit(tmp_path, monkeypatch):
    import subprocess

    from bench import ROOT, ab

    def commit(ref):
        return subprocess.run(["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    good, middle, bad = commit("HEAD~2"), commit("HEAD~1"), commit("HEAD")
    gated = []

    def gate(base, head, harness_args, *, out, budget_min, threshold, alpha, say):
        gated.append((base, head, harness_args, budget_min))
        say("SLOWER mnist_cnn cpu" if head == bad else "0 slower")
        return 1 if head == bad else 0
    monkeypatch.setattr(ab, "main", gate)
    code, out, err = run_cli("bisect", "HEAD~2", "HEAD", "--model", "mnist_cnn", "--budget", "2", "--out",
                             tmp_path / "bisect")
    assert (code, err) == (0, ""), err
    assert [head for _, head, _, _ in gated] == [bad, middle]  # BAD confirmed first, then the midpoint
    assert all(base == good and budget == 2 and args[-2:] == ["--models", "mnist_cnn"] and "--profile" in args
               for base, _, args, budget in gated)
    assert f"first bad commit: {bad}" in out and "BAD: SLOWER mnist_cnn cpu" in out
