"""Affine layer and activation functions as forward/backward pairs (the CS231n contract).

Every layer here is two functions::

    out, cache = <name>_forward(x, ...)
    dx, ... = <name>_backward(dout, cache)

``cache`` is an opaque tuple that holds what the backward pass needs; ``dout`` is the
upstream gradient dL/dout (same shape as ``out``); the backward pass returns one gradient
per array input, in the order of the forward signature. Floating dtypes are preserved: a
float32 input gives float32 outputs and gradients.

Conventions (as in CS231n, *not* as in ``torch.nn.Linear``): dense weights are stored
``(D, M)`` = (input features, output features), so the affine map is ``x @ w + b``.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float_array, check_ndim

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "elu_forward",
    "elu_backward",
    "softplus_forward",
    "softplus_backward",
    "hard_tanh_forward",
    "hard_tanh_backward",
    "prelu_forward",
    "prelu_backward",
    "maxout_forward",
    "maxout_backward",
]


def _flat_rows(name: str, x: np.ndarray) -> np.ndarray:
    """View ``x`` of shape (N, d1, ..., dk) as (N, D) with D = d1 * ... * dk."""
    if x.ndim < 1:
        raise ValueError(f"{name} must have a batch dimension, got a scalar of shape {x.shape}")
    return x.reshape(x.shape[0], -1)


# ----------------------------------------------------------------------------- affine
def affine_forward(x, w, b):
    """Fully connected layer: ``out = x.reshape(N, D) @ w + b``.

    Args:
        x: inputs, shape (N, d1, ..., dk); each row is flattened to D = d1 * ... * dk.
        w: weights, shape (D, M) (input features first, as in CS231n; the transpose of
            ``torch.nn.Linear.weight``).
        b: biases, shape (M,).

    Returns:
        out: shape (N, M).
        cache: ``(x, w, b)`` for :func:`affine_backward`.

    Example:
        >>> out, _ = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
        >>> out.shape
        (2, 4)
    """
    x = as_float_array("x", x)
    w = as_float_array("w", w)
    b = as_float_array("b", b)
    x2 = _flat_rows("x", x)  # (N, D)
    N, D = x2.shape
    check_ndim("w", w, 2, "(D, M)")
    if w.shape[0] != D:
        hint = ""
        if w.shape[1] == D:
            hint = " (w looks transposed: this library stores weights as (in_features, out_features))"
        raise ValueError(
            f"affine_forward: x of shape {tuple(x.shape)} flattens to (N, D) = ({N}, {D}), so w must "
            f"have shape ({D}, M), got {tuple(w.shape)}{hint}"
        )
    M = w.shape[1]
    if b.shape != (M,):
        raise ValueError(f"affine_forward: b must have shape ({M},) to match w {tuple(w.shape)}, got {tuple(b.shape)}")
    out = x2 @ w + b  # (N, M)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: ``(x, w, b)`` from the forward pass.

    Returns:
        dx: shape (N, d1, ..., dk), like ``x``.
        dw: shape (D, M).
        db: shape (M,).

    Example:
        >>> _, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
        >>> [g.shape for g in affine_backward(np.ones((2, 4)), cache)]
        [(2, 3), (3, 4), (4,)]
    """
    x, w, b = cache
    x2 = _flat_rows("x", x)  # (N, D)
    dout = np.asarray(dout)
    if dout.shape != (x2.shape[0], w.shape[1]):
        raise ValueError(f"affine_backward: dout must have shape {(x2.shape[0], w.shape[1])}, got {dout.shape}")
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# ----------------------------------------------------------------------------- ReLU family
def relu_forward(x):
    """Rectified linear unit ``max(0, x)``, elementwise.

    Args:
        x: any shape.

    Returns:
        out: same shape as ``x``; cache: ``x``.

    Example:
        >>> relu_forward(np.array([-1.0, 2.0]))[0]
        array([0., 2.])
    """
    x = as_float_array("x", x)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Gradient of ReLU: ``dout`` where ``x > 0``, else 0 (the subgradient 0 at the kink, as torch).

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``x`` from :func:`relu_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = relu_forward(np.array([-1.0, 0.0, 2.0]))
        >>> relu_backward(np.ones(3), cache)
        array([0., 0., 1.])
    """
    x = cache
    return np.where(x > 0, dout, 0).astype(x.dtype, copy=False)


def leaky_relu_forward(x, negative_slope: float = 0.01):
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Args:
        x: any shape.
        negative_slope: slope for negative inputs (torch default 0.01; the lecture uses 0.1).

    Returns:
        out: same shape as ``x``; cache: ``(x, negative_slope)``.

    Example:
        >>> leaky_relu_forward(np.array([-2.0, 3.0]), 0.1)[0]
        array([-0.2,  3. ])
    """
    x = as_float_array("x", x)
    out = np.where(x > 0, x, negative_slope * x).astype(x.dtype, copy=False)
    return out, (x, negative_slope)


def leaky_relu_backward(dout, cache):
    """Gradient of leaky ReLU: ``dout`` where ``x > 0``, ``negative_slope * dout`` elsewhere.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``(x, negative_slope)`` from :func:`leaky_relu_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = leaky_relu_forward(np.array([-2.0, 3.0]), 0.1)
        >>> leaky_relu_backward(np.ones(2), cache)
        array([0.1, 1. ])
    """
    x, slope = cache
    return np.where(x > 0, dout, slope * dout).astype(x.dtype, copy=False)


def prelu_forward(x, alpha):
    """Parametric ReLU: like leaky ReLU but the negative slope ``alpha`` is learned.

    Args:
        x: shape (N,) or (N, C, ...); channels on axis 1 as in ``torch.nn.PReLU``.
        alpha: shape (1,) (one slope shared by all channels) or (C,) (one per channel).

    Returns:
        out: same shape as ``x``; cache for :func:`prelu_backward`.

    Example:
        >>> prelu_forward(np.array([[-1.0, 1.0]]), np.array([0.25]))[0]
        array([[-0.25,  1.  ]])
    """
    x = as_float_array("x", x)
    alpha = as_float_array("alpha", alpha)
    check_ndim("alpha", alpha, 1, "(1,) or (C,)")
    if alpha.shape[0] == 1:
        a = alpha.reshape((1,) * x.ndim)  # broadcast one slope everywhere
    else:
        C = alpha.shape[0]
        if x.ndim < 2 or x.shape[1] != C:
            raise ValueError(
                f"prelu_forward: alpha of shape ({C},) needs x with {C} channels on axis 1, got x of shape {x.shape}"
            )
        a = alpha.reshape((1, C) + (1,) * (x.ndim - 2))  # (1, C, 1, ..., 1)
    out = np.where(x > 0, x, a * x).astype(np.result_type(x, alpha), copy=False)
    return out, (x, alpha, a)


def prelu_backward(dout, cache):
    """Gradient of PReLU.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: from :func:`prelu_forward`.

    Returns:
        dx: shaped like ``x``.
        dalpha: shaped like ``alpha`` ((1,) or (C,)): ``sum(dout * x)`` over the entries where
            ``x <= 0``, summed over every axis but the channel axis.

    Example:
        >>> _, cache = prelu_forward(np.array([[-1.0, 2.0]]), np.array([0.25]))
        >>> prelu_backward(np.ones((1, 2)), cache)
        (array([[0.25, 1.  ]]), array([-1.]))
    """
    x, alpha, a = cache
    pos = x > 0
    dx = np.where(pos, dout, a * dout)
    contrib = np.where(pos, 0, dout * x)
    if alpha.shape[0] == 1:
        dalpha = np.array([contrib.sum()], dtype=alpha.dtype)
    else:
        axes = (0,) + tuple(range(2, x.ndim))
        dalpha = contrib.sum(axis=axes).astype(alpha.dtype, copy=False)
    return dx.astype(np.result_type(x, alpha), copy=False), dalpha


def elu_forward(x, alpha: float = 1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        x: any shape.
        alpha: saturation value for large negative inputs.

    Returns:
        out: same shape as ``x``; cache: ``(x, out, alpha)``.

    Example:
        >>> float(elu_forward(np.array([0.0]))[0][0])
        0.0
    """
    x = as_float_array("x", x)
    # exp only of the non-positive part: no overflow for large positive x
    neg = alpha * np.expm1(np.minimum(x, 0))
    out = np.where(x > 0, x, neg).astype(x.dtype, copy=False)
    return out, (x, out, alpha)


