"""Real benchmark sessions driven with pytester: CSV schema, skips, no-clobber, errors."""

import errno
import re
import shutil
import subprocess
import tempfile

# Keras (with TensorFlow) and the modules the tests patch are imported at collection, before pytester
# snapshots sys.modules for the in-process sessions below (see test_model_file_sessions.py for why).
import keras
import pandas as pd
import pytest
from tests_support import ROOT, bench_command

import bench.runner
import bench.session
import bench.store.writer
from bench.store import KEY_COLUMNS

pytestmark = pytest.mark.integration

REQUIRED_COLUMNS = (
    "schema_version run_id timestamp_utc git_commit host cpu_model cpu_cores ram_gb os python_version backend "
    "backend_version keras_version device device_name model params mode batch_size precision jit_compile "
    "status message rounds mean_ms median_ms min_ms max_ms stddev_ms p90_ms p99_ms samples_per_s "
    "first_call_ms flops_per_sample gflops_per_s peak_rss_mb device_peak_mb "
    "calibration_matmul_ms calibration_matmul_gflops calibration_conv_ms tf32 energy_j samples_per_j"
).split()
TINY = ("--models=mnist_cnn", "--modes=infer,train", "--batch-sizes=1,4", "--passes=2")


def run_files(results):
    runs = sorted(p for p in results.glob("*.csv") if not p.name.endswith(".samples.csv"))
    return runs, [p.with_name(p.name[:-4] + ".samples.csv") for p in runs]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One small real session, shared by the tests that read its files."""
    results = tmp_path_factory.mktemp("results")
    done = subprocess.run(bench_command(results, *TINY, "--report"), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    return done, results


@pytest.fixture
def in_process(pytester, monkeypatch, tmp_path):
    """Runs a real session in this process, where TensorFlow is loaded already (seconds saved a session); a
    test breaks one thing with monkeypatch, which puts it back after. The fallback directory goes under
    tmp_path."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    results = tmp_path / "results"

    def run(*args, **kwargs):
        done = pytester.runpytest_inprocess(str(ROOT / "bench"), "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
                                            f"--results-dir={results}", *args, **kwargs)
        return done, results
    yield run
    keras.config.set_dtype_policy("float32")  # as every session sets its own


def test_tiny_session_writes_the_run_with_every_column(tiny_run):
    done, results = tiny_run
    assert done.returncode == 0, done.stdout + done.stderr
    (run_path,), (samples_path,) = run_files(results)
    run = pd.read_csv(run_path)
    assert [c for c in REQUIRED_COLUMNS if c not in run.columns] == []
    ok = run[run["status"] == "ok"]
    assert len(ok) == 4 and set(ok["device"]) == {"cpu"}
    assert set(ok["mode"]) == {"infer", "train"} and set(ok["batch_size"]) == {1, 4}
    assert (ok["params"] == 1_199_882).all()
    assert run["run_id"].nunique() == 1 and run_path.stem == run["run_id"].iloc[0]


def test_figures_are_consistent(tiny_run):
    _, results = tiny_run
    (run_path,), (samples_path,) = run_files(results)
    ok = pd.read_csv(run_path).query("status == 'ok'")
    tails = ok.dropna(subset=["p90_ms", "p99_ms"])
    assert ((ok["min_ms"] <= ok["median_ms"]) & (ok["median_ms"] <= ok["max_ms"])).all()
    assert ((tails["median_ms"] <= tails["p90_ms"]) & (tails["p90_ms"] <= tails["p99_ms"])
            & (tails["p99_ms"] <= tails["max_ms"])).all()
    assert ok["samples_per_s"].to_numpy() == pytest.approx((ok["batch_size"] / ok["median_ms"] * 1e3).to_numpy())
    train = ok[ok["mode"] == "train"]
    assert (train["flops_per_sample"] == 3 * 23_984_896).all()
    assert (ok["rounds"] >= 5).all() and (ok["first_call_ms"] > 0).all() and (ok["peak_rss_mb"] > 0).all()
    # The samples file holds every timed round of both passes, and its medians are the run's.
    samples = pd.read_csv(samples_path)
    assert len(samples) == ok["rounds"].sum()
    assert (ok["passes"] == 2).all()
    passes_per_case = samples.groupby(["mode", "batch_size"])["pass"].agg(lambda p: sorted(set(p)))
    assert passes_per_case.tolist() == [[1, 2]] * 4
    keys = [c for c in KEY_COLUMNS]
    # dropna=False: registry models' model_sha256 is empty, which read_csv reads as NaN
    medians = samples.groupby(keys, dropna=False)["seconds"].median().mul(1e3).rename("from_samples").reset_index()
    joined = ok.merge(medians, on=keys)
    assert len(joined) == len(ok)
    assert joined["from_samples"].to_numpy() == pytest.approx(joined["median_ms"].to_numpy())


