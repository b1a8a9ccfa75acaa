"""A user's saved Keras model (`model.save("x.keras")`) benchmarked like a registry entry.

Nothing from the file runs: the archive's config is read as JSON first and refused
if it could make Keras run anything but its own layers (a Lambda layer, which carries
Python bytecode; any object or function from a module outside Keras' own and this
project's registered layers; a call of Keras' own utilities or of its switch to
unsafe loading; an archive member that would be written outside its folder), then
Keras loads it in safe mode, which resolves only Keras' own classes and the
registered ones (this project's, e.g. models.transformer.PositionEmbedding). Safe
mode alone has let crafted files run code in older Keras (CVE-2025-1550 before 3.9,
CVE-2025-8747 and CVE-2025-9906 before 3.11, GHSA-hqp4-2352-xf5r before 3.14):
pyproject asks for 3.14 or newer, and these checks stand in front of it. The inputs of every
case are synthesized from `model.inputs`; training uses the loss and optimizer
the file was saved with, else the stated default.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_TRAINING = {"loss": "mean_squared_error", "optimizer": "adam"}
# Modules a config may name: Keras' own, and this project's registered layers (imported by the loader).
ALLOWED_MODULES = ("keras", "models.transformer")
# Packages of registered objects ("package>Name") a config may name: this project's (models/transformer.py).
ALLOWED_PACKAGES = ("keras_bench",)
# Functions a config may name (losses, activations, metrics given as functions): from these Keras modules only.
FUNCTION_MODULES = ("activations", "losses", "metrics", "ops")


class ModelFileError(ValueError):
    """A model file that cannot be benchmarked; the message is one line naming the file."""


@dataclass(frozen=True)
class TensorSpec:
    """One input (or output) of a model file: its name, its shape without the batch, its dtype,
    and for integer inputs the range ids are drawn from, [low, high)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    low: int = 0
    high: int = 0


