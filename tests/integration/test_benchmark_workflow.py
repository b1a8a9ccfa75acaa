"""pytest-benchmark's own workflow on real sessions of the default profile (five passes): --benchmark-json
and --benchmark-autosave, its `compare` and `list` commands on the saved runs, --benchmark-compare-fail
against a run made slower by a stand-in model, and a JSON that github-action-benchmark can read."""

import json
import math
import os
import subprocess
import sys

# Keras is imported at collection (see test_model_file_sessions.py for why).
import keras
import pandas as pd
import pytest
from tests_support import ROOT, bench_command

pytestmark = pytest.mark.integration
CASES = ("--modes=infer", "--batch-sizes=1,8", "--devices=cpu")  # the default profile: quick, 5 passes


def stand_in(path, filters: int) -> None:
    """A small convolutional model saved as `path`; its work grows with `filters` squared."""
    inputs = keras.Input((32, 32, 8), name="x")
    hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv_1")(inputs)
    hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv_2")(hidden)
    hidden = keras.layers.GlobalAveragePooling2D(name="pool")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(10, name="out")(hidden))
    model.compile(optimizer="sgd", loss="mse")
    model.save(path)


def run_file(results) -> pd.DataFrame:
    (path,) = [p for p in results.glob("*.csv") if not p.name.endswith(".samples.csv")]
    return pd.read_csv(path)


def action_benchmark_reader(text: str) -> dict[str, dict]:
    """What github-action-benchmark's `pytest` tool reads of the JSON (its extractPytestResult): each
    benchmark's fullname, and its stats' ops (the value charted), stddev, mean and rounds; parsed as
    JavaScript's JSON.parse does, which has no NaN or Infinity."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    entries = {}
    for bench in json.loads(text, parse_constant=refuse)["benchmarks"]:
        stats = bench["stats"]
        assert isinstance(bench["fullname"], str) and bench["fullname"] not in entries
        assert stats["ops"] > 0 and stats["mean"] > 0 and stats["stddev"] >= 0 and stats["rounds"] >= 1
        assert math.isclose(stats["ops"], 1 / stats["mean"])
        entries[bench["fullname"]] = bench
    return entries


def pytest_benchmark_command(storage, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_benchmark", f"--storage=file://{storage}", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """Two default-profile sessions of one stand-in model, each autosaved into one storage, the first
    with --benchmark-json too, the second with a plugin that fails at the session's end; and a third of a
    wider stand-in under the same name, compared with the first and failing on its median."""
    tmp = tmp_path_factory.mktemp("workflow")
    storage, fast, slow = tmp / "storage", tmp / "fast" / "net.keras", tmp / "slow" / "net.keras"
    fast.parent.mkdir()
    slow.parent.mkdir()
    stand_in(fast, 4)
    stand_in(slow, 128)  # 360 times the multiply-adds (160 M a sample): slower however the machine wanders
    (tmp / "failing_plugin.py").write_text("def pytest_sessionfinish():\n    raise RuntimeError('a later plugin failed')\n")
    sessions = []
    for name, model, extra in (
            ("first", fast, (f"--benchmark-json={tmp / 'out.json'}",)),
            ("second", fast, ("--benchmark-compare", "--benchmark-columns=min,max,ops", "--benchmark-sort=name",
                              "--benchmark-group-by=func", "--benchmark-name=long", "-p", "failing_plugin")),
            ("slower", slow, ("--benchmark-compare=0001", "--benchmark-compare-fail=median:5%"))):
        results = tmp / name
        command = bench_command(results, f"--model-file={model}", *CASES, "--benchmark-autosave",
                                f"--benchmark-storage=file://{storage}", *extra)
        env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        sessions.append((subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env),
                         results))
    return tmp, storage, sessions


def test_json_and_autosave_keep_the_run_and_every_round(saved_runs):
    tmp, storage, ((done, results), *_) = saved_runs
    assert done.returncode == 0, done.stdout + done.stderr
    run = run_file(results)
    assert len(run) == 2 and set(run["status"]) == {"ok"}, run[["mode", "batch_size", "status", "message"]]
    assert "results: " in done.stdout
    entries = action_benchmark_reader((tmp / "out.json").read_text())
    assert len(entries) == 2 and not any("pass" in name for name in entries), sorted(entries)
    by_case = {(e["extra_info"]["mode"], e["extra_info"]["batch_size"]): e for e in entries.values()}
    for row in run.itertuples():
        entry = by_case[(row.mode, row.batch_size)]
        assert entry["stats"]["rounds"] == row.rounds == len(entry["stats"]["data"])
        assert math.isclose(entry["stats"]["median"] * 1e3, row.median_ms)
        info = entry["extra_info"]
        assert (info["model"], info["device"], info["backend"], info["precision"]) == ("net", "cpu", row.backend,
                                                                                     "float32")
        assert info["params"] == row.params and info["flops_per_sample"] == row.flops_per_sample
        assert info["run_file"] == f"{row.run_id}.csv" and info["device_name"] == row.device_name
    (saved,) = storage.rglob("0001_*.json")
    assert len(json.loads(saved.read_text())["benchmarks"]) == 2


def test_a_plugin_failing_at_session_finish_loses_nothing(saved_runs):
    _, _, (_, (done, results), _) = saved_runs
    assert done.returncode != 0 and "a later plugin failed" in done.stdout + done.stderr
    assert len(run_file(results)) == 2 and "results: " in done.stdout, done.stdout + done.stderr


def test_pytest_benchmarks_compare_and_list_read_the_saved_runs(saved_runs):
    tmp, storage, sessions = saved_runs
    assert "Comparing against benchmarks from" in sessions[1][0].stdout + sessions[1][0].stderr
    listed = pytest_benchmark_command(storage, "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [line.split("/")[-1][:5] for line in listed.stdout.split()] == ["0001_", "0002_", "0003_"]
    compared = pytest_benchmark_command(storage, "compare", "0001", "0002", "--columns=median,rounds")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    for batch in (1, 8):
        assert compared.stdout.count(f"[net-infer-cpu-b{batch}]") == 2, compared.stdout


def test_compare_fail_fails_the_slower_run_and_keeps_it(saved_runs):
    tmp, storage, sessions = saved_runs
    done, results = sessions[2]
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Performance has regressed" in done.stdout + done.stderr
    assert len(run_file(results)) == 2 and "results: " in done.stdout


def test_benchmark_disable_runs_each_case_once_and_writes_nothing(pytester, tmp_path):
    """In this process (a smoke run times nothing): the GPU cases skip here, and a smoke run writes no row of them."""
    results = tmp_path / "results"
    done = pytester.runpytest_inprocess(str(ROOT / "bench"), "-p", "no:cacheprovider", f"--rootdir={ROOT}",
                                        f"--results-dir={results}", "--benchmark-disable", "--models=mnist_cnn",
                                        "--modes=infer", "--batch-sizes=1", "--devices=cpu,gpu")
    assert done.ret == 0, done.outlines
    done.stdout.fnmatch_lines(["*no results file written*"])
    assert not results.exists()
