"""`python -m bench history`: runs as series over commits, their change points and the command's exits."""

import pandas as pd
import pytest
from tests_support import THREE_MODELS, run_cli, write_series

from bench.analysis import series
from bench.history import analyse


def rows_of(directory) -> pd.DataFrame:
    from bench.history import load_rows

    return load_rows([str(directory)])


def test_points_follow_the_commits_not_the_order_the_runs_ran_in(tmp_path):
    write_series(tmp_path, 6, shuffle_runs=True)
    points = series.points(rows_of(tmp_path))
    case = points[(points["level"] == "case") & (points["model"] == "imdb_lstm")].sort_values("position")
    assert list(case["git_commit"]) == [f"{i:02d}" * 20 for i in range(6)]
    assert list(case["position"]) == list(range(6)) and (case["unit"] == "ms").all()
    assert case["case"].iloc[0] == "infer b1 cpu tensorflow float32"
    assert case["spread"].between(0, 0.2).all()


def test_a_models_index_is_its_cases_against_their_usual_values(tmp_path):
    write_series(tmp_path, 8, slower_from=4, factor=1.21, noise=0.0)
    points = series.points(rows_of(tmp_path))
    model = points[(points["level"] == "model") & (points["model"] == "mnist_cnn")].sort_values("position")
    assert len(model) == 8 and (model["unit"] == "index").all() and (model["case"] == "").all()
    # Two cases, one 21% slower from run 4: the geometric mean of the pair moves by sqrt(1.21) = 1.10.
    assert model["value"].iloc[4:].mean() / model["value"].iloc[:4].mean() == pytest.approx(1.10, rel=0.02)
    other = points[(points["level"] == "model") & (points["model"] == "imdb_lstm")]
    assert other["value"].between(0.97, 1.03).all()


def test_a_step_is_found_at_its_commit_and_fails_the_command_while_recent(tmp_path):
    write_series(tmp_path, 14, slower_from=10)
    points, changes = analyse(rows_of(tmp_path), min_change=0.05, alpha=0.01, recent=5)
    slower = changes[changes["case"] == "infer b1 cpu tensorflow float32"]
    assert len(slower) == 1 and slower["model"].iloc[0] == "mnist_cnn", changes
    change = slower.iloc[0]
    assert (change["last_good_commit"], change["first_bad_commit"]) == ("09" * 20, "10" * 20)
    assert change["low"] < 1.2 < change["high"] and change["direction"] == "slower" and change["recent"]
    assert set(changes["model"]) == {"mnist_cnn"}  # imdb_lstm did not move

    code, out, _ = run_cli("history", tmp_path, "--recent", "5")
    assert code == 1 and "REGRESSION vm: mnist_cnn infer b1" in out
    code, out, _ = run_cli("history", tmp_path, "--recent", "3")  # the change is older than the newest 3 runs
    assert code == 0 and "mnist_cnn" in out


def test_a_model_against_the_runs_other_models_sees_through_the_machines_wander(tmp_path):
    """The whole run moves by its own noise (the machine's speed, shared by every case: 8% here); the model
    against the run's other models does not, and names the one that moved, not the others it moves a little."""
    write_series(tmp_path, 14, slower_from=7, factor=1.2, run_noise=0.08, seed=5, cases=THREE_MODELS)
    points, changes = analyse(rows_of(tmp_path), min_change=0.05, alpha=0.01, recent=5)
    relative = changes[changes["level"] == "relative"]
    assert list(zip(relative["model"], relative["direction"], relative["position"])) == [("mnist_cnn", "slower", 7)]
    assert relative["low"].iloc[0] < 1.2 ** 0.5 < relative["high"].iloc[0]
    two_models = series.points(rows_of(tmp_path).query("model != 'imdb_gru'"))
    assert "relative" not in set(two_models["level"])  # two mirror each other: which one moved is unknowable


def test_same_code_runs_have_no_change_point(tmp_path):
    write_series(tmp_path, 14, noise=0.02, seed=3)
    code, out, err = run_cli("history", tmp_path, "--out", tmp_path / "site")
    assert (code, err) == (0, "") and "no change point" in out
    assert pd.read_csv(tmp_path / "site" / "changepoints.csv").empty
    assert (tmp_path / "site" / "index.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["--since", "yesterday-ish"], "--since: 'yesterday-ish' is not a date; give e.g. 2026-11-01"),
    (["--since", "2030-01-01"], "--since: no run from 2030-01-01 on in the stores"),
    (["--machine", "laptop"], "--machine: no run of 'laptop' in the stores; they hold vm"),
    (["--commit-url", "https://example.org/"], "--commit-url: 'https://example.org/' has no {commit}"),
    (["--recent", "0"], "--recent"),
    (["--per", "night"], "--per: invalid choice: 'night'"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    write_series(tmp_path, 3)
    code, out, err = run_cli("history", tmp_path, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_store_without_runs_is_one_line(tmp_path):
    code, _, err = run_cli("history", tmp_path)
    assert code == 2 and "no run files" in err and len(err.strip().splitlines()) == 1, err