def elu_backward(dout, cache):
    """Gradient of ELU: ``dout`` for ``x > 0``, ``dout * (out + alpha)`` (= ``alpha * exp(x)``) otherwise.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``(x, out, alpha)`` from :func:`elu_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = elu_forward(np.array([0.0, 1.0]))
        >>> elu_backward(np.ones(2), cache)
        array([1., 1.])
    """
    x, out, alpha = cache
    return np.where(x > 0, dout, dout * (out + alpha)).astype(x.dtype, copy=False)


def softplus_forward(x, beta: float = 1.0, threshold: float = 20.0):
    """Softplus ``log(1 + exp(beta * x)) / beta``, a smooth ReLU.

    As ``torch.nn.Softplus``, the function is the identity where ``beta * x > threshold``.

    Args:
        x: any shape.
        beta: sharpness; larger is closer to ReLU.
        threshold: above this value of ``beta * x`` return ``x`` itself.

    Returns:
        out: same shape as ``x``; cache: ``(x, beta, threshold)``.

    Example:
        >>> round(float(softplus_forward(np.array([0.0]))[0][0]), 4)
        0.6931
    """
    x = as_float_array("x", x)
    bx = beta * x
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never exponentiates a large positive number
    smooth = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta
    out = np.where(bx > threshold, x, smooth).astype(x.dtype, copy=False)
    return out, (x, beta, threshold)


