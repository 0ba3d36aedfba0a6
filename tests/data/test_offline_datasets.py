"""Offline datasets: digits, sample images, generated sets and sequence tasks."""

import numpy as np
import pytest

import i2dl_lab.data as data_pkg
from i2dl_lab.data import (
    load_digits,
    load_sample_image,
    make_blobs,
    make_moons,
    make_regression,
    make_sequence_task,
    make_spirals,
    make_xor,
    upsample_images,
)


def test_digits_splits_are_stratified_disjoint_and_normalised():
    d = load_digits()
    n = sum(len(d[f"y_{s}"]) for s in ("train", "val", "test"))
    assert n == 1797
    assert d["X_train"].shape[1:] == (1, 8, 8) and d["X_train"].dtype == np.float32
    assert 0.0 <= d["X_train"].min() and d["X_train"].max() <= 1.0
    counts = np.bincount(d["y_test"], minlength=10)
    assert counts.min() >= 25 and counts.max() <= 30  # about 15% of ~180 per class
    assert d["class_names"] == [str(i) for i in range(10)]


def test_digits_flatten_and_same_seed_same_split():
    a, b = load_digits(flatten=True, seed=3), load_digits(flatten=True, seed=3)
    assert a["X_train"].shape[1] == 64
    np.testing.assert_array_equal(a["y_val"], b["y_val"])
    assert not np.array_equal(a["y_val"], load_digits(flatten=True, seed=4)["y_val"])


def test_upsampled_digits_keep_the_image():
    d8, d16 = load_digits(size=8), load_digits(size=16)
    assert d16["X_train"].shape[1:] == (1, 16, 16)
    np.testing.assert_array_equal(d8["y_train"], d16["y_train"])
    # Block-averaging the 16x16 version back to 8x8 gives (a smoothed) original.
    back = d16["X_train"].reshape(-1, 1, 8, 2, 8, 2).mean(axis=(3, 5))
    assert np.corrcoef(back.ravel(), d8["X_train"].ravel())[0, 1] > 0.97
    np.testing.assert_allclose(back.mean(), d8["X_train"].mean(), rtol=0.02)
    with pytest.raises(ValueError, match="size must be an integer >= 8"):
        load_digits(size=4)


def test_bilinear_upsampling_is_exact_on_a_linear_ramp():
    ramp = np.tile(np.arange(4.0), (4, 1))  # value = column index
    up = upsample_images(ramp, 8)
    centres = (np.arange(8) + 0.5) * 4 / 8 - 0.5
    np.testing.assert_allclose(up[3, 1:-1], centres[1:-1])
    with pytest.raises(ValueError, match="square"):
        upsample_images(np.zeros((3, 4)), 8)


def test_sample_images_are_colour_photographs_in_unit_range():
    china = load_sample_image("china.jpg")
    assert china.shape == (3, 427, 640) and 0 <= china.min() and china.max() <= 1
    small = load_sample_image("flower.jpg", gray=True, size=64)
    assert small.ndim == 2 and min(small.shape) >= 64
    with pytest.raises(ValueError, match="china.jpg"):
        load_sample_image("cat.jpg")


def test_regression_without_noise_is_the_polynomial():
    x, y, coef = make_regression(50, degree=3, noise=0.0, seed=1)
    np.testing.assert_allclose(y, coef[0] + coef[1] * x[:, 0] + coef[2] * x[:, 0] ** 2 + coef[3] * x[:, 0] ** 3)
    _, y_noisy, _ = make_regression(2000, degree=1, noise=0.5, seed=1, coef=[1.0, 2.0])
    x2, _, _ = make_regression(2000, degree=1, noise=0.5, seed=1, coef=[1.0, 2.0])
    assert abs(np.std(y_noisy - (1 + 2 * x2[:, 0])) - 0.5) < 0.03
    with pytest.raises(ValueError, match="coef must have shape"):
        make_regression(5, degree=2, coef=[1.0])


@pytest.mark.parametrize("maker,classes", [(make_moons, 2), (make_xor, 2), (make_spirals, 3), (make_blobs, 3)])
def test_classification_toys_have_balanced_labels_and_2d_points(maker, classes):
    X, y = maker(300, seed=0)
    assert X.shape == (300, 2) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == classes and counts.min() > 300 / classes * 0.7
    X2, y2 = maker(300, seed=0)
    np.testing.assert_array_equal(X, X2)


def test_xor_labels_follow_the_quadrant_signs():
    X, y = make_xor(500, noise=0.1, seed=0)
    np.testing.assert_array_equal(y, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int))


def test_sequence_tasks_targets():
    X, Y = make_sequence_task("copy", n=20, length=6, vocab=5, seed=0)
    np.testing.assert_array_equal(X, Y)
    assert X.max() < 5
    X, Y = make_sequence_task("reverse", n=20, length=6, seed=0)
    np.testing.assert_array_equal(Y, X[:, ::-1])
    X, Y = make_sequence_task("sort", n=20, length=6, seed=0)
    np.testing.assert_array_equal(Y, np.sort(X, axis=1))


def test_addition_task_digits_are_the_sum():
    X, Y = make_sequence_task("add", n=200, length=3, seed=0)
    assert X.shape == (200, 7) and Y.shape == (200, 4) and (X[:, 3] == 10).all()
    powers = 10 ** np.arange(2, -1, -1)
    a, b = X[:, :3] @ powers, X[:, 4:] @ powers
    np.testing.assert_array_equal(Y @ (10 ** np.arange(3, -1, -1)), a + b)
    assert (Y[:, 0] == 1).any()  # carries into the extra digit happen


def test_generator_errors():
    with pytest.raises(ValueError, match="task must be one of"):
        make_sequence_task("shuffle")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        make_moons(0)


def test_char_corpus_is_reexported_when_present():
    if data_pkg.corpus is None:
        pytest.skip("corpus.py has not landed")
    assert hasattr(data_pkg, "CharCorpus")
