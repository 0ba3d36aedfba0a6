"""Generated datasets: regression, 2-D classification toys and sequence tasks.

Every generator takes a ``seed`` and returns NumPy arrays, so a lab's figures are the same
on every run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_regression", "make_moons", "make_spirals", "make_xor", "make_blobs",
           "make_sequence_task", "SEQUENCE_TASKS"]


def _check_n(n) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


def make_regression(n: int = 100, degree: int = 1, noise: float = 0.1, seed: int = 0,
                    x_range: tuple[float, float] = (-1.0, 1.0), coef=None):
    """Noisy 1-D polynomial regression ``y = sum_k coef[k] x^k + noise``.

    Args:
        n: number of points.
        degree: polynomial degree (1 = linear).
        noise: standard deviation of the Gaussian noise on y.
        coef: ``degree + 1`` coefficients, lowest power first; random if None.

    Returns:
        ``(x, y, coef)``: x of shape (n, 1), y of shape (n,), coef of shape (degree + 1,).
    """
    n = _check_n(n)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=degree + 1) if coef is None else np.asarray(coef, dtype=np.float64)
    if coef.shape != (degree + 1,):
        raise ValueError(f"coef must have shape ({degree + 1},) for degree {degree}, got {coef.shape}")
    x = rng.uniform(*x_range, size=n)
    y = np.polynomial.polynomial.polyval(x, coef) + noise * rng.normal(size=n)
    return x[:, None], y, coef


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles. Returns ``X`` (n, 2) float and ``y`` (n,) in {0, 1}."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    a = np.stack([np.cos(t0), np.sin(t0)], 1)
    b = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)
    X = np.concatenate([a, b]) + noise * rng.normal(size=(n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    p = rng.permutation(n)
    return X[p], y[p]


def make_spirals(n: int = 300, classes: int = 3, noise: float = 0.2, turns: float = 1.0, seed: int = 0):
    """``classes`` interleaved spiral arms (the CS231n toy). Returns ``X`` (n, 2), ``y`` (n,)."""
    n = _check_n(n)
    if classes < 2:
        raise ValueError(f"classes must be >= 2, got {classes}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, n)
    theta = 2 * np.pi * (turns * r + y / classes) + noise * rng.normal(size=n)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], 1)
    p = rng.permutation(n)
    return X[p], y[p].astype(np.int64)


def make_xor(n: int = 200, noise: float = 0.1, seed: int = 0):
    """Points near the four corners of a square; the label is the XOR of the coordinates' signs."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    X = (2 * corners - 1) + noise * rng.normal(size=(n, 2))
    y = (corners[:, 0] ^ corners[:, 1]).astype(np.int64)
    return X, y


def make_blobs(n: int = 300, centers: int = 3, dim: int = 2, spread: float = 1.0, seed: int = 0):
    """Isotropic Gaussian blobs around random centres in [-5, 5]^dim. Returns ``X`` (n, dim), ``y`` (n,)."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-5, 5, size=(centers, dim))
    y = rng.integers(0, centers, size=n)
    X = mu[y] + spread * rng.normal(size=(n, dim))
    return X, y.astype(np.int64)


SEQUENCE_TASKS = ("copy", "reverse", "sort", "add")


def make_sequence_task(task: str, n: int = 1000, length: int = 8, vocab: int = 10, seed: int = 0):
    """Token-sequence toy tasks for RNNs and transformers.

    * ``copy``: target = input.
    * ``reverse``: target = input reversed.
    * ``sort``: target = input sorted ascending.
    * ``add``: input = the digits of two ``length``-digit numbers separated by a ``+``
      token (id 10); target = the ``length + 1`` digits of their sum (most significant
      first, zero-padded). ``vocab`` is ignored (11 input tokens, 10 output tokens).

    Returns:
        ``(X, Y)`` int64 arrays: X (n, T_in), Y (n, T_out); for copy/reverse/sort
        ``T_in = T_out = length`` and tokens lie in ``[0, vocab)``.

    Example:
        >>> X, Y = make_sequence_task("reverse", n=2, length=4, seed=0)
        >>> bool((Y == X[:, ::-1]).all())
        True
    """
    n = _check_n(n)
    if task not in SEQUENCE_TASKS:
        raise ValueError(f"task must be one of {SEQUENCE_TASKS}, got {task!r}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    rng = np.random.default_rng(seed)
    if task == "add":
        a = rng.integers(0, 10, size=(n, length))
        b = rng.integers(0, 10, size=(n, length))
        X = np.concatenate([a, np.full((n, 1), 10), b], axis=1)
        # Column-wise addition with carries, from the least significant digit.
        Y = np.zeros((n, length + 1), dtype=np.int64)
        carry = np.zeros(n, dtype=np.int64)
        for k in range(length - 1, -1, -1):
            s = a[:, k] + b[:, k] + carry
            Y[:, k + 1] = s % 10
            carry = s // 10
        Y[:, 0] = carry
        return X.astype(np.int64), Y
    if vocab < 2:
        raise ValueError(f"vocab must be >= 2, got {vocab}")
    X = rng.integers(0, vocab, size=(n, length)).astype(np.int64)
    if task == "copy":
        Y = X.copy()
    elif task == "reverse":
        Y = X[:, ::-1].copy()
    else:
        Y = np.sort(X, axis=1)
    return X, Y
