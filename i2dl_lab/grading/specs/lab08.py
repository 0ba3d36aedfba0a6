"""Graded exercises of lab 08 (transfer learning).

Both exercises work on fixed feature vectors (what a frozen pretrained body produces), so
they run in NumPy and are deterministic.
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- nearest class mean
def ref_nearest_class_mean(train_features, train_labels, test_features):
    """Label of the closest class mean (Euclidean) for every test row; ties go to the lower label."""
    classes = np.unique(train_labels)
    means = np.stack([train_features[train_labels == c].mean(axis=0) for c in classes])  # (K, D)
    d2 = ((test_features[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)  # (M, K)
    return classes[np.argmin(d2, axis=1)]


def drive_labels(obj, *args):
    return np.asarray(obj(*_copies(args))).astype(np.int64)


def ncm_cases(rng):
    cases = []
    for n_per, K, D, M in [(3, 4, 5, 10), (1, 3, 2, 6), (5, 10, 8, 20)]:
        centres = 3 * rng.standard_normal((K, D))
        y = np.repeat(np.arange(K), n_per)
        X = centres[y] + rng.standard_normal((len(y), D))
        test = centres[rng.integers(0, K, M)] + rng.standard_normal((M, D))
        cases.append((X, y, test))
    # labels that are not 0..K-1 (only some classes present)
    X = rng.standard_normal((6, 3))
    cases.append((X, np.array([2, 2, 7, 7, 9, 9]), rng.standard_normal((5, 3))))
    return cases


# ---------------------------------------------------------------- softmax head
def ref_train_head(features, labels, num_classes, lr, steps):
    """Full-batch gradient descent on a linear softmax head from zero weights."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    W = np.zeros((features.shape[1], num_classes))
    b = np.zeros(num_classes)
    for _ in range(steps):
        scores, cache = F.affine_forward(features, W, b)
        _, dscores = F.softmax_loss(scores, labels)
        _, dW, db = F.affine_backward(dscores, cache)
        W -= lr * dW
        b -= lr * db
    return W, b


def drive_pair(obj, *args):
    W, b = obj(*_copies(args))
    return np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)


def head_cases(rng):
    cases = []
    for N, D, C, lr, steps in [(12, 5, 3, 0.5, 20), (30, 8, 10, 0.1, 50), (4, 2, 2, 1.0, 1)]:
        cases.append((rng.standard_normal((N, D)), rng.integers(0, C, N), C, lr, steps))
    return cases


EXERCISES = [
    Exercise("nearest_class_mean", "nearest_class_mean", 2, ref_nearest_class_mean, ncm_cases,
             driver=drive_labels, title="nearest-class-mean classifier on features"),
    Exercise("train_head", "train_linear_head", 3, ref_train_head, head_cases, driver=drive_pair,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a softmax head on frozen features"),
]
