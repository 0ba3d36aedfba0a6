"""Graded exercises of lab 10 (recurrent networks and LSTMs).

References are the library's recurrent layers (``i2dl_lab.nn.functional``), whose
gradients are checked numerically and against torch in the library's own tests.
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose


def _rnn_params(rng, N, T, D, H, scale=0.5):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            scale * rng.standard_normal((D, H)), scale * rng.standard_normal((H, H)), 0.1 * rng.standard_normal(H))


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- RNN forward
def ref_rnn_forward(x, h0, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.rnn_forward(x, h0, Wx, Wh, b)[0]


def drive_first(obj, *args):
    res = obj(*_copies(args))
    return res[0] if isinstance(res, tuple) else res


def rnn_forward_cases(rng):
    return [_rnn_params(rng, 2, 4, 3, 5), _rnn_params(rng, 1, 1, 2, 3), _rnn_params(rng, 3, 6, 4, 2, scale=2.0)]


# ---------------------------------------------------------------- BPTT
def ref_rnn_bptt(dh, x, h0, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    _, cache = F.rnn_forward(x, h0, Wx, Wh, b)
    # a copy: the library's rnn_backward may write into dh when its time-major view is contiguous
    return tuple(F.rnn_backward(np.array(dh, copy=True), cache))


def drive_tuple(obj, *args):
    """Call on copies, so that neither side can change the inputs the other one sees."""
    return tuple(obj(*_copies(args)))


def bptt_cases(rng):
    cases = []
    for N, T, D, H in [(2, 4, 3, 5), (1, 1, 2, 3), (3, 7, 2, 4)]:
        x, h0, Wx, Wh, b = _rnn_params(rng, N, T, D, H)
        dh = rng.standard_normal((N, T, H))
        cases.append((dh, x, h0, Wx, Wh, b))
    # a loss on the last step only: the gradient must still reach every earlier step
    x, h0, Wx, Wh, b = _rnn_params(rng, 2, 5, 3, 3)
    dh = np.zeros((2, 5, 3))
    dh[:, -1] = rng.standard_normal((2, 3))
    cases.append((dh, x, h0, Wx, Wh, b))
    return cases


# ---------------------------------------------------------------- gradient clipping
def ref_clip(grads, max_norm):
    """The library's torch-compatible clipping, returning the clipped dict."""
    from i2dl_lab.nn.optim import clip_grad_norm

    clipped = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
    clip_grad_norm(clipped, max_norm)
    return clipped


def drive_clip(obj, grads, max_norm):
    copies = {k: v.copy() for k, v in grads.items()}
    out = obj(copies, max_norm)
    return {k: np.asarray(v) for k, v in out.items()}


def clip_cases(rng):
    big = {"Wx": 10 * rng.standard_normal((3, 4)), "Wh": 10 * rng.standard_normal((4, 4)), "b": rng.standard_normal(4)}
    small = {"W": 1e-3 * rng.standard_normal((2, 2)), "b": np.zeros(2)}
    one = {"w": np.array([3.0, 4.0])}  # norm 5
    return [(big, 5.0), (small, 1.0), (one, 1.0), (one, 10.0)]


# ---------------------------------------------------------------- LSTM step
def ref_lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    next_h, next_c, _ = F.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    return next_h, next_c


def drive_lstm(obj, *args):
    res = obj(*_copies(args))
    return (res[0], res[1])


def lstm_cases(rng):
    cases = []
    for N, D, H in [(2, 3, 4), (1, 5, 2), (4, 2, 3)]:
        cases.append((rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
                      rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)))
    return cases


# ---------------------------------------------------------------- temperature
def ref_temperature_softmax(logits, temperature):
    """softmax(logits / T) along the last axis, stable for large logits."""
    from i2dl_lab.nn.losses import softmax

    return softmax(np.asarray(logits, float) / temperature, axis=-1)


def temperature_cases(rng):
    return [(rng.standard_normal(6), 1.0), (rng.standard_normal((3, 5)), 0.5), (rng.standard_normal(4), 5.0),
            (np.array([1e4, 0.0, -1e4]), 0.1), (np.array([2.0, 1.0, 0.0]), 1e-3)]


EXERCISES = [
    Exercise("rnn_forward", "rnn_forward", 2, ref_rnn_forward, rnn_forward_cases, driver=drive_first,
             title="vanilla RNN forward over a sequence"),
    Exercise("rnn_bptt", "rnn_bptt", 4, ref_rnn_bptt, bptt_cases, driver=drive_tuple,
             compare=allclose(rtol=1e-6, atol=1e-9), title="backpropagation through time"),
    Exercise("clip_grad_norm", "clip_grad_norm", 2, ref_clip, clip_cases, driver=drive_clip,
             compare=allclose(rtol=1e-5, atol=1e-9), title="gradient clipping by global norm"),
    Exercise("lstm_step", "lstm_step_forward", 3, ref_lstm_step, lstm_cases, driver=drive_lstm,
             title="one LSTM step"),
    Exercise("temperature", "softmax_with_temperature", 1, ref_temperature_softmax, temperature_cases,
             title="softmax with temperature"),
]
