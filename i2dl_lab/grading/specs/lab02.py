"""Graded exercises of lab 02 (linear classifiers and k-nearest neighbours)."""

from __future__ import annotations

import numpy as np

from ...classic import KNearestNeighbor, svm_loss_vectorized
from ...nn import functional as F  # noqa: N812 - the documented alias
from ..spec import Exercise, allclose


def reference_logistic_loss_and_grad(w, b, X, y):
    """Mean binary cross-entropy of ``sigmoid(X @ w + b)`` against ``y`` in {0, 1}; returns (loss, dw, db)."""
    z = X @ w + b  # (N,)
    loss, dz = F.bce_loss(z, y.astype(np.float64))
    return loss, X.T @ dz, float(np.sum(dz))


def reference_knn_predict(X_train, y_train, X_test, k, metric):
    """Majority vote of the ``k`` nearest training rows (L1 or L2); ties go to the smallest label."""
    return KNearestNeighbor(k=k, metric=metric).fit(X_train, y_train).predict(X_test)


def _sigmoid_cases(rng):
    return [(rng.standard_normal(10),), (4.0 * rng.standard_normal((3, 4)),),
            (np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]),)]


def _logistic_cases(rng):
    out = []
    for n, d in [(8, 3), (20, 5), (1, 2)]:
        X = rng.standard_normal((n, d))
        out.append((rng.standard_normal(d), float(rng.standard_normal()), X, rng.integers(0, 2, n)))
    return out


def _knn_cases(rng):
    out = []
    for n, m, d, c, k, metric in [(30, 8, 2, 3, 1, "l2"), (40, 10, 4, 4, 5, "l2"), (25, 6, 3, 2, 3, "l1"),
                                  (12, 5, 2, 3, 12, "l1")]:
        out.append((rng.standard_normal((n, d)), rng.integers(0, c, n), rng.standard_normal((m, d)), k, metric))
    return out


def _svm_cases(rng):
    out = []
    for n, d, c, reg in [(6, 4, 3, 0.0), (15, 5, 4, 0.1), (3, 2, 5, 1.0)]:
        out.append((0.1 * rng.standard_normal((d, c)), rng.standard_normal((n, d)), rng.integers(0, c, n), reg))
    return out


EXERCISES = [
    Exercise("sigmoid", "sigmoid", 1, F.sigmoid, _sigmoid_cases,
             compare=allclose(rtol=1e-7, atol=1e-12), title="numerically stable sigmoid"),
    Exercise("logistic_loss_and_grad", "logistic_loss_and_grad", 3, reference_logistic_loss_and_grad,
             _logistic_cases, title="logistic regression: BCE loss and gradient"),
    Exercise("knn_predict", "knn_predict", 3, reference_knn_predict, _knn_cases, title="k-nearest-neighbour vote"),
    Exercise("svm_loss_vectorized", "svm_loss_vectorized", 3, svm_loss_vectorized, _svm_cases,
             title="multiclass SVM loss and gradient"),
]