class ModelFile:
    """A saved model, by path. Constructing it reads and hashes the file and checks its config
    without Keras; `inspect` loads it (safe mode) and checks that its inputs can be synthesized.

    Args:
        path: the `.keras` file.
        input_range: (low, high) for integer inputs whose valid range the model does not say
            (those that do not feed an Embedding); ids are drawn from [low, high).
    Raises:
        ModelFileError: the file is missing, unreadable, not a Keras archive, or has a Lambda layer.
    """

    def __init__(self, path: Path, *, input_range: tuple[int, int] | None = None):
        self.path = Path(path)
        self.name = self.path.stem
        self.input_range = input_range
        self._inputs: list[TensorSpec] | None = None
        self._outputs: list[TensorSpec] = []
        self._losses: list[str] = []
        self.training_setup = ""
        if self.path.suffix != ".keras":
            raise self._error("not a .keras file (save it with model.save('name.keras'))")
        try:
            content = self.path.read_bytes()
        except OSError as error:
            raise self._error(f"cannot be read ({error.strerror or error})") from None
        self.sha256 = hashlib.sha256(content).hexdigest()
        self._config = self._read_config()
        lambdas = [layer for layer in _layers(self._config.get("config", {})) if layer.get("class_name") == "Lambda"]
        if lambdas:
            name = lambdas[0].get("config", {}).get("name", "?")
            raise self._error(f"layer {name!r} is a Lambda layer: loading it would run Python code from the file, "
                              "which this harness never does (Keras safe mode); rebuild it from Keras layers")
        foreign = next(_foreign_code(self._config), None)
        if foreign:
            raise self._error(f"its config names {foreign}: loading it could run code from outside Keras' own, "
                              "which this harness never does; rebuild it from Keras' own layers, losses and "
                              "optimizers, or save it uncompiled")

    def _error(self, what: str) -> ModelFileError:
        return ModelFileError(f"--model-file: {self.path}: {what}")

    def _read_config(self) -> dict:
        try:
            with zipfile.ZipFile(self.path) as archive:
                escaping = [name for name in archive.namelist() if _escapes(name)]
                config = json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, KeyError, ValueError):
            raise self._error("not a Keras archive (a zip with config.json, as model.save('x.keras') "
                              "writes)") from None
        if escaping:
            raise self._error(f"archive member {escaping[0]!r} would be written outside the archive's folder; "
                              "a file saved by Keras has no such member")
        return config

    def inspect(self) -> None:
        """Loads the model once (safe mode) and works out its inputs, labels and training setup.

        Raises:
            ModelFileError: the file does not load in safe mode, or an input cannot be synthesized.
        """
        model = self._load()
        consumers = _embedding_consumers(model)
        self._inputs = [self._input_spec(tensor, consumers.get(id(tensor))) for tensor in model.inputs]
        self._outputs = [TensorSpec(tensor.name, self._known_shape(tensor, "output"), str(tensor.dtype))
                         for tensor in model.outputs]
        compile_config = self._config.get("compile_config")
        if compile_config:
            try:  # a loss or optimizer that safe mode cannot resolve fails here, not in every train case
                model.compile_from_config(compile_config)
            except Exception as error:  # a user's file: one line
                text = " ".join(str(error).split())
                raise self._error(f"its saved loss or optimizer cannot be restored ({type(error).__name__}: "
                                  f"{text[:160]}); save it uncompiled, or compiled with Keras' own") from None
            loss = compile_config.get("loss")
            optimizer = compile_config.get("optimizer")
            optimizer = optimizer.get("class_name", "?") if isinstance(optimizer, dict) else str(optimizer)
            self._losses = _loss_names(loss, len(self._outputs), [t.name for t in model.outputs])
            self.training_setup = f"saved: {', '.join(dict.fromkeys(self._losses))}, {optimizer}"
        else:
            self._losses = [DEFAULT_TRAINING["loss"]] * len(self._outputs)
            self.training_setup = (f"default: {DEFAULT_TRAINING['loss']}, {DEFAULT_TRAINING['optimizer']} "
                                   "(the file was saved uncompiled)")

    def _load(self):
        import keras

        import models.transformer  # noqa: F401  (registers the registry's own layers for safe mode)

        try:
            with warnings.catch_warnings():  # optimizer variables saved before the first step
                warnings.simplefilter("ignore")
                return keras.saving.load_model(self.path, compile=False, safe_mode=True)
        except Exception as error:  # a user's file: any failure to load is one line
            text = " ".join(str(error).split())
            raise self._error(f"Keras cannot load it in safe mode: {type(error).__name__}: {text[:200]}") from None

    def _known_shape(self, tensor, what: str) -> tuple[int, ...]:
        if getattr(tensor, "ragged", False) or getattr(tensor, "sparse", False):
            raise self._error(f"{what} {tensor.name!r} is ragged or sparse; the harness synthesizes dense "
                              "tensors only")
        shape = tuple(tensor.shape[1:])
        if any(size is None for size in shape):
            raise self._error(f"{what} {tensor.name!r} has shape {tuple(tensor.shape)}: a size other than the "
                              "batch is unknown; save the model with fixed input shapes (keras.Input(shape=...))")
        return shape

    def _input_spec(self, tensor, vocabulary: int | None) -> TensorSpec:
        shape, dtype = self._known_shape(tensor, "input"), str(tensor.dtype)
        if dtype.startswith(("float", "bfloat")):
            return TensorSpec(tensor.name, shape, dtype)
        if not dtype.startswith(("int", "uint")):
            raise self._error(f"input {tensor.name!r} has dtype {dtype}; the harness synthesizes float and "
                              "integer inputs only")
        if vocabulary:  # ids 1 .. vocabulary - 1: 0 is the usual padding id
            return TensorSpec(tensor.name, shape, dtype, 1 if vocabulary > 1 else 0, vocabulary)
        if self.input_range is None:
            raise self._error(f"integer input {tensor.name!r} does not feed an Embedding, so its valid range is "
                              "unknown; give --input-range LOW,HIGH (ids are drawn from [LOW, HIGH))")
        return TensorSpec(tensor.name, shape, dtype, *self.input_range)

    def build(self, *, jit_compile="auto"):
        """Loads the model and compiles it: with its saved compile settings, else the default.

        Args:
            jit_compile: passed to `Model.compile`: "auto", True or False.
        Returns:
            A compiled `keras.Model`.
        """
        model = self._load()
        compile_config = self._config.get("compile_config")
        if compile_config:
            model.compile_from_config({**compile_config, "jit_compile": jit_compile})
        else:
            model.compile(**DEFAULT_TRAINING, jit_compile=jit_compile)
        return model

    def synthetic_batch(self, batch_size: int, *, seed: int = 0):
        """A seeded batch for every input, and labels the loss takes for every output.

        Float inputs are uniform in [0, 1); integer inputs are ids in their range. Labels: class ids
        for a sparse categorical loss, one-hot for a categorical one, 0/1 for a binary one, uniform
        [0, 1) values of the output's shape otherwise.
        Returns:
            (x, y): arrays, or lists of arrays for a model with several inputs or outputs.
        """
        if self._inputs is None:
            self.inspect()
        rng = np.random.default_rng(seed)
        xs = [rng.integers(spec.low, spec.high, size=(batch_size, *spec.shape)).astype(spec.dtype) if spec.high
              else rng.random((batch_size, *spec.shape), dtype=np.float32).astype(spec.dtype)
              for spec in self._inputs]
        ys = [_labels(rng, loss, (batch_size, *spec.shape)) for loss, spec in zip(self._losses, self._outputs)]
        return (xs[0] if len(xs) == 1 else xs), (ys[0] if len(ys) == 1 else ys)


