"""Graded exercises of lab 02 (linear classifiers and k-nearest neighbours)."""

from __future__ import annotations

import numpy as np

from ... import metrics
from ...classic import KNearestNeighbor, LinearClassifier, softmax_loss_vectorized, svm_loss_vectorized
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


def reference_kfold_cv_knn(X, y, k_values, num_folds, metric):
    """(num_folds, len(k_values)) validation accuracies; fold f holds out ``np.array_split(arange(N), F)[f]``."""
    folds = np.array_split(np.arange(X.shape[0]), num_folds)
    out = np.zeros((num_folds, len(k_values)))
    for f, held in enumerate(folds):
        rest = np.setdiff1d(np.arange(X.shape[0]), held)
        knn = KNearestNeighbor(metric=metric).fit(X[rest], y[rest])
        dists = knn.compute_distances(X[held])
        for j, k in enumerate(k_values):
            out[f, j] = np.mean(knn.predict_labels(dists, k) == y[held])
    return out


def reference_train_linear_classifier(loss_fn, X, y, learning_rate, reg, num_iters, batch_size, seed):
    """Minibatch SGD of ``W`` (no bias column) as the library's LinearClassifier runs it; returns (W, losses)."""
    trainer = type("StudentLoss", (LinearClassifier,), {"loss_fn": staticmethod(loss_fn)})
    clf = trainer(learning_rate=learning_rate, reg=reg, num_iters=num_iters, batch_size=batch_size, bias=False,
                  weight_scale=1e-3, seed=seed)
    losses = clf.train(X, y)
    return clf.W, np.asarray(losses)


def grading_hinge_loss(W, X, y, reg):
    """The loss the training exercise is driven with: mean multiclass hinge plus reg * sum(W**2)."""
    N = X.shape[0]
    scores = X @ W
    margins = np.maximum(0.0, scores - scores[np.arange(N), y][:, None] + 1.0)
    margins[np.arange(N), y] = 0.0
    dscores = (margins > 0).astype(float)
    dscores[np.arange(N), y] = -dscores.sum(axis=1)
    return float(margins.sum() / N + reg * np.sum(W * W)), X.T @ dscores / N + 2 * reg * W


def run_training(fn, X, y, learning_rate, reg, num_iters, batch_size, seed):
    W, losses = fn(grading_hinge_loss, X, y, learning_rate, reg, num_iters, batch_size, seed)
    return np.asarray(W), np.asarray(losses, dtype=np.float64)


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


def _kfold_cases(rng):
    out = []
    for n, d, c, ks, folds, metric in [(30, 2, 3, [1, 3, 5], 5, "l2"), (23, 3, 2, [1, 7], 4, "l1"),
                                       (12, 2, 3, [2], 3, "l2")]:
        out.append((rng.standard_normal((n, d)), rng.integers(0, c, n), ks, folds, metric))
    return out


def _softmax_cases(rng):
    out = []
    for n, d, c, reg in [(6, 4, 3, 0.0), (15, 5, 4, 0.1), (3, 2, 5, 1.0)]:
        out.append((0.1 * rng.standard_normal((d, c)), rng.standard_normal((n, d)), rng.integers(0, c, n), reg))
    out.append((np.array([[1e3, -1e3], [0.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1, 0]), 0.0))
    return out


def _train_cases(rng):
    out = []
    for n, d, c, iters, bs in [(40, 3, 3, 25, 8), (25, 5, 4, 10, 25), (60, 2, 2, 40, 1)]:
        X, y = rng.standard_normal((n, d)), np.arange(n) % c
        out.append((X, y, float(rng.uniform(0.05, 0.5)), float(rng.uniform(0, 0.1)), iters, bs,
                    int(rng.integers(0, 1000))))
    return out


def _confusion_cases(rng):
    return [(rng.integers(0, 4, 30), rng.integers(0, 4, 30), 4), (np.array([0, 0, 1]), np.array([0, 1, 1]), 5),
            (rng.integers(0, 3, 12), rng.integers(0, 3, 12), 3)]


def _precision_cases(rng):
    cm = rng.integers(0, 20, (4, 4))
    empty = rng.integers(0, 9, (3, 3))
    empty[:, 1] = 0                       # a class never predicted: precision 0
    empty[2, :] = 0                       # a class that never occurs: recall 0
    return [(cm,), (empty,), (np.diag([5, 0, 2]),)]


EXERCISES = [
    Exercise("sigmoid", "sigmoid", 1, F.sigmoid, _sigmoid_cases,
             compare=allclose(rtol=1e-7, atol=1e-12), title="numerically stable sigmoid"),
    Exercise("logistic_loss_and_grad", "logistic_loss_and_grad", 3, reference_logistic_loss_and_grad,
             _logistic_cases, title="logistic regression: BCE loss and gradient"),
    Exercise("knn_predict", "knn_predict", 3, reference_knn_predict, _knn_cases, title="k-nearest-neighbour vote"),
    Exercise("svm_loss_vectorized", "svm_loss_vectorized", 3, svm_loss_vectorized, _svm_cases,
             title="multiclass SVM loss and gradient"),
    Exercise("kfold_cv_knn", "kfold_cv_knn", 3, reference_kfold_cv_knn, _kfold_cases,
             title="k-fold cross-validation of kNN's k"),
    Exercise("softmax_loss_vectorized", "softmax_loss_vectorized", 3, softmax_loss_vectorized, _softmax_cases,
             compare=allclose(rtol=1e-6, atol=1e-10), title="softmax classifier: loss and gradient"),
    Exercise("train_linear_classifier", "train_linear_classifier", 3, reference_train_linear_classifier,
             _train_cases, driver=run_training, compare=allclose(rtol=1e-6, atol=1e-10),
             title="minibatch SGD for a linear classifier"),
    Exercise("confusion_matrix", "confusion_matrix", 1, metrics.confusion_matrix, _confusion_cases,
             title="confusion matrix"),
    Exercise("precision_recall", "precision_recall", 2, metrics.precision_recall, _precision_cases,
             title="per-class precision and recall"),
]
