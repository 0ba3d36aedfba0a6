"""Reference code of the grader's demo lab (lab 97), used by the grading tests and docs.

It stands in for a real lab's library functions so the grader can be tested on its own:
the demo spec (``tests/grading/fixtures/lab97_spec.py``) grades these four exercises. Like a
real library it also holds the reference elsewhere (a registry, a class attribute, a copy
under another name): the grader's tests check that none of these routes reaches it.
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x) elementwise. Shape: any -> same."""
    return np.maximum(x, 0.0)


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """out = x.reshape(N, D) @ w + b. Shapes: x (N, d1, ...), w (D, M), b (M,) -> out (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def softmax_loss(x: np.ndarray, y: np.ndarray):
    """Mean cross-entropy of logits x (N, C) and labels y (N,); returns (loss, dx)."""
    z = x - x.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_p[np.arange(n), y].mean()
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1.0
    return float(loss), dx / n


def rectify(x: np.ndarray) -> np.ndarray:
    """The same function under another name (libraries often keep such aliases)."""
    return np.maximum(x, 0.0)


#: Activations by name, as layer builders look them up.
ACTIVATIONS = {"relu": relu}


class Dense:
    """An affine layer with an activation held as a class attribute."""

    activation = staticmethod(relu)


class Scale:
    """Multiplies its input by a fixed factor."""

    def __init__(self, factor: float):
        self.factor = factor

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.factor * x
