"""Analytic forward FLOPs per sample, read off a built model's layers.

Convention (the usual one, e.g. in the MLPerf and fvcore counts): 2 FLOPs per
multiply-accumulate of the convolutions, dense layers and recurrent matmuls.
Biases, activations, gates' elementwise products, pooling, dropout and
embedding lookups are left out: they are a few percent at most here.
A training step is counted as 3x the forward pass (backward ~ 2x forward).
"""

import math

TRAIN_FLOPS_FACTOR = 3


def forward_flops(model) -> int:
    """FLOPs of one sample's forward pass through `model`."""
    return sum(_layer_flops(layer) for layer in model.layers)


def _layer_flops(layer) -> int:
    counter = _COUNTERS.get(type(layer).__name__)
    return 2 * counter(layer) if counter else 0


def _macs_conv2d(layer):
    kh, kw = layer.kernel_size
    in_channels = layer.input.shape[-1]
    out_h, out_w, filters = layer.output.shape[1:]
    return out_h * out_w * filters * kh * kw * in_channels // layer.groups


def _macs_separable_conv2d(layer):
    kh, kw = layer.kernel_size
    in_channels = layer.input.shape[-1]
    out_h, out_w, filters = layer.output.shape[1:]
    depthwise = out_h * out_w * in_channels * layer.depth_multiplier * kh * kw
    pointwise = out_h * out_w * in_channels * layer.depth_multiplier * filters
    return depthwise + pointwise


def _macs_dense(layer):
    # Leading non-batch dimensions (a Dense over a sequence) repeat the matmul.
    repeats = math.prod(layer.input.shape[1:-1])
    return repeats * layer.input.shape[-1] * layer.units


_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def _macs_recurrent(layer, input_shape=None):
    timesteps, features = (input_shape or layer.input.shape)[1:]
    gates = _GATES[type(layer).__name__]
    return timesteps * gates * (features + layer.units) * layer.units


def _macs_bidirectional(layer):
    shape = layer.input.shape
    return (_macs_recurrent(layer.forward_layer, shape)
            + _macs_recurrent(layer.backward_layer, shape))


_COUNTERS = {
    "Conv2D": _macs_conv2d,
    "SeparableConv2D": _macs_separable_conv2d,
    "Dense": _macs_dense,
    "SimpleRNN": _macs_recurrent,
    "GRU": _macs_recurrent,
    "LSTM": _macs_recurrent,
    "Bidirectional": _macs_bidirectional,
}
