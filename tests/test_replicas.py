"""Data-parallel training: real 1- and 2-replica sessions on logical CPU devices, and start-up errors."""

import pandas as pd
import pytest


def one_line_error(done):
    errors = [line for line in done.errlines if line.startswith("ERROR")]
    assert "Traceback" not in done.stderr.str()
    return errors


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
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


def test_more_replicas_than_devices(run_bench):
    done, results = run_bench("--replicas=1,4096", "--models=mnist_cnn", "--modes=train")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = one_line_error(done)
    assert line.startswith("ERROR: --replicas: 4096 is more than the devices present (")
    assert not results.exists()


def test_a_backend_without_data_parallel_engine(run_bench):
    done, _ = run_bench("--backend=torch", "--replicas=1,2", "--models=mnist_cnn", "--modes=train")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert one_line_error(done) == ["ERROR: --replicas: the torch backend has no data-parallel engine in this "
                                    "harness; use --backend tensorflow (tf.distribute) or jax (keras.distribution)"]
