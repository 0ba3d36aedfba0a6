"""The offline 28x28 MNIST subset: reader, splits and errors, on small files written here in its format."""

import gzip

import numpy as np
import pytest

import i2dl_lab.data.mnist5k as mnist5k
from i2dl_lab.data import CorruptFileError, DatasetNotFoundError, load_mnist_5k, read_mnist_csv


def _write(path, images, labels, gz=True):
    rows = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    text = "\n".join(",".join(str(int(v)) for v in r) for r in rows) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="ascii") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="ascii")
    return path


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)  # sorted by label, like the shipped file
    images = rng.integers(0, 256, (len(labels), 28, 28))
    return _write(tmp_path / "mnist_small.csv.gz", images, labels), images, labels


def test_reader_returns_the_pixels_row_major_and_the_last_column_as_label(small):
    path, images, labels = small
    X, y = read_mnist_csv(path)
    assert X.dtype == np.uint8 and X.shape == (200, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_plain_csv_reads_like_the_gzipped_one(small, tmp_path):
    _, images, labels = small
    X, y = read_mnist_csv(_write(tmp_path / "plain.csv", images, labels, gz=False))
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_loader_splits_stratified_normalises_and_flattens(small):
    path, images, labels = small
    d = load_mnist_5k(path=path, val=0.1, test=0.3, seed=1)
    assert [len(d[f"y_{s}"]) for s in ("train", "val", "test")] == [120, 20, 60]
    for s in ("train", "val", "test"):
        assert np.bincount(d[f"y_{s}"], minlength=10).tolist() == [len(d[f"y_{s}"]) // 10] * 10
    assert d["X_train"].shape[1:] == (1, 28, 28) and d["X_train"].dtype == np.float32
    # every image keeps its own label through the split
    first = np.flatnonzero((images.astype(np.float32) / 255 == d["X_test"][0, 0]).all(axis=(1, 2)))
    assert labels[first[0]] == d["y_test"][0]
    flat = load_mnist_5k(path=path, flatten=True, normalize=False, seed=1)
    assert flat["X_test"].shape == (60, 784) and flat["X_test"].dtype == np.uint8
    np.testing.assert_array_equal(flat["y_test"], d["y_test"])
    assert not np.array_equal(load_mnist_5k(path=path, seed=2)["X_test"], d["X_test"])  # the seed picks the split


@pytest.mark.parametrize("content, what", [
    ("1,2,3\n", "785 values"),
    (",".join(["0"] * 784) + ",12\n", "labels must lie in 0..9"),
    (",".join(["300"] * 784) + ",1\n", "pixels must lie in 0..255"),
    ("a,b\n", "not a CSV of integers"),
])
def test_malformed_files_name_what_is_wrong(tmp_path, content, what):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="ascii")
    with pytest.raises(CorruptFileError, match=what):
        read_mnist_csv(path)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist5k, "MNIST_5K_PACKAGE", "no_such_package_i2dl")
    with pytest.raises(DatasetNotFoundError, match="no_such_package_i2dl"):
        mnist5k.mnist_5k_path()


def test_shipped_subset_has_500_images_per_class_and_the_documented_split():
    d = load_mnist_5k()
    sizes = [len(d[f"y_{s}"]) for s in ("train", "val", "test")]
    assert sizes == [3000, 500, 1500]
    y = np.concatenate([d["y_train"], d["y_val"], d["y_test"]])
    assert np.bincount(y).tolist() == [500] * 10
    X = np.concatenate([d["X_train"], d["X_val"], d["X_test"]])
    assert X.shape == (5000, 1, 28, 28) and 0.0 == X.min() and X.max() == 1.0
    # digits are drawn in the middle: the border is almost always blank, the centre often inked
    assert X[:, 0, 0, :].mean() < 0.01 < 0.1 < X[:, 0, 10:18, 10:18].mean()
