"""A Transformer encoder sentiment classifier on the IMDB model's input: the modern replacement
for the tutorial's LSTM (same 5,000-token vocabulary, same 400-token reviews, same sigmoid output)."""

import keras
from keras import layers

from models.imdb import MAX_FEATURES, MAXLEN

EMBED_DIM = 128
HEADS = 4
KEY_DIM = EMBED_DIM // HEADS
FEED_FORWARD = 512
BLOCKS = 2


@keras.saving.register_keras_serializable(package="keras_bench")
class PositionEmbedding(layers.Layer):
    """Adds a learned vector per position (0 .. sequence_length - 1) to a sequence of embeddings."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=(self.sequence_length, input_shape[-1]),
                                         initializer="glorot_uniform")

    def call(self, inputs):
        return inputs + keras.ops.cast(self.positions, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


def imdb_transformer(*, blocks=BLOCKS, name="imdb_transformer"):
    """Token and position embedding, `blocks` post-norm encoder blocks (4-head self-attention over
    the 400 tokens, a 512-wide feed-forward), average pooling, sigmoid output (1,087,873
    parameters with 2 blocks).

    Args:
        blocks: encoder blocks.
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    inputs = keras.Input(shape=(MAXLEN,), dtype="int32", name="tokens")
    x = layers.Embedding(MAX_FEATURES, EMBED_DIM, name="token_embedding")(inputs)
    x = PositionEmbedding(MAXLEN, name="position_embedding")(x)
    for index in range(1, blocks + 1):
        attended = layers.MultiHeadAttention(HEADS, KEY_DIM, dropout=0.1, name=f"attention_{index}")(x, x)
        attended = layers.Dropout(0.1, name=f"attention_dropout_{index}")(attended)
        x = layers.Add(name=f"attention_residual_{index}")([x, attended])
        x = layers.LayerNormalization(epsilon=1e-6, name=f"attention_norm_{index}")(x)
        hidden = layers.Dense(FEED_FORWARD, activation="relu", name=f"feed_forward_{index}")(x)
        hidden = layers.Dense(EMBED_DIM, name=f"feed_forward_out_{index}")(hidden)
        hidden = layers.Dropout(0.1, name=f"feed_forward_dropout_{index}")(hidden)
        x = layers.Add(name=f"feed_forward_residual_{index}")([x, hidden])
        x = layers.LayerNormalization(epsilon=1e-6, name=f"feed_forward_norm_{index}")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
