"""Real MNIST and IMDB, read from a local file only (no download).

Benchmarks use synthetic batches; these loaders are for accuracy runs on real
data. They read the files `keras.datasets` caches (mnist.npz, imdb.npz under
$KERAS_HOME/datasets, default ~/.keras/datasets) or a path you give, and shape
them as the tutorial does, without importing Keras.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

# keras.datasets.imdb's encoding: 0 pads, 1 starts a review, 2 replaces rare words,
# real word ids start at 3.
IMDB_START, IMDB_OOV, IMDB_INDEX_FROM = 1, 2, 3


def keras_cache_path(filename: str) -> Path:
    """Where `keras.datasets` keeps `filename`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / filename


def load_mnist(path: str | os.PathLike | None = None):
    """MNIST as the tutorial prepares it.

    Args:
        path: an mnist.npz; default: the Keras cache.
    Returns:
        ((x_train, y_train), (x_test, y_test)): images float32 in [0, 1] of shape
        (n, 28, 28, 1), labels one-hot float32 of shape (n, 10).
    """
    arrays = _read_npz(path, "mnist.npz", ("x_train", "y_train", "x_test", "y_test"))

    def prepare(x, y):
        x = x.reshape(len(x), 28, 28, 1).astype("float32") / 255.0
        return x, np.eye(10, dtype="float32")[y.astype(int)]

    return (prepare(arrays["x_train"], arrays["y_train"]),
            prepare(arrays["x_test"], arrays["y_test"]))


def load_imdb(path: str | os.PathLike | None = None, *, num_words: int = 5000, maxlen: int = 400):
    """IMDB as the tutorial prepares it: `imdb.load_data(num_words)` then `pad_sequences(maxlen)`.

    Args:
        path: an imdb.npz (lists of word ids, as Keras stores it); default: the Keras cache.
        num_words: keep the most frequent words; rarer ones become the OOV id 2.
        maxlen: pad (with 0) or cut every review to this length, keeping its end.
    Returns:
        ((x_train, y_train), (x_test, y_test)): int32 tokens of shape (n, maxlen),
        labels float32 of shape (n, 1).
    """
    arrays = _read_npz(path, "imdb.npz", ("x_train", "y_train", "x_test", "y_test"))

    def prepare(x, y):
        tokens = np.zeros((len(x), maxlen), dtype="int32")
        for row, review in enumerate(x):
            ids = np.asarray(review, dtype="int64") + IMDB_INDEX_FROM
            ids = np.concatenate([[IMDB_START], np.where(ids < num_words, ids, IMDB_OOV)])[-maxlen:]
            tokens[row, maxlen - len(ids):] = ids
        return tokens, np.asarray(y, dtype="float32").reshape(-1, 1)

    return (prepare(arrays["x_train"], arrays["y_train"]),
            prepare(arrays["x_test"], arrays["y_test"]))


def _read_npz(path, filename, keys):
    path = Path(path) if path is not None else keras_cache_path(filename)
    if not path.is_file():
        raise FileNotFoundError(
            f"{filename} not found at {path}. No download is attempted: fetch it on a machine "
            f"with network (keras.datasets) and copy it there, or pass its path. Received: path='{path}'"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an npz file. Received: path='{path}'")
    # IMDB's reviews are object arrays of lists, which need pickle: only load files you trust.
    with np.load(path, allow_pickle=True) as data:
        missing = [key for key in keys if key not in data.files]
        if missing:
            raise ValueError(
                f"{path} is not a Keras {filename}: it lacks {', '.join(missing)}. "
                f"Expected arrays: {', '.join(keys)}. Received: path='{path}'"
            )
        return {key: data[key] for key in keys}
