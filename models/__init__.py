"""The model registry: one place to add a model.

Importing this package does not import Keras: each entry names its builder as
"module:function" and imports it on first use, so the pytest plugin can validate
``--models`` before the Keras backend is chosen.
"""

from models.flops import TRAIN_FLOPS_FACTOR, forward_flops
from models.spec import ModelSpec

__all__ = ["REGISTRY", "SETS", "ModelSpec", "TRAIN_FLOPS_FACTOR", "forward_flops", "get", "names"]

_MNIST = dict(input_shape=(28, 28, 1), input_dtype="float32", num_classes=10,
              loss="categorical_crossentropy", optimizer="adadelta")
_IMDB = dict(input_shape=(400,), input_dtype="int32", vocabulary=5000, num_classes=2,
             loss="binary_crossentropy", optimizer="adam")
_IMAGENET = dict(input_shape=(224, 224, 3), input_dtype="float32", num_classes=1000,
                 loss="categorical_crossentropy", optimizer="sgd")

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mnist_cnn", "models.mnist:mnist_cnn",
                  "The tutorial's MNIST CNN (Conv2D x2, MaxPool, Dense).", **_MNIST),
        ModelSpec("mnist_separable_cnn", "models.mnist:mnist_separable_cnn",
                  "The MNIST CNN with SeparableConv2D in place of Conv2D.", **_MNIST),
        ModelSpec("imdb_lstm", "models.imdb:imdb_lstm",
                  "The tutorial's IMDB LSTM (recurrent_dropout=0.2: no cuDNN kernel).", **_IMDB),
        ModelSpec("imdb_lstm_cudnn", "models.imdb:imdb_lstm_cudnn",
                  "The IMDB LSTM without recurrent_dropout: the form cuDNN can run.", **_IMDB),
        ModelSpec("imdb_bilstm", "models.imdb:imdb_bilstm",
                  "The IMDB LSTM made Bidirectional.", **_IMDB),
        ModelSpec("imdb_gru", "models.imdb:imdb_gru",
                  "The IMDB model with a GRU in place of the LSTM.", **_IMDB),
        ModelSpec("imdb_simplernn", "models.imdb:imdb_simplernn",
                  "The IMDB model with a vanilla SimpleRNN in place of the LSTM.", **_IMDB),
        ModelSpec("resnet50", "models.vision:resnet50",
                  "ResNet-50 (keras.applications, 224x224x3, 1000 classes, random weights).", **_IMAGENET),
        ModelSpec("mobilenet_v2", "models.vision:mobilenet_v2",
                  "MobileNetV2: depthwise-separable convolutions (224x224x3, random weights).", **_IMAGENET),
        ModelSpec("imdb_transformer", "models.transformer:imdb_transformer",
                  "A 2-block Transformer encoder on the IMDB model's input.", **_IMDB),
    )
}

# Named sets for --models. The tutorial's models are the default: the others take minutes a case
# on a laptop CPU (docs/measurements.md) and are there to load a GPU.
SETS: dict[str, tuple[str, ...]] = {
    "tutorial": ("mnist_cnn", "mnist_separable_cnn", "imdb_lstm", "imdb_lstm_cudnn", "imdb_bilstm", "imdb_gru",
                 "imdb_simplernn"),
    "vision": ("resnet50", "mobilenet_v2"),
    "transformer": ("imdb_transformer",),
}
SETS["all"] = tuple(REGISTRY)


def names() -> list[str]:
    """The registered model names, in registry order."""
    return list(REGISTRY)


def get(name: str) -> ModelSpec:
    """The entry called `name`; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; known: {', '.join(REGISTRY)}. Received: name={name!r}"
        ) from None
