"""The tutorial's IMDB sentiment LSTM and the recurrent variants its text names.

Every variant keeps the tutorial's embedding, dropouts and output; only the
recurrent layer changes, so a difference in speed belongs to that layer.
"""

import keras
from keras import layers

MAX_FEATURES = 5000  # vocabulary of the tutorial
MAXLEN = 400  # padded review length
EMBEDDING_DIMS = 50
UNITS = 100


def imdb_lstm(*, name="imdb_lstm"):
    """The tutorial's model: LSTM(100, dropout=0.2, recurrent_dropout=0.2) (310,501 parameters).

    recurrent_dropout > 0 rules out the fused cuDNN kernel on a GPU.

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return _sentiment(layers.LSTM(UNITS, dropout=0.2, recurrent_dropout=0.2, name="lstm"), name=name)


def imdb_lstm_cudnn(*, name="imdb_lstm_cudnn"):
    """The tutorial's LSTM without recurrent_dropout, the form cuDNN can run (310,501 parameters).

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return _sentiment(layers.LSTM(UNITS, dropout=0.2, name="lstm"), name=name)


def imdb_bilstm(*, name="imdb_bilstm"):
    """The tutorial's LSTM wrapped in Bidirectional (371,001 parameters).

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    lstm = layers.LSTM(UNITS, dropout=0.2, recurrent_dropout=0.2, name="lstm")
    return _sentiment(layers.Bidirectional(lstm, name="bidirectional"), name=name)


def imdb_gru(*, name="imdb_gru"):
    """The tutorial's model with GRU(100) in place of the LSTM (295,701 parameters).

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    return _sentiment(layers.GRU(UNITS, dropout=0.2, recurrent_dropout=0.2, name="gru"), name=name)


def imdb_simplernn(*, name="imdb_simplernn"):
    """The tutorial's model with a vanilla SimpleRNN(100) (265,201 parameters).

    Args:
        name: the model's name.
    Returns:
        An uncompiled `keras.Model`.
    """
    rnn = layers.SimpleRNN(UNITS, dropout=0.2, recurrent_dropout=0.2, name="simplernn")
    return _sentiment(rnn, name=name)


def _sentiment(recurrent, *, name):
    inputs = keras.Input(shape=(MAXLEN,), dtype="int32", name="tokens")
    x = layers.Embedding(MAX_FEATURES, EMBEDDING_DIMS, name="embedding")(inputs)
    x = layers.SpatialDropout1D(0.2, name="spatial_dropout")(x)
    x = recurrent(x)
    outputs = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
