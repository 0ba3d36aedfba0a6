"""Stratified, seeded train/val/test splits.

Stratified means every split keeps the class proportions of the whole set, which matters
for small datasets (a random 15 % of the 1797 digits could be short of a class).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["stratified_split", "train_val_test_split", "few_per_class"]


def stratified_split(y, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> tuple[np.ndarray, ...]:
    """Split sample indices into parts that keep each class's proportion.

    Args:
        y: class labels, shape (N,).
        fractions: size of each part; must be positive and sum to 1.
        seed: seed of the shuffle; the same seed gives the same split.

    Returns:
        One sorted index array per fraction; together they partition ``range(N)``.

    Example:
        >>> tr, te = stratified_split(np.array([0] * 8 + [1] * 4), (0.75, 0.25), seed=0)
        >>> len(tr), len(te)
        (9, 3)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D class labels, got shape {y.shape}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 1 or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        # Cumulative rounding keeps the per-class counts summing to the class size.
        bounds = np.round(np.cumsum(fr) * len(idx)).astype(int)
        start = 0
        for k, stop in enumerate(bounds):
            parts[k].append(idx[start:stop])
            start = stop
    return tuple(np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in parts)


def train_val_test_split(X, y, val: float = 0.15, test: float = 0.15, seed: int = 0) -> dict:
    """Stratified split of ``(X, y)`` into a dict ``X_train, y_train, X_val, y_val, X_test, y_test``.

    The key names follow the CS231n data dictionaries so existing solver code applies.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not (0 <= val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions with val + test < 1, got val={val}, test={test}")
    fr = [1 - val - test, val, test] if val > 0 else [1 - test, test]
    idx = stratified_split(y, fr, seed=seed)
    if val > 0:
        tr, va, te = idx
    else:
        (tr, te), va = idx, np.array([], dtype=np.int64)
    return {"X_train": X[tr], "y_train": y[tr], "X_val": X[va], "y_val": y[va], "X_test": X[te], "y_test": y[te]}


def few_per_class(y, k: int, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` randomly chosen samples of every class (few-label experiments)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        if len(idx) < k:
            raise ValueError(f"class {cls} has only {len(idx)} samples, cannot take k={k}")
        out.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(out))
