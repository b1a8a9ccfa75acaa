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
    # Published (Keras applications' table; He et al. 2016; Sandler et al. 2018)
    "resnet50": 25_636_712,
    "mobilenet_v2": 3_538_984,
    # Token 5,000x128 + positions 400x128 + 2 blocks x (attention 4 x (128x128 + 128) + 2 layer norms
    # x 256 + feed-forward 128x512 + 512 + 512x128 + 128) + the output 128 + 1
    "imdb_transformer": 640_000 + 51_200 + 2 * (4 * (128 * 128 + 128) + 2 * 256 + 66_048 + 65_664) + 129,
}


def resnet50_v1_macs() -> int:
    """Keras' ResNet-50 (v1: each stage's first 1x1 convolution strides) by hand: (size, in, out, kernel) of
    every convolution, each followed by a batch norm (one multiply-add per output element), then the
    2048 x 1000 classifier."""
    def stage(size, inputs, width, outputs, blocks):
        first = [(size, inputs, width, 1), (size, width, width, 3), (size, width, outputs, 1),
                 (size, inputs, outputs, 1)]  # the last: the projection shortcut
        return first + [(size, outputs, width, 1), (size, width, width, 3), (size, width, outputs, 1)] * (blocks - 1)
    convs = [(112, 3, 64, 7), *stage(56, 64, 64, 256, 3), *stage(28, 256, 128, 512, 4),
             *stage(14, 512, 256, 1024, 6), *stage(7, 1024, 512, 2048, 3)]
    return (sum(size * size * out * k * k * inputs for size, inputs, out, k in convs)
            + sum(size * size * out for size, _, out, _ in convs) + 2048 * 1000)


def transformer_macs(length=400, width=128, heads=4, key_dim=32, hidden=512, blocks=2) -> int:
    attention = (3 * length * width * heads * key_dim  # query, key, value projections
                 + 2 * heads * length * length * key_dim  # scores and the weighted sum of values
                 + length * heads * key_dim * width)  # output projection
    feed_forward = 2 * length * width * hidden
    norms = 2 * length * width
    return blocks * (attention + feed_forward + norms) + width

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
    "resnet50": 2 * resnet50_v1_macs(),
    "imdb_transformer": 2 * transformer_macs(),
}
# Published multiply-adds per 224x224 image: He et al. (ResNet-50 v1) 3.8 G; Sandler et al. (MobileNetV2) 300 M.
PUBLISHED_MACS = {"resnet50": 3.8e9, "mobilenet_v2": 300e6}


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
    assert set(models.SETS["tutorial"]) == set(models.names()) - {"resnet50", "mobilenet_v2", "imdb_transformer"}
    assert set(models.SETS["all"]) == set(models.names())


@pytest.mark.parametrize("name", list(PUBLISHED_MACS))
def test_forward_flops_within_5_percent_of_the_published_figure(built, name):
    assert models.forward_flops(built(name)) / 2 == pytest.approx(PUBLISHED_MACS[name], rel=0.05)


def test_a_layer_with_weights_that_no_counter_knows_makes_the_flops_unknown():
    import keras

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2DTranspose(4, 3, name="up")(inputs))
    assert np.isnan(models.forward_flops(model))


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
