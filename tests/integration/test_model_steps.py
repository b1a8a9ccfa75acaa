"""Every registry model compiles, predicts and takes one finite training step (real Keras builds: slow)."""

import numpy as np
import pytest

import models

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", models.names())
def test_output_shape_and_one_training_step(name):
    spec, model = models.get(name), models.get(name).build()
    x, y = spec.synthetic_batch(3)
    out = model.predict_on_batch(x)
    assert out.shape == y.shape == (3, 1 if spec.num_classes == 2 else spec.num_classes)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss).all()