def test_a_p99_only_where_the_rounds_support_it_and_always_at_batch_1_inference(tiny_run):
    done, results = tiny_run
    (run_path,), _ = run_files(results)
    ok = pd.read_csv(run_path).query("status == 'ok'")
    assert (ok["p99_ms"].notna() == (ok["rounds"] >= 299)).all()
    assert (ok["p90_ms"].notna() == (ok["rounds"] >= 29)).all()
    latency = ok.query("mode == 'infer' and batch_size == 1").iloc[0]
    assert latency["rounds"] >= 299 and latency["p99_ms"] > 0
    assert ok["tf32"].isna().all()
    without_p99 = ok[ok["p99_ms"].isna()]
    assert not without_p99.empty  # train b1 of a 10 ms step: about 50 rounds
    summary = done.stdout.split("keras benchmark summary")[1]
    header = next(line for line in summary.splitlines() if line.startswith("model "))
    p99 = header.replace("median ms", "median_ms").replace("p99 ms", "p99_ms").split().index("p99_ms")
    for row in without_p99.itertuples():
        line = next(line for line in summary.splitlines() if line.startswith(f"{row.model} ")
                    and line.split()[1:3] == [row.mode, str(row.batch_size)])
        assert line.split()[p99] == "-", line
    assert "p99 -: fewer than 299 rounds, too few to support a p99" in summary


def test_a_second_run_lands_beside_the_first_with_its_precision_and_tf32(tiny_run, in_process, tmp_path):
    shutil.copytree(tiny_run[1], tmp_path / "results")
    (first,), _ = run_files(tmp_path / "results")
    before = first.read_bytes()
    done, results = in_process("--models=mnist_cnn", "--modes=train", "--batch-sizes=2", "--devices=cpu",
                               "--precision=mixed_bfloat16", "--tf32=off")
    assert done.ret == 0, done.outlines
    runs, samples = run_files(results)
    assert len(runs) == 2 and all(p.exists() for p in samples)
    assert first.read_bytes() == before and not list(results.glob(".*tmp"))
    row = pd.read_csv(next(run for run in runs if run != first)).iloc[0]
    assert (row["status"], row["precision"]) == ("ok", "mixed_bfloat16")
    assert pd.isna(row["tf32"])  # TensorFloat-32 is a GPU's: a CPU row claims nothing
    assert pd.isna(row["energy_j"])  # no GPU, no NVML figure


def test_the_session_writes_its_report_when_asked(tiny_run):
    done, results = tiny_run
    (page,) = results.glob("*-report/report.html")
    assert f"report: {page}" in done.stdout
    assert {p.name for p in page.parent.iterdir()} >= {"report.md", "throughput_infer.png", "efficiency.png"}


def test_gpu_cases_show_as_skipped_with_the_reason(tiny_run):
    done, results = tiny_run
    (run_path,), _ = run_files(results)
    skipped = pd.read_csv(run_path).query("status == 'skipped'")
    assert len(skipped) == 4 and set(skipped["device"]) == {"gpu"}
    assert set(skipped["message"]) == {"gpu not present: the tensorflow backend sees no GPU"}
    assert "8 passed, 4 skipped" in done.stdout  # 4 cases x 2 passes; an absent device's cases run no pass 2
    assert "keras benchmark summary" in done.stdout
    # A machine without an NVIDIA GPU: no hint, and empty GPU columns.
    assert "GPU:" not in done.stdout and "NVIDIA" not in done.stdout
    run = pd.read_csv(run_path, keep_default_na=False)
    assert set(run["nvidia_gpus"]) == {""} and set(run["nvidia_driver"]) == {""}


