"""A NumPy DataLoader: batches, seeded shuffling, ``drop_last`` and a collate function.

It mirrors ``torch.utils.data.DataLoader`` closely enough that code written for one reads
like code for the other, without worker processes (NumPy batches of the datasets used
here are cheap to build in the main process).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def default_collate(samples: list) -> Any:
    """Stack a list of samples into a batch.

    * arrays of equal shape -> one array with a new first axis (N, ...)
    * numbers -> a 1-D array (int64 for integers, float64 for floats)
    * tuples/lists -> a tuple with each position collated separately
    * dicts -> a dict with each key collated separately

    Example:
        >>> xb, yb = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])
        >>> xb.shape, yb.tolist()
        ((2, 3), [1, 0])
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    first = samples[0]
    if isinstance(first, np.ndarray):
        shapes = {s.shape for s in samples}
        if len(shapes) != 1:
            raise ValueError(f"cannot stack samples of different shapes {sorted(shapes)}; pass a collate_fn that pads")
        return np.stack(samples)
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(samples, dtype=bool)
    if isinstance(first, numbers.Integral):
        return np.asarray(samples, dtype=np.int64)
    if isinstance(first, numbers.Real):
        return np.asarray(samples, dtype=np.float64)
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        lengths = {len(s) for s in samples}
        if len(lengths) != 1:
            raise ValueError(f"samples have different numbers of fields: {sorted(lengths)}")
        return tuple(default_collate(list(field)) for field in zip(*samples))
    if isinstance(first, str):
        return list(samples)
    try:  # torch tensors and other array-likes
        return np.stack([np.asarray(s) for s in samples])
    except Exception as exc:  # pragma: no cover - message only
        raise TypeError(f"default_collate does not know how to batch {type(first).__name__}") from exc


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Args:
        dataset: an object with ``__len__`` and ``__getitem__`` (see :class:`Dataset`).
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: draw a fresh random order every epoch.
        drop_last: skip a final batch smaller than ``batch_size``.
        seed: seed of the shuffling generator; the sequence of epoch orders is then the
            same on every run. ``None`` draws fresh entropy.
        collate_fn: turns a list of samples into a batch (default :func:`default_collate`).

    Example:
        >>> from i2dl_lab.data import ArrayDataset
        >>> dl = DataLoader(ArrayDataset(np.arange(10.0)[:, None], np.arange(10)), batch_size=4,
        ...                 shuffle=True, seed=0, drop_last=True)
        >>> [xb.shape for xb, yb in dl]
        [(4, 1), (4, 1)]
    """

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, collate_fn: Callable | None = None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"dataset must define __len__ and __getitem__, got {type(dataset).__name__}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.collate_fn = collate_fn
        self._rng = np.random.default_rng(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the shuffling sequence from ``seed`` (as if the loader were new)."""
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self) -> Iterator[np.ndarray]:
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self) -> Iterator[Any]:
        fast = self.collate_fn is None and _has_fast_path(self.dataset)
        for idx in self._batches():
            if fast:
                yield self.dataset.get_batch(idx)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in idx])

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed})")


def _has_fast_path(ds) -> bool:
    # Fancy-indexing whole batches is only equivalent to per-sample reads without transforms.
    from .dataset import ArrayDataset, Subset

    if isinstance(ds, Subset):
        return _has_fast_path(ds.dataset)
    return isinstance(ds, ArrayDataset) and ds.transform is None and ds.target_transform is None
