"""Data-parallel training: real 1- and 2-replica sessions on logical CPU devices, and start-up errors."""

import os
import socket
import subprocess

import pandas as pd
import pytest
from tests_support import ROOT, bench_command

pytestmark = pytest.mark.integration


def one_line_error(done):
    errors = [line for line in done.errlines if line.startswith("ERROR")]
    assert "Traceback" not in done.stderr.str()
    return errors


@pytest.mark.slow  # 20 s on TensorFlow; CI runs it (the README's test command leaves slow tests out)
@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.backend("jax"))])
def test_one_and_two_replicas_with_scaling_efficiency(run_bench, backend):
    done, results = run_bench(f"--backend={backend}", "--replicas=1,2", "--models=mnist_cnn", "--modes=train",
                              "--batch-sizes=8")
    assert done.ret == 0, done.outlines
    (run_path,) = [p for p in results.glob("*.csv") if not p.name.endswith(".samples.csv")]
    run = pd.read_csv(run_path).sort_values("replicas")
    assert list(run["status"]) == ["ok", "ok"]
    assert list(run["replicas"]) == [1, 2] and list(run["per_replica_batch"]) == [8, 8]
    assert list(run["batch_size"]) == [8, 16] and run["logical_devices"].all()
    one, two = run.iloc[0], run.iloc[1]
    assert one["scaling_efficiency"] == pytest.approx(1.0)
    assert two["scaling_efficiency"] == pytest.approx(two["samples_per_s"] / (2 * one["samples_per_s"]))
    done.stdout.fnmatch_lines(["*mnist_cnn-train-cpu-r2-b8*"])


@pytest.mark.slow  # 10 s: a real session; CI runs it
def test_more_replicas_than_devices(run_bench):
    done, results = run_bench("--replicas=1,4096", "--models=mnist_cnn", "--modes=train")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = one_line_error(done)
    assert line.startswith("ERROR: --replicas: 4096 is more than the devices present (")
    assert not results.exists()


@pytest.mark.backend("torch")
def test_a_backend_without_data_parallel_engine(run_bench):
    done, _ = run_bench("--backend=torch", "--replicas=1,2", "--models=mnist_cnn", "--modes=train")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert one_line_error(done) == ["ERROR: --replicas: the torch backend has no data-parallel engine in this "
                                    "harness; use --backend tensorflow (tf.distribute) or jax (keras.distribution)"]


# -- several processes (hosts), joined through Keras' own variables -------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.backend("jax")
def test_two_processes_train_one_data_parallel_model_and_each_writes_its_run(tmp_path):
    """Two JAX processes on this host stand in for two hosts: jax.distributed through keras.distribution."""
    env = {**os.environ, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{free_port()}",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}
    args = ("--backend=jax", "--replicas=2,4", "--models=mnist_cnn", "--modes=train", "--batch-sizes=4", "--passes=2")
    workers = [subprocess.Popen(bench_command(tmp_path / f"worker{index}", *args), cwd=ROOT, text=True,
                                env={**env, "KERAS_DISTRIBUTION_PROCESS_ID": str(index)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for index in (0, 1)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    runs = [pd.read_csv(next(p for p in (tmp_path / f"worker{index}").glob("*.csv")
                             if not p.name.endswith(".samples.csv"))) for index in (0, 1)]
    for index, run in enumerate(runs):
        assert list(run["process_id"]) == [index, index] and (run["processes"] == 2).all()
        assert list(run["replicas"]) == [2, 4] and list(run["batch_size"]) == [8, 16]
        assert list(run["status"]) == ["ok", "ok"]
        # No 1-replica row in a 2-process run: efficiency is per replica against the fewest replicas run.
        assert run["scaling_efficiency"].iloc[0] == pytest.approx(1.0)
    # Every step is one collective step of both processes: they made the same number of calls.
    assert list(runs[0]["rounds"]) == list(runs[1]["rounds"])
    assert list(runs[0]["warmup_rounds"]) == list(runs[1]["warmup_rounds"])


@pytest.mark.parametrize("env,args,message", [
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, ("--replicas=2",),
     "ERROR: KERAS_DISTRIBUTION_NUM_PROCESSES: 'two' is not a positive integer"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, (),
     "ERROR: KERAS_DISTRIBUTION_NUM_PROCESSES=2: a multi-process run measures data-parallel training; give --replicas"),
    pytest.param({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, ("--backend=jax", "--replicas=1,2"),
                 "ERROR: --replicas: 1 is not a multiple of the 2 processes (KERAS_DISTRIBUTION_NUM_PROCESSES); "
                 "every process holds as many replicas", marks=pytest.mark.backend("jax")),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, ("--backend=tensorflow", "--replicas=2"),
     "ERROR: KERAS_DISTRIBUTION_NUM_PROCESSES: the tensorflow backend cannot join several processes in this "
     "harness (Keras 3's train step fails under TensorFlow's MultiWorkerMirroredStrategy); use --backend jax"),
])
def test_bad_multi_process_launches(run_bench, monkeypatch, env, args, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done, results = run_bench("--models=mnist_cnn", "--modes=train", *args)
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert one_line_error(done) == [message]
    assert not results.exists()
