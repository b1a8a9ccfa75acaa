"""The registry's models: exact architectures, shapes, FLOPs and synthetic data."""

import numpy as np
import pytest

import models

PARAMS = {
    # Tutorial: 320 + 18,496 + 1,179,776 + 1,290
    "mnist_cnn": 1_199_882,
    # SeparableConv2D: (9 + 32 + 32) + (288 + 2,048 + 64), same dense head
    "mnist_separable_cnn": 73 + 2_400 + 1_179_776 + 1_290,
    # Tutorial: 250,000 + 4*(50+100+1)*100 + 101
    "imdb_lstm": 310_501,
    "imdb_lstm_cudnn": 310_501,
    "imdb_bilstm": 250_000 + 2 * 60_400 + 201,
    "imdb_gru": 250_000 + 3 * (50 * 100 + 100 * 100 + 2 * 100) + 101,
    "imdb_simplernn": 250_000 + (50 * 100 + 100 * 100 + 100) + 101,
}

# Hand counts: 2 FLOPs per multiply-accumulate.
CNN_DENSE_MACS = 9216 * 128 + 128 * 10
FLOPS = {
    "mnist_cnn": 2 * (26 * 26 * 32 * 9 * 1 + 24 * 24 * 64 * 9 * 32 + CNN_DENSE_MACS),
    "mnist_separable_cnn": 2 * (26 * 26 * 1 * 9 + 26 * 26 * 1 * 32
                                + 24 * 24 * 32 * 9 + 24 * 24 * 32 * 64 + CNN_DENSE_MACS),
    "imdb_lstm": 2 * (400 * 4 * (50 + 100) * 100 + 100),
    "imdb_lstm_cudnn": 2 * (400 * 4 * (50 + 100) * 100 + 100),
    "imdb_bilstm": 2 * (2 * 400 * 4 * (50 + 100) * 100 + 200),
    "imdb_gru": 2 * (400 * 3 * (50 + 100) * 100 + 100),
    "imdb_simplernn": 2 * (400 * (50 + 100) * 100 + 100),
}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = models.get(name).build()
        return cache[name]

    return get


def test_registry_has_the_tutorial_models_and_variants():
    assert set(models.names()) == set(PARAMS)


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_count(built, name):
    assert built(name).count_params() == PARAMS[name]


@pytest.mark.parametrize("name", list(FLOPS))
def test_forward_flops_match_hand_count(built, name):
    assert models.forward_flops(built(name)) == FLOPS[name]


def test_tutorial_cnn_layers_in_order(built):
    kinds = [type(layer).__name__ for layer in built("mnist_cnn").layers]
    assert kinds == ["InputLayer", "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten",
                     "Dense", "Dropout", "Dense"]


def test_tutorial_lstm_settings(built):
    model = built("imdb_lstm")
    lstm = model.get_layer("lstm")
    assert (lstm.units, lstm.dropout, lstm.recurrent_dropout) == (100, 0.2, 0.2)
    assert model.get_layer("embedding").input_dim == 5000
    assert model.get_layer("embedding").output_dim == 50
    assert model.get_layer("spatial_dropout").rate == 0.2
    assert model.loss == "binary_crossentropy"
    assert type(model.optimizer).__name__ == "Adam"


def test_cudnn_variant_differs_only_by_recurrent_dropout(built):
    lstm = built("imdb_lstm_cudnn").get_layer("lstm")
    assert (lstm.units, lstm.dropout, lstm.recurrent_dropout) == (100, 0.2, 0.0)


def test_cnn_is_compiled_with_the_tutorial_loss_and_optimizer(built):
    model = built("mnist_cnn")
    assert model.loss == "categorical_crossentropy"
    assert type(model.optimizer).__name__ == "Adadelta"


@pytest.mark.parametrize("name", ["mnist_cnn", "imdb_lstm"])
def test_synthetic_batch_shapes_dtypes_and_seed(name):
    spec = models.get(name)
    x, y = spec.synthetic_batch(4, seed=7)
    assert x.shape == (4, *spec.input_shape) and x.dtype == spec.input_dtype
    if spec.vocabulary:
        assert x.min() >= 1 and x.max() < spec.vocabulary
        assert set(np.unique(y)) <= {0.0, 1.0} and y.shape == (4, 1)
    else:
        assert 0.0 <= x.min() and x.max() < 1.0
        assert (y.sum(axis=1) == 1).all()
    x2, _ = spec.synthetic_batch(4, seed=7)
    np.testing.assert_array_equal(x, x2)


def test_synthetic_batch_rejects_bad_size():
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        models.get("mnist_cnn").synthetic_batch(0)


def test_unknown_model_lists_known_ones():
    with pytest.raises(KeyError, match="known: mnist_cnn, mnist_separable_cnn"):
        models.get("resnet")
