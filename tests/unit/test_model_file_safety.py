"""Crafted model files, of the kinds that ran code in Keras' safe mode before 3.14, are refused before Keras
reads them: each archive is built here, never loaded, and the marker file its payload would write must not
appear. CI runs this file again on the lowest Keras that pyproject.toml accepts."""

import json
import zipfile

import pytest

from models.files import ModelFile, ModelFileError


def dense(activation) -> dict:
    """A model config whose one Dense layer has `activation` (where a serialized function goes)."""
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": "dense", "units": 2, "activation": activation}}
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "net", "layers": [layer]}}


def function(module: str, name: str) -> dict:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def crafted(path, config, *, members=()):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        for name in members:
            archive.writestr(name, "payload")
    return path


def test_a_file_saved_by_keras_passes_the_checks(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", name="dense")])
    model.compile(loss=keras.losses.MeanSquaredError(), optimizer="adam", metrics=[keras.metrics.mean_absolute_error])
    model.save(tmp_path / "fine.keras")
    assert ModelFile(tmp_path / "fine.keras").sha256


@pytest.mark.parametrize("kind", ["module outside Keras (CVE-2025-1550)", "Keras utility (CVE-2025-8747)",
                                  "unsafe switch (CVE-2025-9906)", "unsafe switch in compile_config",
                                  "path traversal (GHSA-hqp4-2352-xf5r)", "absolute member"])
def test_crafted_files_are_refused_before_keras_reads_them(tmp_path, kind):
    marker = tmp_path / "pwned"
    configs = {
        "module outside Keras (CVE-2025-1550)": (dense(function("os", "system")) | {"args": f"touch {marker}"},
                                                 "module 'os'"),
        "Keras utility (CVE-2025-8747)": (dense(function("keras.utils", "get_file")), "function 'get_file'"),
        "unsafe switch (CVE-2025-9906)": (dense(function("keras.config", "enable_unsafe_deserialization")),
                                          "enable_unsafe_deserialization"),
        "unsafe switch in compile_config": (dense("relu") | {"compile_config": {
            "loss": function("keras.losses", "mse"), "optimizer": "keras.config.enable_unsafe_deserialization"}},
                                            "enable_unsafe_deserialization"),
    }
    members = {"path traversal (GHSA-hqp4-2352-xf5r)": ([f"../{marker.name}"], "archive member '../pwned'"),
               "absolute member": ([str(marker)], f"archive member '{marker}'")}
    config, message = configs.get(kind, (dense("relu"), None))
    names, message = members.get(kind, ((), message))
    (tmp_path / "model").mkdir()
    path = crafted(tmp_path / "model" / "x.keras", config, members=names)
    with pytest.raises(ModelFileError, match=f"--model-file: {path}: .*{message}"):
        ModelFile(path)
    assert not marker.exists()
