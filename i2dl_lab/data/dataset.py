"""The dataset protocol and two small containers that follow it.

A dataset is anything with ``__len__`` and ``__getitem__(i)`` returning one sample (often
an ``(x, y)`` tuple). That is exactly the protocol of ``torch.utils.data.Dataset``, so the
same object feeds both the NumPy :class:`~i2dl_lab.data.DataLoader` and torch's
``DataLoader`` (torch's default collate turns NumPy arrays into tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Dataset(Protocol):
    """Anything indexable with a length: ``len(ds)`` and ``ds[i]`` for ``0 <= i < len(ds)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


class ArrayDataset:
    """Samples stored as rows of one or more arrays of equal length.

    Args:
        *arrays: arrays whose first axis indexes samples, e.g. ``X`` of shape (N, C, H, W)
            and ``y`` of shape (N,).
        transform: optional callable applied to the first array's sample (the input) each
            time it is read, e.g. random augmentation.
        target_transform: optional callable applied to the second array's sample.

    Shape:
        ``ds[i]`` is ``(X[i], y[i])`` for two arrays, ``X[i]`` for one.

    Example:
        >>> ds = ArrayDataset(np.zeros((4, 2)), np.arange(4))
        >>> len(ds), ds[3][1]
        (4, np.int64(3))
    """

    def __init__(self, *arrays, transform: Callable | None = None, target_transform: Callable | None = None):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array, got none")
        arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"all arrays must have the same length (first axis), got lengths {lengths}")
        self.arrays = arrays
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, (int, np.integer)):
            if not -n <= index < n:
                raise IndexError(f"index {index} out of range for a dataset of {n} samples")
        items = [a[index] for a in self.arrays]
        if self.transform is not None:
            items[0] = self.transform(items[0])
        if self.target_transform is not None and len(items) > 1:
            items[1] = self.target_transform(items[1])
        return items[0] if len(items) == 1 else tuple(items)

    def get_batch(self, indices: np.ndarray):
        """Rows ``indices`` of every array at once (the DataLoader's fast path, no transform)."""
        items = [a[indices] for a in self.arrays]
        return items[0] if len(items) == 1 else tuple(items)

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return f"ArrayDataset({shapes})"


class Subset:
    """A view of ``dataset`` restricted to ``indices`` (like ``torch.utils.data.Subset``)."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset indices must lie in [0, {n}), got range "
                             f"[{self.indices.min()}, {self.indices.max()}]")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        """Rows ``indices`` of the subset at once (only over an untransformed ArrayDataset)."""
        return self.dataset.get_batch(self.indices[indices])
