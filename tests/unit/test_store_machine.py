"""Schema versions 5 and 6: the machine's stable name (--machine, else made from the hardware), the commit's
time, the recovered flag (5), device time (6), and the migration of every older version to them."""

import math

import pandas as pd
import pytest
from tests_support import ROOT

from bench import store
from bench.environment import commit_time, machine_name
from bench.options import HarnessConfig
from bench.parsers import MACHINE_NAME, OptionError
from bench.results import CaseResult

H200_MACHINE = {"cpu_model": "AMD EPYC 9654 96-Core Processor", "cpu_cores": 16, "ram_gb": 128.0,
                "nvidia_gpus": "1 x NVIDIA H200 (143771 MiB)"}


@pytest.mark.parametrize("cpu,cores,ram_gb,gpus,name", [
    ("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2, 23.5, "", "intel-xeon-platinum-8481c-2c-24g"),
    ("AMD EPYC 9654 96-Core Processor", 16, 128.0, "1 x NVIDIA H200 (143771 MiB)", "amd-epyc-9654-16c-128g-1xh200"),
    ("Apple M2 Pro", 10, 16.0, "", "apple-m2-pro-10c-16g"),
    ("aarch64", 64, 124.7, "4 x NVIDIA A10G (23028 MiB)", "aarch64-64c-125g-4xa10g"),  # Graviton: no model name
    ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 8, 15.4, "", "11th-gen-intel-core-i7-1165g7-8c-15g"),
    ("AMD Ryzen 9 7950X 16-Core Processor", 32, 62.6,
     "1 x NVIDIA GeForce RTX 4090 (24564 MiB); 2 x NVIDIA H100 80GB HBM3 (81559 MiB)",
     "amd-ryzen-9-7950x-32c-63g-1xgeforce-rtx-4090-2xh100-hbm3"),
    ("Intel(R) Xeon(R) Processor", 16, 125.9, math.nan, "intel-xeon-16c-126g"),  # a file without nvidia_gpus
    (math.nan, math.nan, math.nan, math.nan, ""),  # a file without any of them
])
def test_the_default_machine_name_is_the_hardware_without_marketing_noise(cpu, cores, ram_gb, gpus, name):
    assert machine_name(cpu, cores, ram_gb, gpus) == name
    assert machine_name(cpu, cores, ram_gb, gpus) == name  # deterministic
    assert not name or MACHINE_NAME.fullmatch(name)  # a default name is also one --machine accepts


def test_a_long_cpu_name_leaves_a_name_machine_accepts():
    name = machine_name("Some Vendor " + "Extremely Long Model Name " * 5, 128, 1024.0, "8 x NVIDIA B200 (183359 MiB)")
    assert MACHINE_NAME.fullmatch(name) and name.endswith("-128c-1024g-8xb200")


def test_machine_overrides_the_default_and_goes_into_the_config():
    assert HarnessConfig.from_values({"machine": "ci-h200.pool_2"}).machine == "ci-h200.pool_2"
    assert HarnessConfig.from_values({}).machine is None  # the fingerprint names it after the hardware


@pytest.mark.parametrize("bad", ["", "-ci", "ci runner", "ci/h200", "a" * 65, "h200é"])
def test_a_bad_machine_name_is_one_line(bad):
    with pytest.raises(OptionError) as caught:
        HarnessConfig.from_values({"machine": bad})
    assert str(caught.value) == (f"--machine: {bad!r} is not a machine name; accepted: 1 to 64 letters, digits, "
                                 "'.', '_' or '-', starting with a letter or digit, e.g. ci-h200")


def test_a_bad_machine_name_is_pytests_usage_error_in_one_line(pytester):
    done = pytester.runpytest_inprocess("-p", "bench.plugin", "--machine=ci runner", "--collect-only")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in done.errlines if line.strip()] == [
        "ERROR: --machine: 'ci runner' is not a machine name; accepted: 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit, e.g. ci-h200"]


