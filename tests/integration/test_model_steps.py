"""Every registry model compiles, predicts and takes one finite training step, and the forward mode's path returns
what `predict_on_batch` returns, on every backend (real Keras builds: slow)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import models
from bench import backends

pytestmark = pytest.mark.integration

# The other backends in a process of their own (Keras fixes its backend per process): every registry model.
FORWARD_CHECK = """
import keras, numpy as np, models
from bench import backends
backends.select(keras.backend.backend())
for name in models.names():
    spec = models.get(name)
    model, (x, y) = spec.build(), spec.synthetic_batch(3)
    forward = backends.active().forward_step(model, x)
    out = keras.ops.convert_to_numpy(forward())
    np.testing.assert_allclose(out, model.predict_on_batch(x), rtol=1e-4, atol=1e-6, err_msg=name)
    model.train_on_batch(x, y)  # Keras' steps in between (as other cases run between passes): it still runs
    forward()
    print(name, "forward == predict_on_batch")
"""


# ResNet-50 and MobileNetV2 take ~20 s each to build and step here: CI's slow run checks them.
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in ("resnet50", "mobilenet_v2")
                                  else name for name in models.names()])
def test_output_shape_and_one_training_step_and_the_forward_path(name):
    spec, model = models.get(name), models.get(name).build()
    x, y = spec.synthetic_batch(3)
    out = model.predict_on_batch(x)
    assert out.shape == y.shape == (3, 1 if spec.num_classes == 2 else spec.num_classes)
    forward = backends.BACKENDS[keras.backend.backend()].forward_step(model, x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(forward()), out, rtol=1e-4, atol=1e-6)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss).all()
    forward()  # still runs after Keras' steps, as it does in a later pass


def test_the_forward_path_compiles_with_xla_where_the_model_does():
    spec = models.get("mnist_cnn")
    model, (x, _) = spec.build(jit_compile=True), spec.synthetic_batch(3)
    out = keras.ops.convert_to_numpy(backends.BACKENDS["tensorflow"].forward_step(model, x)())
    np.testing.assert_allclose(out, model.predict_on_batch(x), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [pytest.param(name, marks=pytest.mark.backend(name)) for name in ("jax", "torch")])
def test_the_forward_path_of_every_registry_model_on_another_backend(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", FORWARD_CHECK], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("forward == predict_on_batch") == len(models.names()), done.stdout
