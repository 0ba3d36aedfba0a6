"""Classification metrics beyond accuracy: the confusion matrix, precision and recall.

Accuracy hides *which* mistakes a classifier makes. The confusion matrix counts them: entry
``(i, j)`` is the number of examples of true class ``i`` predicted as ``j``, so the diagonal holds
the correct ones. Per class ``c``:

* **precision** = TP / (TP + FP): of everything predicted as ``c``, the share that is ``c``
  (column ``c``);
* **recall** = TP / (TP + FN): of everything that is ``c``, the share found (row ``c``).

A class that is never predicted has no precision (0 / 0) and a class absent from the labels no
recall; both are reported as 0, as scikit-learn does with ``zero_division=0``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "precision_recall"]


def _labels(name: str, y, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer labels, got shape {y.shape} and dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must hold labels in [0, {num_classes}), got values from {y.min()} to {y.max()}")
    return y


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        y_true: (N,) integer labels in [0, num_classes).
        y_pred: (N,) integer predictions in [0, num_classes).
        num_classes: C.

    Returns:
        (C, C) int64 array; rows are true classes, columns predicted ones.

    Example:
        >>> confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
        array([[1, 1, 0],
               [0, 1, 0],
               [0, 1, 0]])
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    y_true, y_pred = _labels("y_true", y_true, num_classes), _labels("y_pred", y_pred, num_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def precision_recall(cm) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall from a confusion matrix (0 where undefined).

    Args:
        cm: (C, C) counts, rows true classes, columns predictions.

    Returns:
        ``(precision, recall)``, each (C,) float64.

    Example:
        >>> [p.tolist() for p in precision_recall(np.array([[3, 1], [0, 0]]))]
        [[1.0, 0.0], [0.75, 0.0]]
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {cm.shape}")
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall
