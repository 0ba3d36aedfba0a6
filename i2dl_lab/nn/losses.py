"""Loss functions: ``loss, dx = <loss>(x, y)``, averaged as the matching torch loss does.

Every function returns the loss as a Python ``float`` and the gradient ``dx = dloss/dx``
with the shape and floating dtype of ``x``. All of them are numerically stable for
scores of magnitude 1e4 (no overflow, no NaN): exponentials are only ever taken of
non-positive numbers.

=====================  ===========================================  ==============================
function               formula                                      torch equivalent
=====================  ===========================================  ==============================
``mse_loss``           mean over all elements of (pred - target)^2  ``MSELoss()``
``l1_loss``            mean over all elements of abs(pred - target) ``L1Loss()``
``bce_loss``           binary cross-entropy from logits, mean       ``BCEWithLogitsLoss()``
``softmax_loss``       cross-entropy of softmax(x), mean over N     ``CrossEntropyLoss()``
``svm_loss``           sum_j!=y max(0, x_j - x_y + 1), mean over N  ``MultiMarginLoss()`` * C
=====================  ===========================================  ==============================
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_labels, check_ndim
from .functional.core import sigmoid

__all__ = ["mse_loss", "l1_loss", "bce_loss", "softmax_loss", "svm_loss", "log_softmax", "softmax"]


def _pair(fn: str, pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred = as_float_array("pred", pred)
    target = as_float_array("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: pred and target must have the same shape, got pred {pred.shape} and target {target.shape}"
        )
    if pred.size == 0:
        raise ValueError(f"{fn}: got empty arrays of shape {pred.shape}")
    return pred, target


def mse_loss(pred, target):
    """Mean squared error over all elements (``torch.nn.MSELoss`` with ``reduction='mean'``).

    Args:
        pred: predictions, any shape.
        target: targets, same shape as ``pred``.

    Returns:
        loss: float.
        dx: gradient w.r.t. ``pred``, same shape: ``2 (pred - target) / pred.size``.

    Example:
        >>> mse_loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]))[0]
        5.0
    """
    pred, target = _pair("mse_loss", pred, target)
    diff = pred - target
    loss = float(np.mean(diff * diff))
    dx = (2.0 / diff.size) * diff
    return loss, dx.astype(pred.dtype, copy=False)


def l1_loss(pred, target):
    """Mean absolute error over all elements (``torch.nn.L1Loss``).

    Args:
        pred: predictions, any shape.
        target: targets, same shape as ``pred``.

    Returns:
        loss: float.
        dx: ``sign(pred - target) / pred.size`` (subgradient 0 where they are equal, as torch).

    Example:
        >>> l1_loss(np.array([1.0, -3.0]), np.array([0.0, 0.0]))[0]
        2.0
    """
    pred, target = _pair("l1_loss", pred, target)
    diff = pred - target
    loss = float(np.mean(np.abs(diff)))
    dx = np.sign(diff) / diff.size
    return loss, dx.astype(pred.dtype, copy=False)


def bce_loss(logits, target):
    """Binary cross-entropy computed from logits (``torch.nn.BCEWithLogitsLoss``, mean).

    ``loss = mean(-t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)))``, evaluated as
    ``max(z, 0) - z t + log(1 + exp(-|z|))`` so that logits of 1e4 stay finite.

    Args:
        logits: raw scores ``z``, any shape.
        target: probabilities in [0, 1], same shape as ``logits``.

    Returns:
        loss: float.
        dx: ``(sigmoid(z) - t) / z.size``, shaped like ``logits``.

    Example:
        >>> round(bce_loss(np.array([0.0]), np.array([1.0]))[0], 4)
        0.6931
    """
    z, t = _pair("bce_loss", logits, target)
    if np.any(t < 0) or np.any(t > 1):
        raise ValueError(f"bce_loss: target must lie in [0, 1], got values in [{t.min()}, {t.max()}]")
    loss = float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))  # exp of <= 0 only
    dx = (sigmoid(z) - t) / z.size
    return loss, dx.astype(z.dtype, copy=False)


def log_softmax(x, axis: int = -1):
    """Stable ``log(softmax(x))`` along ``axis`` (shift by the max before exponentiating).

    Args:
        x: scores, any shape (usually (N, C)).
        axis: the class axis.

    Returns:
        Array shaped like ``x``; ``exp`` of it sums to 1 along ``axis``.

    Example:
        >>> log_softmax(np.array([[1e4, 1e4]]))
        array([[-0.69314718, -0.69314718]])
    """
    x = np.asarray(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis: int = -1):
    """Stable softmax along ``axis``; rows sum to 1.

    Args:
        x: scores, any shape (usually (N, C)).
        axis: the class axis.

    Returns:
        Probabilities shaped like ``x``.

    Example:
        >>> softmax(np.array([[1e4, 1e4]]))
        array([[0.5, 0.5]])
    """
    x = np.asarray(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _scores_labels(fn: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array("x", x)
    check_ndim("x", x, 2, "(N, C) class scores")
    N, C = x.shape
    if N == 0:
        raise ValueError(f"{fn}: got an empty batch, x of shape {x.shape}")
    y = check_labels("y", y, N, C)
    return x, y


def softmax_loss(x, y):
    """Softmax cross-entropy, mean over the batch (``torch.nn.CrossEntropyLoss``).

    Args:
        x: class scores (logits), shape (N, C).
        y: integer labels, shape (N,), values in [0, C).

    Returns:
        loss: float, ``-mean_i log softmax(x_i)[y_i]``.
        dx: ``(softmax(x) - onehot(y)) / N``, shape (N, C).

    Example:
        >>> softmax_loss(np.array([[1e4, 0.0]]), np.array([1]))[0]
        10000.0
    """
    x, y = _scores_labels("softmax_loss", x, y)
    N = x.shape[0]
    logp = log_softmax(x, axis=1)  # (N, C)
    rows = np.arange(N)
    loss = float(-logp[rows, y].mean())
    dx = np.exp(logp)
    dx[rows, y] -= 1
    dx /= N
    return loss, dx.astype(x.dtype, copy=False)


def svm_loss(x, y):
    """Multiclass hinge (SVM) loss with margin 1, summed over wrong classes, mean over the batch.

    ``L_i = sum_{j != y_i} max(0, x_ij - x_iy_i + 1)``; equals ``torch.nn.MultiMarginLoss()``
    times ``C`` (torch also divides by the number of classes).

    Args:
        x: class scores, shape (N, C).
        y: integer labels, shape (N,), values in [0, C).

    Returns:
        loss: float.
        dx: shape (N, C); subgradient 0 where a margin is exactly 0.

    Example:
        >>> svm_loss(np.array([[3.0, 1.0, 2.5]]), np.array([0]))[0]
        0.5
    """
    x, y = _scores_labels("svm_loss", x, y)
    N = x.shape[0]
    rows = np.arange(N)
    margins = x - x[rows, y][:, None] + 1  # (N, C)
    margins[rows, y] = 0
    active = margins > 0
    loss = float(np.where(active, margins, 0).sum() / N)
    dx = active.astype(x.dtype)
    dx[rows, y] = -active.sum(axis=1)
    dx /= N
    return loss, dx
