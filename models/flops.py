"""Analytic forward FLOPs per sample, read off a built model's layers.

Convention (the usual one, e.g. in the MLPerf and fvcore counts): 2 FLOPs per
multiply-accumulate of the convolutions, dense layers, recurrent matmuls and
attention (its projections and both sequence-by-sequence products), and one
multiply-accumulate per element for batch and layer normalization's scale and
shift. Biases, activations (softmax included), gates' elementwise products,
residual additions, pooling, dropout and embedding lookups are left out: they
are a few percent at most here. A layer with weights that no counter knows
(say, a Conv2DTranspose in a user's model file) makes the count unknown (NaN)
rather than low. A training step is counted as 3x the forward pass
(backward ~ 2x forward).
"""

import math

TRAIN_FLOPS_FACTOR = 3


def forward_flops(model) -> float:
    """FLOPs of one sample's forward pass through `model`; NaN when a layer with weights cannot be counted."""
    return float(sum(_layer_flops(layer) for layer in model.layers))


def _layer_flops(layer) -> float:
    if hasattr(layer, "layers") and not isinstance(layer, tuple(_WRAPPERS)):  # a nested model
        return forward_flops(layer)
    counter = _COUNTERS.get(type(layer).__name__)
    if counter:
        return 2 * counter(layer)
    if type(layer).__name__ in _FREE or not layer.weights:
        return 0
    return math.nan


def _macs_conv(layer):
    """Conv1D, Conv2D, Conv3D: every output element sums kernel x input channels / groups products."""
    in_channels = layer.input.shape[-1]
    *out_spatial, filters = layer.output.shape[1:]
    return math.prod(out_spatial) * filters * math.prod(layer.kernel_size) * in_channels // layer.groups


def _macs_depthwise_conv(layer):
    *out_spatial, channels = layer.output.shape[1:]  # in_channels x depth_multiplier
    return math.prod(out_spatial) * channels * math.prod(layer.kernel_size)


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


def _macs_normalization(layer):
    return math.prod(layer.output.shape[1:])  # scale and shift: one multiply-add per element


def _macs_attention(layer):
    """Projections of query, key and value; query x key^T and the weights x value, per head; the output."""
    query, value, *rest = (tensor.shape for tensor in layer._inbound_nodes[0].input_tensors)
    key = rest[0] if rest else value
    query_length, key_length = math.prod(query[1:-1]), math.prod(key[1:-1])
    heads, key_dim, value_dim = layer.num_heads, layer.key_dim, layer.value_dim or layer.key_dim
    output_dim = layer.output.shape[-1]
    projections = (query_length * query[-1] * heads * key_dim + key_length * key[-1] * heads * key_dim
                   + key_length * value[-1] * heads * value_dim)
    products = heads * query_length * key_length * (key_dim + value_dim)
    return projections + products + query_length * heads * value_dim * output_dim


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
    "Conv1D": _macs_conv,
    "Conv2D": _macs_conv,
    "Conv3D": _macs_conv,
    "DepthwiseConv2D": _macs_depthwise_conv,
    "SeparableConv2D": _macs_separable_conv2d,
    "Dense": _macs_dense,
    "BatchNormalization": _macs_normalization,
    "LayerNormalization": _macs_normalization,
    "MultiHeadAttention": _macs_attention,
    "SimpleRNN": _macs_recurrent,
    "GRU": _macs_recurrent,
    "LSTM": _macs_recurrent,
    "Bidirectional": _macs_bidirectional,
}
_WRAPPERS = ()  # layers with sub-layers that are counted whole, not as a nested model
# Layers with weights but no multiply-adds in this convention.
_FREE = {"Embedding", "PositionEmbedding"}
