"""What a registry entry knows about its model, without importing Keras."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarked model.

    Args:
        name: registry key, also the model's Keras name.
        builder: "module:function" returning a compiled `keras.Model`.
        description: one line for listings.
        input_shape: shape of one sample (no batch dimension).
        input_dtype: dtype of the input tensor.
        num_classes: classes of the label; 2 means one sigmoid output.
        loss: the tutorial's loss.
        optimizer: the tutorial's optimizer.
        vocabulary: for token inputs, the number of token ids.
    """

    name: str
    builder: str
    description: str
    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int
    loss: str
    optimizer: str
    vocabulary: int | None = None

    sha256 = ""  # a registry model is known by its name; a model file by its content's hash too

    @property
    def training_setup(self) -> str:
        """The loss and optimizer a training step uses, as the run's rows record them."""
        return f"registry: {self.loss}, {self.optimizer}"

    def build(self, *, jit_compile="auto"):
        """Builds and compiles the model with the tutorial's loss and optimizer.

        Args:
            jit_compile: passed to `Model.compile`: "auto", True or False.
        Returns:
            A compiled `keras.Model`.
        """
        module_name, function_name = self.builder.split(":")
        build = getattr(importlib.import_module(module_name), function_name)
        model = build(name=self.name)
        model.compile(loss=self.loss, optimizer=self.optimizer, metrics=["accuracy"],
                      jit_compile=jit_compile)
        return model

    def synthetic_batch(self, batch_size: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A seeded batch of the real shapes and dtypes, with labels the loss takes.

        Images are uniform in [0, 1) like the tutorial's scaled pixels; tokens are
        ids in [1, vocabulary) (0 is the padding id); labels are one-hot for a
        softmax output and 0/1 floats for a sigmoid output.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
        rng = np.random.default_rng(seed)
        shape = (batch_size, *self.input_shape)
        if self.vocabulary:
            x = rng.integers(1, self.vocabulary, size=shape, dtype=self.input_dtype)
        else:
            x = rng.random(shape, dtype=np.float32).astype(self.input_dtype)
        labels = rng.integers(0, self.num_classes, size=batch_size)
        if self.num_classes == 2:
            y = labels.astype("float32").reshape(batch_size, 1)
        else:
            y = np.eye(self.num_classes, dtype="float32")[labels]
        return x, y