def _layers(config: dict):
    """Every layer config in a model config, nested models included."""
    for layer in config.get("layers", []):
        yield layer
        yield from _layers(layer.get("config", {}))


def _foreign_code(node, inside=""):
    """Yields, as text, each thing in a config that could make Keras run code other than its own layers:
    a module outside ALLOWED_MODULES, a function outside FUNCTION_MODULES, or Keras' unsafe switch."""
    if isinstance(node, list):
        for item in node:
            yield from _foreign_code(item, inside)
        return
    if isinstance(node, str):
        if "unsafe_deserialization" in node or "safe_mode" in node:
            yield f"{node!r}{inside}"
        return
    if not isinstance(node, dict):
        return
    module, class_name = node.get("module"), node.get("class_name")
    where = f" (class {class_name!r})" if class_name else ""
    if module is not None and not (module == "builtins" and class_name == "function"):  # Keras' own functions,
        # which it looks up by name in its own modules only (keras.activations, keras.losses, ...)
        if not isinstance(module, str) or not any(module == m or module.startswith(m + ".") for m in ALLOWED_MODULES):
            yield f"module {module!r}{where}"
        elif class_name == "function" and not _keras_function_module(module):
            yield f"function {node.get('config')!r} of module {module!r}"
    names = [node.get("registered_name"), node.get("config") if class_name == "function" else None]
    for registered in names:  # "package>Name": an object registered by code outside Keras
        if isinstance(registered, str) and ">" in registered and registered.split(">")[0] not in ALLOWED_PACKAGES:
            yield f"the registered object {registered!r}{where}"
    for key, value in node.items():
        if "unsafe_deserialization" in str(key) or "safe_mode" in str(key):
            yield f"{key!r}"
        yield from _foreign_code(value, where or inside)


def _keras_function_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "keras" and any(part in FUNCTION_MODULES for part in parts[1:])


def _escapes(name: str) -> bool:
    """An archive member whose path is absolute or climbs out of the folder it is extracted into."""
    path = name.replace("\\", "/")
    return path.startswith("/") or ".." in path.split("/") or (len(path) > 1 and path[1] == ":")


def _embedding_consumers(model) -> dict[int, int]:
    """id(model input) -> input_dim of the Embedding it feeds directly."""
    found = {}
    for layer in model.layers:
        if type(layer).__name__ == "Embedding":
            for node in layer._inbound_nodes:
                for tensor in node.input_tensors:
                    found[id(tensor)] = layer.input_dim
    return found


def _loss_names(loss, outputs: int, output_names: list[str]) -> list[str]:
    """The saved loss, one name per output (a string, a serialized loss, a list or a dict by output)."""
    def name(item):
        if isinstance(item, dict):  # a serialized Loss object or function
            config = item.get("config")
            return str(config.get("name") if isinstance(config, dict) and config.get("name") else
                       item.get("class_name", "?"))
        return str(item)
    if isinstance(loss, list):
        return [name(item) for item in loss] + [DEFAULT_TRAINING["loss"]] * (outputs - len(loss))
    if isinstance(loss, dict) and "class_name" not in loss:
        return [name(loss.get(output, DEFAULT_TRAINING["loss"])) for output in output_names]
    return [name(loss)] * outputs


def _labels(rng, loss: str, shape: tuple[int, ...]) -> np.ndarray:
    text = loss.lower().replace("_", "")
    if "sparsecategorical" in text:
        return rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
    if "categorical" in text or "kld" in text:  # kld, kl_divergence
        return np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], size=shape[:-1])]
    if "binary" in text or "hinge" in text:
        return rng.integers(0, 2, size=shape).astype("float32")
    return rng.random(shape, dtype=np.float32)
