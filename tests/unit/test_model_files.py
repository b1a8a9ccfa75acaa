"""models.files.ModelFile: what a file must be before any case runs, and the inputs and labels made for it."""

import json
import zipfile

import numpy as np
import pytest

import models
from bench.options import HarnessConfig
from bench.parsers import OptionError
from models.files import ModelFile, ModelFileError


def fake_archive(path, config=None):
    """A .keras archive with only its config: enough for the checks made before Keras loads anything."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config or {"class_name": "Functional", "config": {"layers": []}}))
    return path


def test_a_file_named_like_another_model_in_the_run_is_refused(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        fake_archive(tmp_path / folder / "net.keras")
    with pytest.raises(OptionError, match=r"net.keras is named 'net', as is a model from .*a/net.keras; rename"):
        HarnessConfig.from_values({"model_file": f"{tmp_path / 'a' / 'net.keras'},{tmp_path / 'b' / 'net.keras'}"})
    fake_archive(tmp_path / "mnist_cnn.keras")
    with pytest.raises(OptionError, match="is named 'mnist_cnn', as is a model from the registry"):
        HarnessConfig.from_values({"models": "mnist_cnn", "model_file": str(tmp_path / "mnist_cnn.keras")})


def test_a_model_file_alone_runs_without_the_registry_models(tmp_path):
    config = HarnessConfig.from_values({"model_file": str(fake_archive(tmp_path / "mine.keras"))})
    assert config.models == ("mine",)
    both = HarnessConfig.from_values({"models": "mnist_cnn", "model_file": str(tmp_path / "mine.keras")})
    assert both.models == ("mnist_cnn", "mine") and both.spec("mine").sha256


@pytest.mark.parametrize("content,message", [
    (b"not a zip", "not a Keras archive"),
    (None, "not a Keras archive"),  # a zip without config.json
])
def test_what_is_not_a_keras_archive_is_named(tmp_path, content, message):
    path = tmp_path / "x.keras"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.txt", "")
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=f"--model-file: {path}: {message}"):
        ModelFile(path)


def test_an_integer_input_without_an_embedding_needs_a_range(tmp_path):
    import keras

    ids = keras.Input((6,), dtype="int32", name="ids")
    hidden = keras.layers.CategoryEncoding(num_tokens=10, output_mode="count")(ids)
    keras.Model(ids, keras.layers.Dense(3)(hidden)).save(tmp_path / "counts.keras")
    with pytest.raises(ModelFileError, match="integer input 'ids' does not feed an Embedding.*--input-range"):
        ModelFile(tmp_path / "counts.keras").inspect()
    x, y = ModelFile(tmp_path / "counts.keras", input_range=(2, 5)).synthetic_batch(50)
    assert x.dtype == np.int32 and 2 <= x.min() and x.max() < 5 and y.shape == (50, 3)


def test_an_unknown_dimension_is_refused(tmp_path):
    import keras

    tokens = keras.Input((None,), dtype="int32", name="tokens")
    keras.Model(tokens, keras.layers.Embedding(9, 2)(tokens)).save(tmp_path / "ragged.keras")
    with pytest.raises(ModelFileError, match=r"input 'tokens' has shape \(None, None\): a size other than the batch"):
        ModelFile(tmp_path / "ragged.keras").inspect()


def test_inputs_and_labels_follow_the_model_and_its_saved_loss(tmp_path):
    models.get("imdb_lstm").build().save(tmp_path / "lstm.keras")
    model_file = ModelFile(tmp_path / "lstm.keras")
    x, y = model_file.synthetic_batch(64, seed=3)
    assert x.shape == (64, 400) and 1 <= x.min() and x.max() < 5000  # the Embedding's ids, 0 left for padding
    assert y.shape == (64, 1) and set(np.unique(y)) <= {0.0, 1.0}
    assert model_file.training_setup == "saved: binary_crossentropy, Adam"
    np.testing.assert_array_equal(model_file.synthetic_batch(64, seed=3)[0], x)


def test_a_saved_loss_from_outside_keras_is_refused_at_start(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="elsewhere")
    def my_loss(y_true, y_pred):
        return keras.ops.mean((y_true - y_pred) ** 2)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(loss=my_loss, optimizer="adam")
    model.save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("elsewhere>my_loss")  # as in the harness's process: never imported
    with pytest.raises(ModelFileError, match="its config names the registered object 'elsewhere>my_loss'.*: loading it could run code from outside "
                                             "Keras' own.*or save it uncompiled"):
        ModelFile(tmp_path / "custom.keras")
