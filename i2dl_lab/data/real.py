"""Loaders of the real datasets: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (python batches).

Each loader reads from ``root`` (default: the cache, see :func:`~i2dl_lab.data.cache_dir`),
verifies SHA-256 checksums, and downloads only when ``download=True``. Offline, a missing
file raises :class:`~i2dl_lab.data.DatasetNotFoundError` naming the file and the folder.
"""

from __future__ import annotations

import os

import numpy as np

from .download import REGISTRY, ensure_file
from .formats import CorruptFileError, read_cifar_archive, read_cifar_batch, read_idx
from .splits import stratified_split

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10", "FASHION_CLASSES", "CIFAR10_CLASSES"]

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _split_val(X_train, y_train, X_test, y_test, val: float, seed: int, class_names) -> dict:
    if not 0 <= val < 1:
        raise ValueError(f"val must be a fraction in [0, 1), got {val}")
    if val > 0:
        tr, va = stratified_split(y_train, (1 - val, val), seed=seed)
    else:
        tr, va = np.arange(len(y_train)), np.array([], dtype=np.int64)
    return {"X_train": X_train[tr], "y_train": y_train[tr], "X_val": X_train[va], "y_val": y_train[va],
            "X_test": X_test, "y_test": y_test, "class_names": list(class_names)}


def _load_idx_dataset(name, root, download, verify, val, seed, flatten, normalize, class_names, fetch):
    paths = {f.filename: ensure_file(name, f.filename, root=root, download=download, verify=verify, fetch=fetch)
             for f in REGISTRY[name].files}
    arrays = {k: read_idx(p) for k, p in paths.items()}
    out = []
    for split in ("train", "t10k"):
        X = arrays[f"{split}-images-idx3-ubyte.gz"]
        y = arrays[f"{split}-labels-idx1-ubyte.gz"].astype(np.int64)
        if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
            raise CorruptFileError(f"{name} {split}: images {X.shape} and labels {y.shape} do not match")
        X = X[:, None, :, :]  # (N, 1, 28, 28)
        X = X.astype(np.float32) / 255.0 if normalize else X
        out += [X.reshape(len(X), -1) if flatten else X, y]
    return _split_val(*out, val=val, seed=seed, class_names=class_names)


def load_mnist(root: str | os.PathLike | None = None, download: bool = False, val: float = 0.1, seed: int = 0,
               flatten: bool = False, normalize: bool = True, verify: bool = True, fetch=None) -> dict:
    """MNIST handwritten digits (60000 train + 10000 test, 28x28 grey).

    Args:
        root: folder with the four ``*-ubyte.gz`` files (default ``cache_dir()/mnist``).
        download: fetch missing files (checksummed); default False, nothing touches the network.
        val: stratified fraction of the training set held out as validation.
        seed: split seed.
        flatten: rows of 784 features instead of (1, 28, 28) images.
        normalize: float32 in [0, 1] instead of uint8.
        verify: check each file's SHA-256 (a wrong file raises ``ChecksumError``).
        fetch: custom ``fetch(url, fileobj)`` for downloads (tests).

    Returns:
        dict ``X_train, y_train, X_val, y_val, X_test, y_test, class_names``.
    """
    return _load_idx_dataset("mnist", root, download, verify, val, seed, flatten, normalize,
                             [str(i) for i in range(10)], fetch)


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = False, val: float = 0.1,
                       seed: int = 0, flatten: bool = False, normalize: bool = True, verify: bool = True,
                       fetch=None) -> dict:
    """Fashion-MNIST (Zalando clothing images, same format and sizes as MNIST). Args as :func:`load_mnist`."""
    return _load_idx_dataset("fashion_mnist", root, download, verify, val, seed, flatten, normalize,
                             FASHION_CLASSES, fetch)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = False, val: float = 0.1, seed: int = 0,
                 normalize: bool = True, verify: bool = True, fetch=None) -> dict:
    """CIFAR-10 (50000 train + 10000 test colour 32x32 images) from ``cifar-10-python.tar.gz``.

    The batches are read straight from the archive (no extraction) with a pickle reader
    that only accepts what a CIFAR batch contains.

    Returns:
        dict ``X_train, y_train, X_val, y_val, X_test, y_test, class_names``; images of
        shape (N, 3, 32, 32), float32 in [0, 1] with ``normalize`` else uint8.
    """
    path = ensure_file("cifar10", "cifar-10-python.tar.gz", root=root, download=download, verify=verify, fetch=fetch)
    members = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    raw = read_cifar_archive(path, members)
    train = [read_cifar_batch(raw[f"data_batch_{i}"]) for i in range(1, 6)]
    X_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    X_test, y_test = read_cifar_batch(raw["test_batch"])
    if normalize:
        X_train = X_train.astype(np.float32) / 255.0
        X_test = X_test.astype(np.float32) / 255.0
    return _split_val(X_train, y_train, X_test, y_test, val=val, seed=seed, class_names=CIFAR10_CLASSES)
