"""Graded exercises of lab 00 (setup and tour): three NumPy warm-ups."""

from __future__ import annotations

import numpy as np

from ..spec import Exercise


def reference_one_hot(y, num_classes):
    """(N,) integer labels -> (N, num_classes) float64 rows with a single 1."""
    y = np.asarray(y)
    out = np.zeros((y.shape[0], num_classes))
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def reference_pairwise_sq_dists(A, B):
    """Squared Euclidean distances between the rows of A (M, D) and B (N, D): (M, N)."""
    diff = A[:, None, :] - B[None, :, :]  # (M, N, D)
    return np.sum(diff ** 2, axis=2)


def reference_standardize(X_train, X_test, eps=1e-8):
    """Scale each feature to zero mean / unit std using the *training* statistics only."""
    mu = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    return (X_train - mu) / (sd + eps), (X_test - mu) / (sd + eps)


def _one_hot_cases(rng):
    return [(rng.integers(0, 5, 12), 5), (np.array([2, 0, 1]), 4), (np.array([0]), 1)]


def _dist_cases(rng):
    return [(rng.standard_normal((4, 3)), rng.standard_normal((6, 3))),
            (rng.standard_normal((1, 5)), rng.standard_normal((3, 5))),
            (np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(3, 2))]


def _standardize_cases(rng):
    X = 3.0 + 2.0 * rng.standard_normal((20, 4))
    Y = rng.standard_normal((5, 4))
    const = np.hstack([rng.standard_normal((8, 2)), np.ones((8, 1))])  # a constant feature must not give NaN
    return [(X, Y), (rng.standard_normal((10, 3)), rng.standard_normal((2, 3))), (const, const[:3])]


EXERCISES = [
    Exercise("one_hot", "one_hot", 1, reference_one_hot, _one_hot_cases, title="one-hot encoding"),
    Exercise("pairwise_sq_dists", "pairwise_sq_dists", 2, reference_pairwise_sq_dists, _dist_cases,
             title="pairwise squared distances by broadcasting"),
    Exercise("standardize", "standardize", 2, reference_standardize, _standardize_cases,
             title="standardise with training statistics"),
]
