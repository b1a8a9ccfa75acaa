"""Image models that fill a GPU, from keras.applications, built without downloading weights."""

import keras

IMAGE_SHAPE = (224, 224, 3)
CLASSES = 1000


def resnet50(*, name="resnet50"):
    """ResNet-50 as Keras ships it (25,636,712 parameters): the original v1, which downsamples in
    each stage's first 1x1 convolution, so 3.87 G multiply-adds a 224x224 image (He et al.: 3.8 G),
    not the 4.1 G of v1.5 (MLPerf's, torchvision's), which strides the 3x3. Random weights: nothing
    is downloaded.

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return keras.applications.ResNet50(weights=None, input_shape=IMAGE_SHAPE, classes=CLASSES, name=name)


def mobilenet_v2(*, name="mobilenet_v2"):
    """MobileNetV2 (alpha 1.0): depthwise-separable convolutions with inverted residuals
    (3,538,984 parameters, about 300 M multiply-adds a 224x224 image).

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return keras.applications.MobileNetV2(weights=None, input_shape=IMAGE_SHAPE, classes=CLASSES, name=name)