def test_require_gpu_fails_at_start_up_without_a_gpu(in_process):
    done, results = in_process("--require-gpu", *TINY)
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    # TensorFlow's own start-up lines may precede it; ours is the one error, without a traceback.
    assert [line for line in done.errlines if line.startswith("ERROR")] == [
        "ERROR: --require-gpu: the tensorflow backend sees no GPU"]
    assert "Traceback" not in done.stderr.str()
    assert not results.exists()


def test_a_case_failing_in_a_later_pass_keeps_no_figures_and_a_full_disk_sends_the_run_to_the_fallback(
        in_process, monkeypatch, tmp_path):
    real_pass, real_write = bench.runner.CaseRunner.timed_pass, bench.store.writer._write_new

    def fail_train_in_pass_2(self, state, pass_number, benchmark):
        if pass_number == 2 and state.result.mode == "train":
            raise RuntimeError("injected failure")
        real_pass(self, state, pass_number, benchmark)

    def disk_full(path, frame):
        if "results" in path.parts:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, frame)

    monkeypatch.setattr(bench.runner.CaseRunner, "timed_pass", fail_train_in_pass_2)
    monkeypatch.setattr(bench.store.writer, "_write_new", disk_full)
    done, results = in_process("--models=mnist_cnn", "--modes=infer,train", "--batch-sizes=1", "--devices=cpu",
                               "--passes=2")
    assert done.ret == 1  # the failed case is a failed test
    assert "Traceback" not in done.stdout.str() + done.stderr.str()
    fallback = tmp_path / "tmp" / "keras-bench-results"
    (run_path,), (samples_path,) = run_files(fallback)
    (line,) = [line for line in done.outlines if line.startswith("results: ")]
    assert line.startswith(f"results: {run_path}  (samples: ") and line.endswith(
        f", in the fallback directory: could not write to {results}: No space left on device")
    assert not list(results.glob("*.csv"))
    run = pd.read_csv(run_path).set_index("mode")
    assert run.loc["train", "status"] == "error" and run.loc["train", "message"] == "RuntimeError: injected failure"
    for column in ("median_ms", "p99_ms", "samples_per_s", "gflops_per_s", "energy_j", "samples_per_j"):
        assert pd.isna(run.loc["train", column]), column
    assert run.loc["infer", "status"] == "ok" and run.loc["infer", "samples_per_s"] > 0
    assert set(pd.read_csv(samples_path)["mode"]) == {"infer"}


def test_ctrl_c_writes_the_cases_that_finished_at_once(in_process, monkeypatch):
    """An interrupted session writes what it measured, without first timing the GPUs' peaks (a kill
    during that wait would lose the whole run)."""
    real_pass, real_fill, asked = bench.runner.CaseRunner.timed_pass, bench.session.BenchSession._fill_efficiency, []

    def interrupt_in_pass_2(self, state, pass_number, benchmark):
        if pass_number == 2:
            raise KeyboardInterrupt
        real_pass(self, state, pass_number, benchmark)

    def recorded(self, *, measure_gpus):
        asked.append(measure_gpus)
        real_fill(self, measure_gpus=measure_gpus)

    monkeypatch.setattr(bench.runner.CaseRunner, "timed_pass", interrupt_in_pass_2)
    monkeypatch.setattr(bench.session.BenchSession, "_fill_efficiency", recorded)
    done, results = in_process("--models=mnist_cnn", "--modes=infer,train", "--batch-sizes=1", "--devices=cpu",
                               "--passes=2", no_reraise_ctrlc=True)
    assert done.ret == pytest.ExitCode.INTERRUPTED
    (run_path,), _ = run_files(results)
    run = pd.read_csv(run_path)
    assert list(run["status"]) == ["ok", "ok"] and (run["passes"] == 1).all() and run["efficiency"].notna().all()
    assert asked == [False]


