"""Graded exercises of lab 03 (backpropagation).

The layer exercises follow the CS231n contract: ``affine_forward(x, w, b) -> (out, cache)``
with ``cache = (x, w, b)``, ``relu_forward(x) -> (out, cache)`` with ``cache = x``. The
drivers return only ``out`` of a forward pass, and build the documented cache themselves for
a backward pass, so a backward exercise is graded on its own (a wrong forward cannot sink it).
"""

from __future__ import annotations

import numpy as np

from ...nn import functional as F  # noqa: N812 - the documented alias
from ...nn.losses import svm_loss
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


def prelu_backward_driver(fn, dout, x, alpha):
    """``prelu_backward(dout, cache=(x, alpha)) -> (dx, dalpha)``."""
    return fn(dout, (x, alpha))


def drill_driver(fn, x, t, params, lr):
    """``fn(x, t, params, lr) -> (out, loss, new_params)``; ``params`` must not be modified."""
    before = {k: v.copy() for k, v in params.items()}
    out, loss, new_params = fn(x, t, params, lr)
    for k in before:
        if not np.array_equal(before[k], params[k]):
            raise ValueError(f"params[{k!r}] was modified in place; return updated copies instead")
    return np.asarray(out), float(loss), {k: np.asarray(v) for k, v in new_params.items()}


# ----------------------------------------------------------------------------- references


def reference_prelu_backward(dout, cache):
    """(dx, dalpha) of PReLU for the lab's cache ``(x, alpha)``."""
    x, alpha = cache
    return F.prelu_backward(dout, F.prelu_forward(x, alpha)[1])


def reference_mse_backprop_step(x, t, params, lr):
    """affine - ReLU - affine with loss ``1/(2N) * sum (out - t)^2``; one gradient-descent step.

    Returns the outputs before the step, the loss and the updated parameters (new arrays).
    """
    h, c1 = F.affine_forward(x, params["W1"], params["b1"])
    a, c2 = F.relu_forward(h)
    out, c3 = F.affine_forward(a, params["W2"], params["b2"])
    N = x.shape[0]
    loss = 0.5 * float(np.sum((out - t) ** 2)) / N
    da, dW2, db2 = F.affine_backward((out - t) / N, c3)
    _, dW1, db1 = F.affine_backward(F.relu_backward(da, c2), c1)
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    return out, loss, {k: params[k] - lr * grads[k] for k in params}


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


def _prelu_forward_cases(rng):
    return [(rng.standard_normal((5, 4)), rng.uniform(0, 0.5, 4)), (rng.standard_normal((3, 6)), np.array([0.25])),
            (np.array([[-2.0, 0.0, 3.0]]), np.array([0.1, 0.2, 0.3]))]


def _prelu_backward_cases(rng):
    out = []
    for shape, shared in [((5, 4), False), ((3, 6), True), ((8, 2), False)]:
        x = rng.standard_normal(shape)
        alpha = np.array([rng.uniform(0, 0.5)]) if shared else rng.uniform(0, 0.5, shape[1])
        out.append((rng.standard_normal(shape), x, alpha))
    return out


def _svm_cases(rng):
    return [(rng.standard_normal((6, 4)), rng.integers(0, 4, 6)),
            (3.0 * rng.standard_normal((10, 5)), rng.integers(0, 5, 10)),
            (np.array([[2.0, 4.1, -0.5], [1.0, 1.0, 1.0]]), np.array([0, 2]))]  # a worked example, and ties


def _drill_cases(rng):
    exam = ({"W1": np.array([[1.0, -0.5], [0.5, -1.0]]), "b1": np.array([0.5, -0.5]),
             "W2": np.array([[0.5, -1.0], [-0.5, 1.0]]), "b2": np.array([-1.0, 0.5])})
    out = [(np.array([[2.0, -1.0]]), np.array([[1.0, 0.5]]), exam, 0.1)]
    for n, d, h, c in [(4, 3, 5, 2), (1, 2, 3, 3)]:
        params = {"W1": rng.standard_normal((d, h)), "b1": rng.standard_normal(h),
                  "W2": rng.standard_normal((h, c)), "b2": rng.standard_normal(c)}
        out.append((rng.standard_normal((n, d)), rng.standard_normal((n, c)), params, float(rng.uniform(0.01, 0.5))))
    return out


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
    Exercise("prelu_forward", "prelu_forward", 1, F.prelu_forward, _prelu_forward_cases, driver=forward_out,
             title="PReLU: forward"),
    Exercise("prelu_backward", "prelu_backward", 2, reference_prelu_backward, _prelu_backward_cases,
             driver=prelu_backward_driver, compare=allclose(rtol=1e-6, atol=1e-10),
             title="PReLU: backward (dx and the slope's gradient)"),
    Exercise("svm_loss", "svm_loss", 3, svm_loss, _svm_cases, compare=allclose(rtol=1e-6, atol=1e-10),
             title="multiclass SVM (hinge) loss and gradient"),
    Exercise("mse_backprop_step", "mse_backprop_step", 3, reference_mse_backprop_step, _drill_cases,
             driver=drill_driver, compare=allclose(rtol=1e-6, atol=1e-10),
             title="a small ReLU network with a squared error: one gradient-descent step"),
    Exercise("two_layer_net", "two_layer_net", 4, reference_two_layer_net, _two_layer_cases,
             compare=allclose(rtol=1e-6, atol=1e-10), title="two-layer network: loss and gradients"),
]
