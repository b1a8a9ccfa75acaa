"""Real benchmark sessions driven with pytester: CSV schema, skips, no-clobber, errors."""

import subprocess

import pandas as pd
import pytest
from tests_support import ROOT, bench_command

from bench.backends import Backend, Device
from bench.measure import rewarm
from bench.options import HarnessConfig
from bench.results import KEY_COLUMNS
from bench.session import BenchSession

REQUIRED_COLUMNS = (
    "run_id timestamp_utc git_commit host cpu_model cpu_cores ram_gb os python_version backend "
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
    done = subprocess.run(bench_command(results, *TINY), cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done, results


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
    assert ((ok["min_ms"] <= ok["median_ms"]) & (ok["median_ms"] <= ok["p90_ms"])
            & (ok["p90_ms"] <= ok["p99_ms"]) & (ok["p99_ms"] <= ok["max_ms"])).all()
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
    medians = samples.groupby(keys)["seconds"].median().mul(1e3).rename("from_samples").reset_index()
    joined = ok.merge(medians, on=keys)
    assert len(joined) == len(ok)
    assert joined["from_samples"].to_numpy() == pytest.approx(joined["median_ms"].to_numpy())


def test_precision_and_tf32_are_applied_and_recorded(run_bench):
    done, results = run_bench("--models=mnist_cnn", "--modes=train", "--batch-sizes=2", "--devices=cpu",
                              "--precision=mixed_bfloat16", "--tf32=off")
    assert done.ret == 0, done.outlines
    (run_path,), _ = run_files(results)
    row = pd.read_csv(run_path).iloc[0]
    assert (row["status"], row["precision"], row["tf32"]) == ("ok", "mixed_bfloat16", "off")
    assert pd.isna(row["energy_j"])  # no GPU, no NVML figure


def test_gpu_cases_show_as_skipped_with_the_reason(tiny_run):
    done, results = tiny_run
    (run_path,), _ = run_files(results)
    skipped = pd.read_csv(run_path).query("status == 'skipped'")
    assert len(skipped) == 4 and set(skipped["device"]) == {"gpu"}
    assert set(skipped["message"]) == {"gpu not present: the tensorflow backend sees no GPU"}
    assert "8 passed, 4 skipped" in done.stdout  # 4 cases x 2 passes; an absent device's cases run no pass 2
    assert "keras benchmark summary" in done.stdout


def test_second_run_never_overwrites_the_first(tiny_run, run_bench):
    _, results = tiny_run
    (first,), _ = run_files(results)
    before = first.read_bytes()
    done, _ = run_bench("--models=mnist_separable_cnn", "--modes=infer", "--batch-sizes=2", "--devices=cpu",
                        results=results)
    assert done.ret == 0, done.outlines
    runs, samples = run_files(results)
    assert len(runs) == 2 and all(p.exists() for p in samples)
    assert first.read_bytes() == before
    assert not list(results.glob(".*tmp"))


def test_require_gpu_fails_at_start_up_without_a_gpu(run_bench):
    done, results = run_bench("--require-gpu", *TINY)
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    # TensorFlow's own start-up lines may precede it; ours is the one error, without a traceback.
    assert [line for line in done.errlines if line.startswith("ERROR")] == [
        "ERROR: --require-gpu: the tensorflow backend sees no GPU"]
    assert "Traceback" not in done.stderr.str()
    assert not results.exists()


def test_benchmark_disable_runs_each_case_once_and_writes_nothing(run_bench):
    done, results = run_bench("--benchmark-disable", "--models=mnist_cnn", "--modes=infer", "--batch-sizes=1",
                              "--devices=cpu")
    assert done.ret == 0, done.outlines
    done.stdout.fnmatch_lines(["*no results file written*"])
    assert not results.exists()


# -- the device layer, faked: what a host with GPUs would run ----------------------


class FakeGpuBackend(Backend):
    name = "tensorflow"

    def gpus(self):
        return [Device("gpu:0", "Fake H100", 80_000), Device("gpu:1", "Fake H100", 80_000)]

    def to_device(self, array, device):
        return array

    def device_of(self, tensor):
        return "cpu"

    def tf32_enabled(self):
        return True

    def set_tf32(self, enabled):
        pass


@pytest.fixture
def fake_gpu_session(monkeypatch):
    monkeypatch.setattr("bench.backends.active", lambda: FakeGpuBackend())
    return lambda **values: BenchSession(HarnessConfig.from_values(values))


def test_gpu_expands_to_every_gpu_present(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn", modes="infer", batch_sizes="1")
    assert session.requested_devices() == ["cpu", "gpu:0", "gpu:1"]
    assert [c.id for c in session.cases()] == ["mnist_cnn-infer-cpu-b1", "mnist_cnn-infer-gpu:0-b1",
                                               "mnist_cnn-infer-gpu:1-b1"]
    assert session.gpu_count() == 2


def test_passes_go_through_the_whole_matrix_in_turn(fake_gpu_session):
    session = fake_gpu_session(models="mnist_cnn", modes="infer,train", batch_sizes="1", devices="cpu,gpu:5",
                               passes="3")
    order = [(case.id, number) for case, number in session.timed_passes()]
    runnable = ["mnist_cnn-infer-cpu-b1", "mnist_cnn-train-cpu-b1"]
    absent = ["mnist_cnn-infer-gpu:5-b1", "mnist_cnn-train-gpu:5-b1"]
    assert order == ([(runnable[0], 1), (runnable[1], 1), (absent[0], 1), (absent[1], 1)]
                     + [(case, n) for n in (2, 3) for case in runnable])


def test_a_gpu_that_is_not_there_is_skipped_with_what_is(fake_gpu_session):
    session = fake_gpu_session(devices="gpu:1,gpu:3")
    assert session.requested_devices() == ["gpu:1", "gpu:3"]
    assert session.missing_device_reason("gpu:1") is None
    assert session.missing_device_reason("gpu:3") == "gpu:3 not present: the tensorflow backend sees only gpu:0, gpu:1"


@pytest.mark.parametrize("step_s,calls", [(0.001, 50), (0.03, 2), (0.05, 0), (0.4, 0)])
def test_a_later_pass_rewarms_short_steps_only_by_a_count(step_s, calls):
    # A count from the warm step time, never a clock: every process of a multi-process run makes the same calls.
    made = []
    assert rewarm(lambda: made.append(1), step_s) == calls
    assert len(made) == calls