def softplus_backward(dout, cache):
    """Gradient of softplus: ``dout * sigmoid(beta * x)``, or ``dout`` above the threshold.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``(x, beta, threshold)`` from :func:`softplus_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = softplus_forward(np.array([0.0, 30.0]))
        >>> softplus_backward(np.ones(2), cache)
        array([0.5, 1. ])
    """
    x, beta, threshold = cache
    bx = beta * x
    grad = np.where(bx > threshold, 1, sigmoid(bx))
    return (dout * grad).astype(x.dtype, copy=False)


def hard_tanh_forward(x, min_val: float = -1.0, max_val: float = 1.0):
    """Hard tanh: ``x`` clipped to ``[min_val, max_val]``.

    Args:
        x: any shape.
        min_val, max_val: the clipping range (``min_val < max_val``).

    Returns:
        out: same shape as ``x``; cache: ``(x, min_val, max_val)``.

    Example:
        >>> hard_tanh_forward(np.array([-3.0, 0.5, 3.0]))[0]
        array([-1. ,  0.5,  1. ])
    """
    if not min_val < max_val:
        raise ValueError(f"hard_tanh: min_val must be below max_val, got min_val={min_val}, max_val={max_val}")
    x = as_float_array("x", x)
    return np.clip(x, min_val, max_val).astype(x.dtype, copy=False), (x, min_val, max_val)


def hard_tanh_backward(dout, cache):
    """Gradient of hard tanh: ``dout`` strictly inside the range, 0 outside and at the edges (as torch).

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``(x, min_val, max_val)`` from :func:`hard_tanh_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = hard_tanh_forward(np.array([-3.0, 0.5, 1.0]))
        >>> hard_tanh_backward(np.ones(3), cache)
        array([0., 1., 0.])
    """
    x, lo, hi = cache
    return np.where((x > lo) & (x < hi), dout, 0).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- squashing
