"""Graded exercises of lab 03 (backpropagation).

The layer exercises follow the CS231n contract: ``affine_forward(x, w, b) -> (out, cache)``
with ``cache = (x, w, b)``, ``relu_forward(x) -> (out, cache)`` with ``cache = x``. The
drivers return only ``out`` of a forward pass, and build the documented cache themselves for
a backward pass, so a backward exercise is graded on its own (a wrong forward cannot sink it).
"""

from __future__ import annotations

import numpy as np

from ...nn import functional as F  # noqa: N812 - the documented alias
from ..spec import Exercise, allclose

# ----------------------------------------------------------------------------- drivers


def forward_out(fn, *args):
    """Run a forward pass ``fn(*args) -> (out, cache)`` and keep ``out``."""
    result = fn(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"a forward pass must return the pair (out, cache), got {type(result).__name__}")
    return result[0]


def affine_backward_driver(fn, dout, x, w, b):
    """``affine_backward(dout, cache=(x, w, b)) -> (dx, dw, db)``."""
    return fn(dout, (x, w, b))


def relu_backward_driver(fn, dout, x):
    """``relu_backward(dout, cache=x) -> dx``."""
    return fn(dout, x)


# ----------------------------------------------------------------------------- references


def reference_two_layer_net(X, y, params, reg):
    """Loss and gradients of affine - ReLU - affine - softmax with ``0.5 * reg * ||W||^2`` on W1, W2."""
    h, c1 = F.affine_forward(X, params["W1"], params["b1"])
    a, c2 = F.relu_forward(h)
    scores, c3 = F.affine_forward(a, params["W2"], params["b2"])
    loss, dscores = F.softmax_loss(scores, y)
    loss += 0.5 * reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    da, dW2, db2 = F.affine_backward(dscores, c3)
    dh = F.relu_backward(da, c2)
    _, dW1, db1 = F.affine_backward(dh, c1)
    grads = {"W1": dW1 + reg * params["W1"], "b1": db1, "W2": dW2 + reg * params["W2"], "b2": db2}
    return float(loss), grads


# ----------------------------------------------------------------------------- cases


def _affine_args(rng, shape_x, m):
    x = rng.standard_normal(shape_x)
    d = int(np.prod(shape_x[1:]))
    return x, rng.standard_normal((d, m)), rng.standard_normal(m)


def _affine_forward_cases(rng):
    return [_affine_args(rng, (4, 5), 3), _affine_args(rng, (2, 3, 4), 6), _affine_args(rng, (1, 7), 1)]


def _affine_backward_cases(rng):
    out = []
    for shape_x, m in [((4, 5), 3), ((3, 2, 4), 5), ((1, 6), 2)]:
        x, w, b = _affine_args(rng, shape_x, m)
        out.append((rng.standard_normal((shape_x[0], m)), x, w, b))
    return out


def _relu_forward_cases(rng):
    return [(rng.standard_normal((5, 4)),), (rng.standard_normal((2, 3, 4)),), (np.array([-2.0, -0.5, 0.5, 3.0]),)]


def _relu_backward_cases(rng):
    out = []
    for shape in [(5, 4), (2, 3, 4), (7,)]:
        out.append((rng.standard_normal(shape), rng.standard_normal(shape)))
    return out


def _softmax_cases(rng):
    return [
        (rng.standard_normal((6, 4)), rng.integers(0, 4, 6)),
        (3.0 * rng.standard_normal((10, 10)), rng.integers(0, 10, 10)),
        (np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]]), np.array([1, 2])),  # must not overflow
    ]


def _net_case(rng, n, d, h, c, reg):
    params = {
        "W1": 0.5 * rng.standard_normal((d, h)), "b1": 0.1 * rng.standard_normal(h),
        "W2": 0.5 * rng.standard_normal((h, c)), "b2": 0.1 * rng.standard_normal(c),
    }
    return rng.standard_normal((n, d)), rng.integers(0, c, n), params, reg


def _two_layer_cases(rng):
    return [_net_case(rng, 5, 4, 6, 3, 0.0), _net_case(rng, 8, 3, 10, 4, 0.1), _net_case(rng, 2, 6, 5, 2, 1.0)]


EXERCISES = [
    Exercise("affine_forward", "affine_forward", 2, F.affine_forward, _affine_forward_cases,
             driver=forward_out, title="affine layer: forward"),
    Exercise("affine_backward", "affine_backward", 3, F.affine_backward, _affine_backward_cases,
             driver=affine_backward_driver, title="affine layer: backward (dx, dw, db)"),
    Exercise("relu_forward", "relu_forward", 1, F.relu_forward, _relu_forward_cases,
             driver=forward_out, title="ReLU: forward"),
    Exercise("relu_backward", "relu_backward", 1, F.relu_backward, _relu_backward_cases,
             driver=relu_backward_driver, title="ReLU: backward"),
    Exercise("softmax_loss", "softmax_loss", 3, F.softmax_loss, _softmax_cases,
             compare=allclose(rtol=1e-6, atol=1e-10), title="softmax cross-entropy loss and gradient"),
    Exercise("two_layer_net", "two_layer_net", 4, reference_two_layer_net, _two_layer_cases,
             compare=allclose(rtol=1e-6, atol=1e-10), title="two-layer network: loss and gradients"),
]
