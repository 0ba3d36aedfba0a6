"""Graded exercises of lab 07 (from NumPy to PyTorch).

The student writes torch code; the references are the course's NumPy layers
(``i2dl_lab.nn.functional``), so passing means the two implementations agree.
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


def _plain(value):
    """torch tensors / numbers / tuples of them -> NumPy float64 (what the comparison sees)."""
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


# ---------------------------------------------------------------- autograd of a two-layer net
def ref_two_layer(X, y, W1, b1, W2, b2):
    """Loss and gradients of affine - ReLU - affine - softmax cross-entropy, by hand in NumPy."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    h, c1 = F.affine_forward(X, W1, b1)
    a, c2 = F.relu_forward(h)
    s, c3 = F.affine_forward(a, W2, b2)
    loss, ds = F.softmax_loss(s, y)
    da, dW2, db2 = F.affine_backward(ds, c3)
    dh = F.relu_backward(da, c2)
    _, dW1, db1 = F.affine_backward(dh, c1)
    return float(loss), dW1, db1, dW2, db2


def drive_plain(obj, *args):
    return _plain(obj(*_copies(args)))


def two_layer_cases(rng):
    cases = []
    for N, D, H, C in [(4, 3, 5, 3), (10, 6, 8, 4), (1, 2, 3, 2)]:
        cases.append((rng.standard_normal((N, D)), rng.integers(0, C, N), 0.5 * rng.standard_normal((D, H)),
                      0.1 * rng.standard_normal(H), 0.5 * rng.standard_normal((H, C)), 0.1 * rng.standard_normal(C)))
    return cases


# ---------------------------------------------------------------- residual block
def ref_residual_block(x, w1, b1, w2, b2):
    """relu(x + conv(relu(conv(x, w1, b1)), w2, b2)) with 3x3 'same' convolutions, in NumPy."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    same = {"stride": 1, "pad": 1}
    h, _ = F.conv_forward(x, w1, b1, same)
    h = np.maximum(h, 0.0)
    r, _ = F.conv_forward(h, w2, b2, same)
    return np.maximum(x + r, 0.0)


def residual_cases(rng):
    cases = []
    for N, C, S in [(2, 3, 5), (1, 4, 6), (3, 2, 4)]:
        cases.append((rng.standard_normal((N, C, S, S)), 0.4 * rng.standard_normal((C, C, 3, 3)),
                      0.1 * rng.standard_normal(C), 0.4 * rng.standard_normal((C, C, 3, 3)),
                      0.1 * rng.standard_normal(C)))
    return cases


EXERCISES = [
    Exercise("autograd_two_layer", "two_layer_torch", 4, ref_two_layer, two_layer_cases, driver=drive_plain,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a two-layer network's gradients with torch autograd"),
    Exercise("residual_block", "residual_block_torch", 3, ref_residual_block, residual_cases, driver=drive_plain,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a residual block in torch"),
]