def test_commit_time_is_heads_committer_time_or_empty_outside_git(tmp_path):
    assert pd.Timestamp(commit_time(ROOT)).tzinfo is not None  # ISO 8601 with its offset
    assert commit_time(tmp_path) == ""


def write_current(tmp_path, **fingerprint):
    ok = CaseResult(device="cpu", device_name="cpu", model="mnist_cnn", mode="infer", batch_size=32,
                    precision="float32", jit_compile="off", status="ok").with_latency([0.001, 0.002])
    fingerprint = {"run_id": "20260101T000000Z_host_tensorflow", "timestamp_utc": "2026-01-01T00:00:00Z",
                   "commit_time": "2026-01-01T01:00:00+01:00", "host": "host", "machine": "0123",
                   **H200_MACHINE, "backend": "tensorflow", "recovered": False, **fingerprint}
    return store.write_run(tmp_path, fingerprint, [ok], [(ok, [(1, 0.001), (1, 0.002)])])[0]


def test_schema_6_round_trip(tmp_path):
    path = write_current(tmp_path)
    rows = store.read_rows(path)
    assert (rows["schema_version"] == 6).all() and store.SCHEMA_VERSION == 6
    row = rows.iloc[0]
    assert row["machine"] == "0123"  # text, though it looks like a number
    assert row["commit_time"] == "2026-01-01T01:00:00+01:00" and not row["recovered"]
    assert store.load(path).cases["machine"].tolist() == ["0123"]
    assert math.isnan(row["device_ms"]) and row["device_clock"] == ""  # a CPU row: no device time


DROPPED_BY = {  # the columns each version added, dropped to make a file of the version before
    6: ["device_ms", "device_clock"],
    5: ["machine", "commit_time", "recovered"],
    4: ["scenario", "load", "p999_ms", "offered_qps", "max_qps_at_bound"],
    3: ["model_sha256", "peak_gflops", "efficiency"],
    2: ["schema_version"],
}


def test_a_version_5_file_has_no_device_time(tmp_path):
    path = write_current(tmp_path)
    pd.read_csv(path).drop(columns=DROPPED_BY[6]).assign(schema_version=5).to_csv(path, index=False)
    cases = store.load(path).cases
    assert cases["device_ms"].isna().all() and cases["device_clock"].tolist() == [""]
    assert (cases["schema_version"] == store.SCHEMA_VERSION).all()


@pytest.mark.parametrize("version", [4, 3, 2, 1])
def test_every_older_version_gets_the_machine_of_its_own_columns_and_no_device_time(tmp_path, version):
    path = write_current(tmp_path)
    frame = pd.read_csv(path).drop(columns=[c for v in range(6, version, -1) for c in DROPPED_BY[v]])
    if version > 1:
        frame["schema_version"] = version
    frame.to_csv(path, index=False)
    samples = path.with_name(path.stem + ".samples.csv")
    if version <= 3:
        pd.read_csv(samples).drop(columns=["scenario", "load"]).to_csv(samples, index=False)
    cases = store.load(path).cases
    assert cases["machine"].tolist() == ["amd-epyc-9654-16c-128g-1xh200"]
    assert cases["commit_time"].tolist() == [""] and cases["recovered"].tolist() == [False]
    assert (cases["schema_version"] == store.SCHEMA_VERSION).all()
    assert cases["device_ms"].isna().all() and cases["device_clock"].tolist() == [""]


def test_a_version_4_file_without_hardware_columns_gets_empty_parts(tmp_path):
    path = write_current(tmp_path)
    pd.read_csv(path).drop(columns=["machine", "commit_time", "recovered", "cpu_model", "nvidia_gpus"]).assign(
        schema_version=4).to_csv(path, index=False)
    assert store.read_rows(path)["machine"].tolist() == ["16c-128g"]


def test_the_committed_version_1_runs_are_named_after_their_hardware():
    rows = store.read_rows(ROOT / "results" / "reference" / "h100" / "20261126T210826Z_vm_jax.csv")
    assert set(rows["machine"]) == {"intel-xeon-16c-126g"}  # Intel(R) Xeon(R) Processor, 16 cores, 125.9 GiB
