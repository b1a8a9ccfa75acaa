"""The tutorial's MNIST CNN and its SeparableConv2D variant."""

import keras
from keras import layers


def mnist_cnn(*, input_shape=(28, 28, 1), num_classes=10, name="mnist_cnn"):
    """The tutorial's MNIST CNN, layer for layer (1,199,882 parameters).

    Args:
        input_shape: one image, channels last.
        num_classes: size of the softmax output.
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return _cnn(layers.Conv2D, input_shape=input_shape, num_classes=num_classes, name=name)


def mnist_separable_cnn(*, input_shape=(28, 28, 1), num_classes=10, name="mnist_separable_cnn"):
    """The MNIST CNN with SeparableConv2D in both convolutions (1,183,539 parameters).

    Args:
        input_shape: one image, channels last.
        num_classes: size of the softmax output.
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return _cnn(layers.SeparableConv2D, input_shape=input_shape, num_classes=num_classes, name=name)


def _cnn(conv, *, input_shape, num_classes, name):
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv(32, (3, 3), activation="relu", name="conv1")(inputs)
    x = conv(64, (3, 3), activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2), name="pool")(x)
    x = layers.Dropout(0.25, name="dropout1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="dropout2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
