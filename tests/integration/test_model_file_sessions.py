"""`--model-file`: a user's saved model benchmarked like a registry model; files that cannot be used are
refused at start-up with one line, and nothing from a file runs (real sessions)."""

import hashlib

# Keras (with TensorFlow) is imported at collection, before pytester snapshots sys.modules for a test:
# restoring the snapshot after a test that imported it would drop TensorFlow, and a second import of
# TensorFlow in one process aborts the process.
import keras
import pandas as pd
import pytest
from tests_support import ROOT

import models

pytestmark = pytest.mark.integration
FAST = ("--devices=cpu", "--profile=gate", "--passes=1")


def save(path, model) -> None:
    model.save(path)


def counts_model():
    """A model whose integer input feeds no Embedding: its valid ids cannot be read off the model."""
    ids = keras.Input((6,), dtype="int32", name="ids")
    hidden = keras.layers.CategoryEncoding(num_tokens=10, output_mode="count")(ids)
    return keras.Model(ids, keras.layers.Dense(3, name="out")(hidden))


def rows(results) -> pd.DataFrame:
    (path,) = [p for p in results.glob("*.csv") if not p.name.endswith(".samples.csv")]
    return pd.read_csv(path, dtype={"model_sha256": str})


def test_saved_models_run_like_registry_ones_with_their_saved_or_the_stated_training(pytester, tmp_path):
    """A saved copy of the registry's mnist_cnn, and an uncompiled model whose integer input feeds no Embedding
    (so its ids come from --input-range), in one session, in this process (Keras is loaded already)."""
    path, counts, results = tmp_path / "my_cnn.keras", tmp_path / "counts.keras", tmp_path / "results"
    save(path, models.get("mnist_cnn").build())
    save(counts, counts_model())
    result = pytester.runpytest_inprocess(str(ROOT / "bench"), "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
                                          f"--results-dir={results}", f"--model-file={path},{counts}",
                                          "--input-range=0,10", "--modes=infer,train", "--batch-sizes=1,8", *FAST)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    run = rows(results)
    assert set(run["status"]) == {"ok"} and len(run) == 8
    cnn, counted = run[run["model"] == "my_cnn"], run[run["model"] == "counts"]
    assert set(cnn["model_sha256"]) == {hashlib.sha256(path.read_bytes()).hexdigest()}
    assert set(cnn["params"]) == {1_199_882}
    forward = 2 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 9 * 32 + 9216 * 128 + 128 * 10)
    assert sorted(set(cnn["flops_per_sample"])) == [forward, models.TRAIN_FLOPS_FACTOR * forward]
    assert set(cnn.query("mode == 'train'")["training_setup"]) == {"saved: categorical_crossentropy, Adadelta"}
    assert run["efficiency"].notna().all()
    assert set(counted.query("mode == 'train'")["training_setup"]) == {
        "default: mean_squared_error, adam (the file was saved uncompiled)"}


def test_a_lambda_layer_is_refused_in_one_line_and_never_runs(run_bench, tmp_path):
    path, marker = tmp_path / "sneaky.keras", tmp_path / "ran"

    def touch(x):
        marker.touch()
        return x

    save(path, keras.Sequential([keras.Input((3,)), keras.layers.Lambda(touch, name="touch")]))
    marker.unlink(missing_ok=True)  # saving traced the function once
    result, results = run_bench(f"--model-file={path}", "--modes=infer", "--batch-sizes=1", *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.str().splitlines() if line.strip()]
    assert errors == [f"ERROR: --model-file: {path}: layer 'touch' is a Lambda layer: loading it would run Python "
                      "code from the file, which this harness never does (Keras safe mode); rebuild it from Keras "
                      "layers"]
    assert not marker.exists() and not results.exists()
