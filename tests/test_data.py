"""The real-data loaders, on small npz files written by the tests."""

import numpy as np
import pytest

from models.data import keras_cache_path, load_imdb, load_mnist


def write_mnist(path, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=np.arange(n_train) % 10, x_test=np.full((n_test, 28, 28), 255, np.uint8),
             y_test=np.array([9, 0, 3]))


def test_mnist_shapes_scaling_and_one_hot(tmp_path):
    write_mnist(tmp_path / "mnist.npz")
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path / "mnist.npz")
    assert x_train.shape == (5, 28, 28, 1) and x_train.dtype == np.float32
    assert x_test.max() == 1.0 and x_train.min() >= 0.0
    assert y_test.shape == (3, 10)
    np.testing.assert_array_equal(y_test.argmax(axis=1), [9, 0, 3])


def test_mnist_read_from_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    write_mnist(tmp_path / "datasets" / "mnist.npz")
    assert keras_cache_path("mnist.npz") == tmp_path / "datasets" / "mnist.npz"
    (x_train, _), _ = load_mnist()
    assert len(x_train) == 5


def imdb_file(path, reviews):
    reviews_array = np.empty(len(reviews), dtype=object)
    reviews_array[:] = reviews
    np.savez(path, x_train=reviews_array, y_train=np.arange(len(reviews)) % 2,
             x_test=reviews_array, y_test=np.zeros(len(reviews)))


def test_imdb_encoding_padding_and_truncation(tmp_path):
    # Word ids as stored; the loader adds 3 (index_from), prepends 1 (start), maps rare ids to 2.
    imdb_file(tmp_path / "imdb.npz", [[1, 2, 3], list(range(1, 20)), [4997, 10]])
    (x, y), _ = load_imdb(tmp_path / "imdb.npz", num_words=5000, maxlen=8)
    assert x.shape == (3, 8) and x.dtype == np.int32 and y.shape == (3, 1)
    np.testing.assert_array_equal(x[0], [0, 0, 0, 0, 1, 4, 5, 6])  # padded in front
    np.testing.assert_array_equal(x[1], np.arange(12, 20) + 3)  # cut in front: the end is kept
    np.testing.assert_array_equal(x[2], [0, 0, 0, 0, 0, 1, 2, 13])  # 4997+3 >= 5000: out of vocabulary


def test_missing_file_says_where_and_that_nothing_is_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist.npz not found at .*No download is attempted"):
        load_mnist(tmp_path / "absent.npz")


def test_npz_without_the_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="lacks x_train, y_train, x_test, y_test"):
        load_imdb(tmp_path / "other.npz")


def test_file_that_is_not_npz_is_refused(tmp_path):
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="is not an npz file"):
        load_mnist(tmp_path / "bad.npz")