def test_cli_reports_a_bad_option_in_one_line_before_building_anything(run_bench):
    result, results = run_bench("--models=resnet")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = [line for line in result.outlines + result.errlines if line.strip()]
    models = __import__("models")
    assert output == [f"ERROR: --models: unknown model 'resnet'; accepted: a set ({', '.join(models.SETS)}) or a "
                      f"model ({', '.join(models.names())})"]
    assert not results.exists()


def test_the_screen_ends_with_our_summary_after_a_grouped_benchmark_table(tiny_run):
    done, _ = tiny_run
    lines = done.stdout.splitlines()
    groups = [i for i, line in enumerate(lines) if "benchmark 'mnist_cnn'" in line]
    summary = next(i for i, line in enumerate(lines) if "keras benchmark summary" in line)
    assert len(groups) == 1 and groups[0] < summary, done.stdout
    table = lines[groups[0]:summary]
    assert all(len(line) <= 120 for line in table), max(table, key=len)
    rows = [line for line in table if line.startswith("model[")]
    assert sorted(row.split()[0] for row in rows) == [  # one row per case: its passes are joined
        "model[mnist_cnn-infer-cpu-b1]", "model[mnist_cnn-infer-cpu-b4]",
        "model[mnist_cnn-train-cpu-b1]", "model[mnist_cnn-train-cpu-b4]"]
    after = [line for line in lines[summary + 1:] if line.strip()]
    assert re.search(r"\d+ passed.* in [\d.]+s", after[-1]), after  # pytest's closing line is last
    assert not any("benchmark" in line and "'" in line for line in after)  # nothing of pytest-benchmark's after ours
    assert not any(line.startswith("SKIPPED") for line in after)  # the summary names the skipped cases once


def test_the_rows_of_pytest_benchmark_hold_every_pass(tiny_run):
    done, _ = tiny_run
    (written,) = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("results: ")]
    rounds = pd.read_csv(written).query("status == 'ok'").set_index(["mode", "batch_size"])["rounds"]
    for line in done.stdout.splitlines():
        if line.startswith("model[mnist_cnn-"):
            mode, _, batch = line.split()[0][len("model[mnist_cnn-"):-1].split("-")
            assert int(line.split()[-1]) == rounds[(mode, int(batch[1:]))], line


def test_a_suite_can_be_run_alone_with_stable_case_ids(pytester):
    def collected(*args, suite=ROOT / "bench"):  # in this process: collection times nothing, and Keras is loaded
        done = pytester.runpytest_inprocess(str(suite), "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
                                            "--collect-only", *args)
        assert done.ret == 0, done.outlines
        return [line for line in done.outlines if "::" in line]

    args = ("--models=mnist_cnn", "--batch-sizes=1", "--devices=cpu", "--passes=2")
    assert collected(*args)[:1] == ["bench/test_inference.py::test_model[mnist_cnn-forward-cpu-b1]"]
    training = collected(*args, suite=ROOT / "bench" / "test_training.py")
    assert training == ["bench/test_training.py::test_model[mnist_cnn-train-cpu-b1]",
                        "bench/test_training.py::test_model[mnist_cnn-train-cpu-b1-pass2]"]
    # Across the suites, pass 1 of every case comes before any pass 2; a suite with no case is left out.
    both = collected("--models=mnist_cnn,imdb_gru", *args[1:], "--modes=infer,train")
    assert [line.split("[")[1] for line in both] == [
        "mnist_cnn-infer-cpu-b1]", "imdb_gru-infer-cpu-b1]", "mnist_cnn-train-cpu-b1]", "imdb_gru-train-cpu-b1]",
        "mnist_cnn-infer-cpu-b1-pass2]", "imdb_gru-infer-cpu-b1-pass2]", "mnist_cnn-train-cpu-b1-pass2]",
        "imdb_gru-train-cpu-b1-pass2]"]
    assert all("test_training" in line for line in collected(*args, "--modes=train"))