def sigmoid(x, out=None):
    """Numerically stable logistic function ``1 / (1 + exp(-x))`` (no overflow at |x| = 1e4).

    Args:
        x: any shape.
        out: optional array to write the result into; it may be ``x`` itself (the LSTM and
            GRU apply the gate nonlinearity in place on their pre-activations).

    Returns:
        Array shaped like ``x`` with values in [0, 1] (a float32 input stays float32).

    Example:
        >>> sigmoid(np.array([-1e4, 0.0, 1e4]))
        array([0. , 0.5, 1. ])
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    # 1 / (1 + exp(-x)) in place, four passes and no temporaries. It keeps full relative
    # precision in both tails: for x << 0, exp(-x) is large and exact to rounding, and when
    # it overflows to inf (x < -88 in float32, -709 in float64) the result is exactly 0;
    # for x >> 0, exp(-x) underflows harmlessly to 0 and the result is 1.
    if out is None:
        out = np.empty_like(x)
    np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def sigmoid_forward(x):
    """Logistic sigmoid, elementwise.

    Args:
        x: any shape.

    Returns:
        out: same shape as ``x``, values in [0, 1]; cache: ``out``.

    Example:
        >>> sigmoid_forward(np.array([0.0]))[0]
        array([0.5])
    """
    x = as_float_array("x", x)
    out = sigmoid(x).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(dout, cache):
    """Gradient of the sigmoid: ``dout * s * (1 - s)`` with ``s`` the forward output.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``s = sigmoid(x)`` from :func:`sigmoid_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = sigmoid_forward(np.array([0.0]))
        >>> sigmoid_backward(np.ones(1), cache)
        array([0.25])
    """
    s = cache
    return (dout * s * (1 - s)).astype(s.dtype, copy=False)


def tanh_forward(x):
    """Hyperbolic tangent, elementwise.

    Args:
        x: any shape.

    Returns:
        out: same shape as ``x``, values in [-1, 1]; cache: ``out``.

    Example:
        >>> tanh_forward(np.array([0.0]))[0]
        array([0.])
    """
    x = as_float_array("x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Gradient of tanh: ``dout * (1 - tanh(x)**2)``.

    Args:
        dout: upstream gradient, shape of ``x``.
        cache: ``tanh(x)`` from :func:`tanh_forward`.

    Returns:
        dx: same shape as ``x``.

    Example:
        >>> _, cache = tanh_forward(np.array([0.0]))
        >>> tanh_backward(np.array([2.0]), cache)
        array([2.])
    """
    t = cache
    return (dout * (1 - t * t)).astype(t.dtype, copy=False)


# ----------------------------------------------------------------------------- maxout
def maxout_forward(x, w, b):
    """Maxout unit: the maximum over ``k`` affine pieces, ``out = max_k (x @ w[k] + b[k])``.

    Args:
        x: inputs, shape (N, d1, ..., dk) flattened to (N, D).
        w: weights, shape (k, D, M): one (D, M) affine map per piece.
        b: biases, shape (k, M).

    Returns:
        out: shape (N, M).
        cache: for :func:`maxout_backward`.

    Example:
        >>> w = np.stack([np.eye(2), -np.eye(2)])  # max(x, -x) = |x|
        >>> maxout_forward(np.array([[-3.0, 2.0]]), w, np.zeros((2, 2)))[0]
        array([[3., 2.]])
    """
    x = as_float_array("x", x)
    w = as_float_array("w", w)
    b = as_float_array("b", b)
    x2 = _flat_rows("x", x)  # (N, D)
    check_ndim("w", w, 3, "(k, D, M)")
    k, D, M = w.shape
    if D != x2.shape[1]:
        raise ValueError(
            f"maxout_forward: x of shape {tuple(x.shape)} flattens to D = {x2.shape[1]} features, so w must have "
            f"shape (k, {x2.shape[1]}, M), got {tuple(w.shape)}"
        )
    if b.shape != (k, M):
        raise ValueError(f"maxout_forward: b must have shape ({k}, {M}) to match w {tuple(w.shape)}, got {b.shape}")
    z = np.einsum("nd,kdm->knm", x2, w) + b[:, None, :]  # (k, N, M)
    idx = np.argmax(z, axis=0)  # (N, M): the winning piece
    out = np.take_along_axis(z, idx[None], axis=0)[0]
    return out, (x, w, idx)


def maxout_backward(dout, cache):
    """Backward pass of :func:`maxout_forward`: the gradient flows only through the winning piece.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: from :func:`maxout_forward`.

    Returns:
        dx: shaped like ``x``; dw: (k, D, M); db: (k, M).

    Example:
        >>> w = np.stack([np.eye(2), -np.eye(2)])
        >>> _, cache = maxout_forward(np.array([[-3.0, 2.0]]), w, np.zeros((2, 2)))
        >>> maxout_backward(np.ones((1, 2)), cache)[0]   # d|x|/dx = sign(x)
        array([[-1.,  1.]])
    """
    x, w, idx = cache
    x2 = _flat_rows("x", x)
    k = w.shape[0]
    mask = idx[None] == np.arange(k)[:, None, None]  # (k, N, M)
    dz = mask * dout[None]  # (k, N, M)
    dx = np.einsum("knm,kdm->nd", dz, w).reshape(x.shape)
    dw = np.einsum("nd,knm->kdm", x2, dz)
    db = dz.sum(axis=1)
    dt = np.result_type(x, w)
    return dx.astype(dt, copy=False), dw.astype(dt, copy=False), db.astype(dt, copy=False)
