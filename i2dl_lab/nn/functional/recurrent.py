"""Recurrent layers, word embeddings and the temporal (per-time-step) layers.

Every function follows the CS231n contract: ``out, cache = f_forward(...)`` and
``d_inputs... = f_backward(dout, cache)``. Sequences are batch-first, ``(N, T, D)``:
N sequences, T time steps, D input features; H is the hidden size, V the vocabulary.

Weights act on row vectors (``x @ Wx``), as in CS231n, so ``Wx`` is ``(D, k*H)`` and
``Wh`` is ``(H, k*H)`` with the k gate blocks side by side. ``torch.nn.RNN/LSTM/GRU``
store the transposes (``weight_ih_l0`` is ``(k*H, D)``) and two biases; see
:func:`lstm_weights_from_torch` and :func:`gru_weights_from_torch` for the mapping.

Gate orders:

* LSTM: ``i, f, o, g`` (input, forget, output, candidate), as CS231n. torch uses
  ``i, f, g, o``: the last two blocks swap when copying weights.
* GRU: ``r, z, n`` (reset, update, new), exactly torch's formulation::

      r = sigmoid(x Wx_r + bx_r + h Wh_r + bh_r)
      z = sigmoid(x Wx_z + bx_z + h Wh_z + bh_z)
      n = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n))   # reset applied AFTER Wh_n
      h' = (1 - z) * n + z * h

  Because the reset gate multiplies ``h Wh_n + bh_n``, the hidden bias of the ``n`` block
  cannot be folded into the input bias, so GRUs take two biases ``bx`` and ``bh`` (3H each).
  (Cho et al. apply ``r`` before the matrix, ``(r * h) Wh_n``; the two differ slightly.)

All sequence functions keep the dtype of their inputs (float32 stays float32).
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float_array, check_ndim, check_shape
from ..losses import log_softmax
from .core import sigmoid

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
    "lstm_weights_from_torch",
    "gru_weights_from_torch",
]


# ----------------------------------------------------------------------------- helpers
def _float(name, x):
    return as_float_array(name, x)


def _check_weights(Wx, Wh, b, gates: int, what: str, bias_name: str = "b"):
    """Validate ``Wx (D, gates*H)``, ``Wh (H, gates*H)``, ``b (gates*H,)``; return D, H."""
    check_ndim("Wx", Wx, 2, f"(D, {gates}*H) for the {what}")
    check_ndim("Wh", Wh, 2, f"(H, {gates}*H) for the {what}")
    H = Wh.shape[0]
    if Wh.shape[1] != gates * H:
        raise ValueError(
            f"Wh must have shape (H, {gates}*H) for the {what}; with H={H} from its first "
            f"dimension that is {(H, gates * H)}, got {Wh.shape}"
        )
    check_shape("Wx", Wx, (None, gates * H), f"(D, {gates}*H) with hidden size H={H} from Wh")
    check_shape(bias_name, b, (gates * H,), f"({gates}*H,) with hidden size H={H} from Wh")
    return Wx.shape[0], H


def _check_sequence(x, D: int) -> tuple[int, int]:
    check_ndim("x", x, 3, "(N, T, D): a batch of sequences")
    N, T, Dx = x.shape
    if T == 0:
        raise ValueError(f"x must hold at least one time step, got sequence length T=0 (shape {x.shape})")
    if N == 0:
        raise ValueError(f"x must hold at least one sequence, got N=0 (shape {x.shape})")
    if Dx != D:
        raise ValueError(f"x must have D={D} features to match Wx of shape ({D}, ...), got shape {x.shape}")
    return N, T


def _check_state(name: str, h, N: int, H: int) -> None:
    check_shape(name, h, (N, H), f"(N, H) = ({N}, {H}): one hidden state of size H={H} per sequence")


def _time_major_projection(x, Wx, b):
    """All time steps' input projections in one matmul: (N, T, D) -> (T, N, k*H)."""
    N, T, D = x.shape
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(T * N, D)  # (T*N, D)
    xw = xt @ Wx  # (T*N, k*H)
    xw += b
    return xt, xw.reshape(T, N, -1)  # (T, N, k*H)


# ----------------------------------------------------------------------------- vanilla RNN
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One step of a tanh RNN: ``next_h = tanh(x @ Wx + prev_h @ Wh + b)``.

    Args:
        x: inputs at this step, shape (N, D).
        prev_h: previous hidden state, shape (N, H).
        Wx: input-to-hidden weights, shape (D, H).
        Wh: hidden-to-hidden weights, shape (H, H).
        b: bias, shape (H,).

    Returns:
        next_h: shape (N, H); cache: what :func:`rnn_step_backward` needs.

    Example:
        >>> h, _ = rnn_step_forward(np.ones((2, 3)), np.zeros((2, 4)), np.zeros((3, 4)), np.eye(4), np.zeros(4))
        >>> h.shape
        (2, 4)
    """
    x, prev_h, Wx, Wh, b = (_float(n, a) for n, a in zip(("x", "prev_h", "Wx", "Wh", "b"), (x, prev_h, Wx, Wh, b)))
    D, H = _check_weights(Wx, Wh, b, 1, "RNN")
    check_shape("x", x, (None, D), f"(N, D) with D={D} from Wx")
    _check_state("prev_h", prev_h, x.shape[0], H)
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of :func:`rnn_step_forward`.

    Args:
        dnext_h: upstream gradient of the new hidden state, shape (N, H).
        cache: from the forward pass.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    check_shape("dnext_h", dnext_h, next_h.shape, "(N, H) like the hidden state")
    da = dnext_h * (1.0 - next_h * next_h)  # tanh' = 1 - tanh^2
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Run a tanh RNN over whole sequences.

    Args:
        x: inputs, shape (N, T, D), T >= 1.
        h0: initial hidden state, shape (N, H).
        Wx: (D, H); Wh: (H, H); b: (H,).

    Returns:
        h: every hidden state, shape (N, T, H) (``h[:, -1]`` is the last one); cache.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> h, _ = rnn_forward(rng.normal(size=(2, 5, 3)), np.zeros((2, 4)),
        ...                    rng.normal(size=(3, 4)), rng.normal(size=(4, 4)), np.zeros(4))
        >>> h.shape
        (2, 5, 4)
    """
    x, h0, Wx, Wh, b = (_float(n, a) for n, a in zip(("x", "h0", "Wx", "Wh", "b"), (x, h0, Wx, Wh, b)))
    D, H = _check_weights(Wx, Wh, b, 1, "RNN")
    N, T = _check_sequence(x, D)
    _check_state("h0", h0, N, H)
    xt, a = _time_major_projection(x, Wx, b)  # a: (T, N, H) pre-activations
    prev = h0
    for t in range(T):
        a[t] += prev @ Wh
        np.tanh(a[t], out=a[t])  # a now holds h, time-major
        prev = a[t]
    h_tm = a  # (T, N, H)
    # np.array copies even when N or T is 1 (where the transpose is already contiguous and
    # ascontiguousarray would hand back a view): outputs and buffers must not alias the cache.
    h = np.array(h_tm.transpose(1, 0, 2), order="C")  # (N, T, H)
    return h, (xt, h0, Wx, Wh, h_tm, N, T)


def rnn_backward(dh, cache):
    """Backward pass of :func:`rnn_forward` (full backpropagation through time).

    Args:
        dh: upstream gradient of every hidden state, shape (N, T, H) (zeros where a step
            feeds no loss).
        cache: from the forward pass.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    xt, h0, Wx, Wh, h_tm, N, T = cache
    H = Wh.shape[0]
    check_shape("dh", dh, (N, T, H), "(N, T, H): the gradient of every hidden state")
    da = np.array(np.transpose(dh, (1, 0, 2)), dtype=h_tm.dtype, order="C")  # (T, N, H), a copy: updated in place
    carry = np.zeros((N, H), dtype=h_tm.dtype)
    for t in range(T - 1, -1, -1):
        da[t] += carry
        da[t] *= 1.0 - h_tm[t] * h_tm[t]
        carry = da[t] @ Wh.T
    da2 = da.reshape(T * N, H)
    h_prev = np.concatenate([h0[None], h_tm[:-1]], axis=0).reshape(T * N, H)  # (T*N, H)
    dx = (da2 @ Wx.T).reshape(T, N, -1).transpose(1, 0, 2)
    return np.ascontiguousarray(dx), carry, xt.T @ da2, h_prev.T @ da2, da2.sum(axis=0)


# ----------------------------------------------------------------------------- LSTM
def _lstm_gates(a, H):
    """In place: sigmoid on the i, f, o blocks, tanh on the g block of (N, 4H) ``a``."""
    sigmoid(a[:, : 3 * H], out=a[:, : 3 * H])
    np.tanh(a[:, 3 * H :], out=a[:, 3 * H :])
    return a


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step, gate order ``i, f, o, g`` (CS231n)::

        a = x @ Wx + prev_h @ Wh + b                 # (N, 4H)
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2H]), sigmoid(a[:, 2H:3H])
        g = tanh(a[:, 3H:])
        next_c = f * prev_c + i * g;  next_h = o * tanh(next_c)

    Args:
        x: (N, D); prev_h: (N, H); prev_c: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns:
        next_h (N, H), next_c (N, H), cache.

    Example:
        >>> z = np.zeros
        >>> h, c, _ = lstm_step_forward(z((2, 3)), z((2, 4)), z((2, 4)), z((3, 16)), z((4, 16)), z(16))
        >>> float(h.sum()), float(c.sum())
        (0.0, 0.0)
    """
    names = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")
    x, prev_h, prev_c, Wx, Wh, b = (_float(n, a) for n, a in zip(names, (x, prev_h, prev_c, Wx, Wh, b)))
    D, H = _check_weights(Wx, Wh, b, 4, "LSTM (gates i, f, o, g)")
    check_shape("x", x, (None, D), f"(N, D) with D={D} from Wx")
    _check_state("prev_h", prev_h, x.shape[0], H)
    _check_state("prev_c", prev_c, x.shape[0], H)
    gates = _lstm_gates(x @ Wx + prev_h @ Wh + b, H)
    i, f, o, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    next_c = f * prev_c + i * g
    tc = np.tanh(next_c)
    next_h = o * tc
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, gates, tc)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of :func:`lstm_step_forward`.

    Args:
        dnext_h: gradient of ``next_h``, shape (N, H).
        dnext_c: gradient of ``next_c`` from later steps, shape (N, H).
        cache: from the forward pass.

    Returns:
        dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, gates, tc = cache
    H = Wh.shape[0]
    check_shape("dnext_h", dnext_h, prev_h.shape, "(N, H) like the hidden state")
    check_shape("dnext_c", dnext_c, prev_c.shape, "(N, H) like the cell state")
    i, f, o, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    dc = dnext_c + dnext_h * o * (1 - tc * tc)  # next_c reaches the loss directly and through next_h
    da = np.concatenate([dc * g * i * (1 - i),  # through sigmoid' = s (1 - s) and tanh' = 1 - t^2
                         dc * prev_c * f * (1 - f),
                         dnext_h * tc * o * (1 - o),
                         dc * i * (1 - g * g)], axis=1)  # (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _stacked_inputs(x, h0, T, D, H, dtype):
    """Feature-major step inputs ``z (D + 1 + H, T + 1, N)``: ``z[:, t] = [x_t; 1; h_{t-1}]``.

    The loop writes ``h_t`` straight into ``z[D + 1 :, t + 1]``, so one GEMM with the
    stacked weights ``[Wx; b; Wh]^T`` gives a step's pre-activations: input, recurrence and
    bias together, summed in that order as ``x @ Wx + b + h @ Wh`` (BLAS reads the strided
    ``(D + 1 + H, N)`` slice in place). ``z[:, T]``
    only holds the last hidden state. With time and batch adjacent, ``z[:, :T]`` is one
    ``(D + 1 + H, T * N)`` matrix for the weight gradient.
    """
    N = x.shape[0]
    z = np.empty((D + 1 + H, T + 1, N), dtype=dtype)
    z[:D, :T] = x.transpose(2, 1, 0)  # (D, T, N)
    z[D] = 1.0
    z[D + 1 :, 0] = h0.T
    return z


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """Run an LSTM over whole sequences (gate order ``i, f, o, g``).

    Each step is one matrix product ``a_t = W^T @ [x_t; 1; h_{t-1}]`` with the stacked
    weights ``W = [Wx; b; Wh]`` (D + 1 + H, 4H) and seven in-place elementwise passes. The
    loop works feature-major: states are ``(H, N)`` and gates ``(4H, N)``, so every gate
    block is one contiguous array (in the ``(N, 4H)`` layout each block is a strided column
    slice, which NumPy's ufuncs run at half speed). The sigmoid gates use
    ``sigmoid(a) = (1 + tanh(a / 2)) / 2``: with their columns of ``W`` halved, one ``tanh``
    covers all four blocks.

    Args:
        x: inputs, shape (N, T, D), T >= 1.
        h0: initial hidden state, shape (N, H).
        Wx: (D, 4H); Wh: (H, 4H); b: (4H,).
        c0: initial cell state, shape (N, H); zeros when ``None`` (CS231n's convention).

    Returns:
        h: hidden states, shape (N, T, H); cache (the final cell state is ``cache["c_last"]``,
        which a truncated-BPTT loop passes on as the next window's ``c0``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> h, cache = lstm_forward(rng.normal(size=(2, 5, 3)), np.zeros((2, 4)),
        ...                         rng.normal(size=(3, 16)), rng.normal(size=(4, 16)), np.zeros(16))
        >>> h.shape, cache["c_last"].shape
        ((2, 5, 4), (2, 4))
    """
    x, h0, Wx, Wh, b = (_float(n, a) for n, a in zip(("x", "h0", "Wx", "Wh", "b"), (x, h0, Wx, Wh, b)))
    D, H = _check_weights(Wx, Wh, b, 4, "LSTM (gates i, f, o, g)")
    N, T = _check_sequence(x, D)
    _check_state("h0", h0, N, H)
    dtype = np.result_type(x, h0, Wx, Wh, b)
    if c0 is not None:
        c0 = _float("c0", c0)
        _check_state("c0", c0, N, H)
    W = np.concatenate([Wx, b[None], Wh], axis=0).astype(dtype, copy=False)  # (K, 4H), K = D + 1 + H
    W_half = np.ascontiguousarray(W.T)  # (4H, K), rows i, f, o, g
    W_half[: 3 * H] *= 0.5  # pre-activations a / 2 of the sigmoid gates i, f, o
    z = _stacked_inputs(x, h0, T, D, H, dtype)  # (K, T + 1, N)
    # Block t of `cells` holds step t's gates and the cell state it starts from,
    # [i; f; o; g; c_{t-1}], each (H, N). The step writes c_t at the bottom of block t + 1
    # (block T holds only the last cell state). In this order (i, f) and (g, c_{t-1}) are
    # two blocks of the same shape: one product gives i * g and f * c_{t-1}.
    cells = np.empty((T + 1, 5 * H, N), dtype=dtype)
    cells[0, 4 * H :] = 0.0 if c0 is None else c0.T
    tc = np.empty((T, H, N), dtype=dtype)  # tanh(c_t)
    prod = np.empty((2, H, N), dtype=dtype)
    for t in range(T):
        blk = cells[t]
        a = blk[: 4 * H]  # (4H, N): i/2, f/2, o/2, g pre-activations
        # One (H, K) @ (K, N) product per gate block: at N = 32, H = 128 NumPy's OpenBLAS runs
        # four of these (and the backward's four (K, H) @ (H, N)) faster than one over all
        # 4H rows (benchmarks/bench_sequence.py's LSTM case: 1.41 -> 1.33x torch's time).
        for k in range(4):
            np.matmul(W_half[k * H : (k + 1) * H], z[:, t], out=a[k * H : (k + 1) * H])
        np.tanh(a, out=a)
        s = blk[: 3 * H]  # i, f, o: sigmoid = (1 + tanh(a / 2)) / 2
        s *= 0.5
        s += 0.5
        np.multiply(blk[: 2 * H].reshape(2, H, N), blk[3 * H :].reshape(2, H, N), out=prod)  # i * g, f * c_{t-1}
        c_t = np.add(prod[0], prod[1], out=cells[t + 1, 4 * H :])
        np.tanh(c_t, out=tc[t])
        np.multiply(blk[2 * H : 3 * H], tc[t], out=z[D + 1 :, t + 1])  # h = o * tanh(c)
    out = np.array(z[D + 1 :, 1:].transpose(2, 1, 0), order="C")  # (N, T, H)
    cache = {"z": z, "W": W, "cells": cells, "tc": tc, "D": D, "N": N, "T": T,
             "c_last": np.array(cells[T, 4 * H :].T, order="C")}
    return out, cache


def lstm_backward(dh, cache, dc_last=None, return_dc0=False):
    """Backward pass of :func:`lstm_forward` (full backpropagation through time).

    Each step back is the elementwise gate gradients and one matrix product
    ``[dx_t; -; dh_{t-1}] = W @ da_t``; the weight gradients are one product over all
    steps, ``dW = sum_t [x_t; 1; h_{t-1}] @ da_t^T``.

    Args:
        dh: gradient of every hidden state, shape (N, T, H).
        cache: from the forward pass.
        dc_last: optional gradient of the final cell state ``cache["c_last"]``, (N, H).
        return_dc0: also return the gradient of ``c0`` (after ``db``).

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,) [, dc0 (N, H)].

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, Wx, Wh = rng.normal(size=(2, 5, 3)), rng.normal(size=(3, 16)), rng.normal(size=(4, 16))
        >>> h, cache = lstm_forward(x, np.zeros((2, 4)), Wx, Wh, np.zeros(16))
        >>> dx, dh0, dWx, dWh, db = lstm_backward(np.ones_like(h), cache)
        >>> dx.shape, dWh.shape
        ((2, 5, 3), (4, 16))
    """
    z, W, cells, tc = cache["z"], cache["W"], cache["cells"], cache["tc"]
    D, N, T = cache["D"], cache["N"], cache["T"]
    H = tc.shape[1]
    K = D + 1 + H
    check_shape("dh", dh, (N, T, H), "(N, T, H): the gradient of every hidden state")
    dtype = cells.dtype
    dh_fm = np.array(np.transpose(dh, (1, 2, 0)), dtype=dtype, order="C")  # (T, H, N), never a view of dh
    # Each step's gate gradients (4H, N) are contiguous for the elementwise passes; one
    # transposed copy after the loop makes them the (4H, T*N) matrix of the weight gradient
    # (writing each step straight into that layout is a strided write, twice as slow).
    da = np.empty((T, 4 * H, N), dtype=dtype)
    dz = np.empty((T, K, N), dtype=dtype)  # [dx_t; unused; dh_{t-1}]
    dc = np.zeros((H, N), dtype=dtype) if dc_last is None else np.array(np.transpose(dc_last), dtype=dtype, order="C")
    tmp, tmp3, part = np.empty((H, N), dtype=dtype), np.empty((3 * H, N), dtype=dtype), np.empty((K, N), dtype=dtype)
    for t in range(T - 1, -1, -1):
        blk = cells[t]  # [i; f; o; g; c_{t-1}]
        i, f, o, g, s = blk[:H], blk[H : 2 * H], blk[2 * H : 3 * H], blk[3 * H : 4 * H], blk[: 3 * H]
        da_t = da[t]  # rows i, f, o, g
        dh_t = dh_fm[t]
        if t < T - 1:
            dh_t += dz[t + 1, D + 1 :]
        # the cell state's gradient gains dh * o * tanh'(c) = dh * (o - h * tanh(c)), h = o * tanh(c)
        np.multiply(z[D + 1 :, t + 1], tc[t], out=tmp)
        np.subtract(o, tmp, out=tmp)
        tmp *= dh_t
        dc += tmp
        # gradients of the gate outputs: (i, f) get dc * (g, c_{t-1}); o gets dh * tanh(c); g gets dc * i
        np.multiply(dc, blk[3 * H :].reshape(2, H, N), out=da_t[: 2 * H].reshape(2, H, N))
        np.multiply(dh_t, tc[t], out=da_t[2 * H : 3 * H])
        np.multiply(dc, i, out=da_t[3 * H :])
        # through the nonlinearities: sigmoid' = s - s^2, tanh' = 1 - g^2
        np.multiply(s, s, out=tmp3)
        np.subtract(s, tmp3, out=tmp3)
        da_t[: 3 * H] *= tmp3
        np.multiply(g, g, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        da_t[3 * H :] *= tmp
        dc *= f  # the gradient reaching c_{t-1}
        np.matmul(W[:, :H], da_t[:H], out=dz[t])  # W @ da_t, one product per gate block as forward
        for k in range(1, 4):
            np.matmul(W[:, k * H : (k + 1) * H], da_t[k * H : (k + 1) * H], out=part)
            dz[t] += part
    da_gm = np.ascontiguousarray(da.transpose(1, 0, 2)).reshape(4 * H, T * N)  # (4H, T*N)
    # da @ z^T (4H, K) summed over steps and sequences, read back as (K, 4H) = [dWx; db; dWh]:
    # BLAS runs this orientation faster than z @ da^T
    dW = (da_gm @ z[:, :T].reshape(K, T * N).T).T
    dx = np.ascontiguousarray(dz[:, :D].transpose(2, 0, 1))  # (N, T, D)
    dh0 = np.ascontiguousarray(dz[0, D + 1 :].T)
    grads = (dx, dh0, np.ascontiguousarray(dW[:D]), np.ascontiguousarray(dW[D + 1 :]), dW[D].copy())
    return (*grads, np.ascontiguousarray(dc.T)) if return_dc0 else grads


# ----------------------------------------------------------------------------- GRU
def _check_gru_weights(Wx, Wh, bx, bh):
    D, H = _check_weights(Wx, Wh, bx, 3, "GRU (gates r, z, n)", bias_name="bx")
    check_shape("bh", bh, (3 * H,), f"(3*H,) with hidden size H={H} from Wh")
    return D, H


def _gru_cell(xw, hw, prev_h, H):
    """From input/hidden projections (N, 3H) to gates (r, z, n) and the new h."""
    rz = sigmoid(xw[:, : 2 * H] + hw[:, : 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(xw[:, 2 * H :] + r * hw[:, 2 * H :])
    next_h = n + z * (prev_h - n)  # = (1 - z) * n + z * prev_h
    return rz, n, next_h


def _gru_grads(dh, prev_h, rz, n, hw_n, H):
    """Gradients of the input projection (N, 3H) and hidden projection (N, 3H), and the
    direct path ``dh * z`` to prev_h."""
    r, z = rz[:, :H], rz[:, H:]
    dn = dh * (1.0 - z)
    dz = dh * (prev_h - n)
    dan = dn * (1.0 - n * n)
    dr = dan * hw_n
    dxw = np.empty(dh.shape[:-1] + (3 * H,), dtype=np.result_type(dh, rz))
    dxw[:, :H] = dr * r * (1.0 - r)
    dxw[:, H : 2 * H] = dz * z * (1.0 - z)
    dxw[:, 2 * H :] = dan
    dhw = dxw.copy()
    dhw[:, 2 * H :] *= r
    return dxw, dhw, dh * z


def gru_step_forward(x, prev_h, Wx, Wh, bx, bh):
    """One GRU step in torch's formulation (gate order ``r, z, n``; module docstring).

    Args:
        x: (N, D); prev_h: (N, H); Wx: (D, 3H); Wh: (H, 3H); bx: (3H,) input bias;
        bh: (3H,) hidden bias (its ``n`` block sits inside the reset gate's product).

    Returns:
        next_h (N, H), cache.

    Example:
        >>> z = np.zeros
        >>> h, _ = gru_step_forward(z((2, 3)), np.ones((2, 4)), z((3, 12)), z((4, 12)), z(12), z(12))
        >>> h  # z = 0.5, n = 0: halfway between the old state and the candidate
        array([[0.5, 0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5, 0.5]])
    """
    names = ("x", "prev_h", "Wx", "Wh", "bx", "bh")
    x, prev_h, Wx, Wh, bx, bh = (_float(n, a) for n, a in zip(names, (x, prev_h, Wx, Wh, bx, bh)))
    D, H = _check_gru_weights(Wx, Wh, bx, bh)
    check_shape("x", x, (None, D), f"(N, D) with D={D} from Wx")
    _check_state("prev_h", prev_h, x.shape[0], H)
    xw = x @ Wx + bx
    hw = prev_h @ Wh + bh
    rz, n, next_h = _gru_cell(xw, hw, prev_h, H)
    return next_h, (x, prev_h, Wx, Wh, rz, n, hw[:, 2 * H :])


def gru_step_backward(dnext_h, cache):
    """Backward pass of :func:`gru_step_forward`.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,).
    """
    x, prev_h, Wx, Wh, rz, n, hw_n = cache
    H = Wh.shape[0]
    check_shape("dnext_h", dnext_h, prev_h.shape, "(N, H) like the hidden state")
    dxw, dhw, dprev_direct = _gru_grads(dnext_h, prev_h, rz, n, hw_n, H)
    return (dxw @ Wx.T, dprev_direct + dhw @ Wh.T, x.T @ dxw, prev_h.T @ dhw, dxw.sum(axis=0), dhw.sum(axis=0))


def _gru_stacked_weights(Wx, Wh, bx, bh, D, H, dtype):
    """``W (4H, D + 1 + H)`` with ``W @ [x; 1; h] = [a_r; a_z; x Wx_n + bx_n; h Wh_n + bh_n]``.

    The reset gate multiplies the hidden projection of the ``n`` block, so that block gets
    rows of its own (zeros where the other input goes): one GEMM per step still yields every
    projection the cell needs.
    """
    W = np.zeros((4 * H, D + 1 + H), dtype=dtype)
    W[: 2 * H, :D] = Wx[:, : 2 * H].T
    W[: 2 * H, D] = bx[: 2 * H] + bh[: 2 * H]
    W[: 2 * H, D + 1 :] = Wh[:, : 2 * H].T
    W[2 * H : 3 * H, :D] = Wx[:, 2 * H :].T
    W[2 * H : 3 * H, D] = bx[2 * H :]
    W[3 * H :, D] = bh[2 * H :]
    W[3 * H :, D + 1 :] = Wh[:, 2 * H :].T
    return W


def gru_forward(x, h0, Wx, Wh, bx, bh):
    """Run a GRU (torch formulation, gates ``r, z, n``) over whole sequences.

    As :func:`lstm_forward`: feature-major states (H, N), products per step with the stacked
    ``[x_t; 1; h_{t-1}]``, whose four row blocks are the reset and update pre-activations,
    the input part of ``n`` and the hidden part of ``n``. The cache keeps the gates r, z, n
    of every step but not the hidden part of ``n``: the backward pass computes it again
    (one (H, K) @ (K, N) product per step), which holds the peak memory near torch's.

    Args:
        x: (N, T, D), T >= 1; h0: (N, H); Wx: (D, 3H); Wh: (H, 3H); bx: (3H,); bh: (3H,).

    Returns:
        h: hidden states (N, T, H); cache.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> h, _ = gru_forward(rng.normal(size=(2, 5, 3)), np.zeros((2, 4)), rng.normal(size=(3, 12)),
        ...                    rng.normal(size=(4, 12)), np.zeros(12), np.zeros(12))
        >>> h.shape
        (2, 5, 4)
    """
    names = ("x", "h0", "Wx", "Wh", "bx", "bh")
    x, h0, Wx, Wh, bx, bh = (_float(n, a) for n, a in zip(names, (x, h0, Wx, Wh, bx, bh)))
    D, H = _check_gru_weights(Wx, Wh, bx, bh)
    N, T = _check_sequence(x, D)
    _check_state("h0", h0, N, H)
    dtype = np.result_type(x, h0, Wx, Wh, bx, bh)
    W = _gru_stacked_weights(Wx, Wh, bx, bh, D, H, dtype)  # (4H, D + 1 + H)
    z = _stacked_inputs(x, h0, T, D, H, dtype)  # (D + 1 + H, T + 1, N)
    gates = np.empty((T, 3 * H, N), dtype=dtype)  # r, z, n per step
    hn, tmp = np.empty((H, N), dtype=dtype), np.empty((H, N), dtype=dtype)
    for t in range(T):
        a = np.matmul(W[: 3 * H], z[:, t], out=gates[t])
        np.matmul(W[3 * H :], z[:, t], out=hn)  # h Wh_n + bh_n
        r, u, n = a[:H], a[H : 2 * H], a[2 * H :]
        sigmoid(a[: 2 * H], out=a[: 2 * H])  # r and the update gate u
        n += np.multiply(r, hn, out=tmp)  # x Wx_n + bx_n + r * (h Wh_n + bh_n)
        np.tanh(n, out=n)
        prev_h = z[D + 1 :, t]
        np.subtract(prev_h, n, out=tmp)  # h = n + u * (prev_h - n) = (1 - u) * n + u * prev_h
        tmp *= u
        np.add(n, tmp, out=z[D + 1 :, t + 1])
    out = np.ascontiguousarray(z[D + 1 :, 1:].transpose(2, 1, 0))  # (N, T, H)
    return out, {"z": z, "W": W, "gates": gates, "D": D, "N": N, "T": T}


# Time steps whose gate gradients are kept at once before they enter the weight gradient:
# the GEMM stays large and the buffer a fraction of the (4H, T, N) whole.
_GRU_WINDOW = 5


def gru_backward(dh, cache):
    """Backward pass of :func:`gru_forward`.

    Per step the gate gradients ``da_t`` (4H, N) and one GEMM ``W^T @ da_t`` give dx_t and
    the gradient reaching ``h_{t-1}`` through the projections; the weight gradient
    ``sum_t da_t @ [x_t; 1; h_{t-1}]^T`` is one GEMM per window of ``_GRU_WINDOW`` steps.

    Args:
        dh: gradient of every hidden state, (N, T, H).

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,).
    """
    z, W, gates, D, N, T = cache["z"], cache["W"], cache["gates"], cache["D"], cache["N"], cache["T"]
    H = gates.shape[1] // 3
    K = D + 1 + H
    check_shape("dh", dh, (N, T, H), "(N, T, H): the gradient of every hidden state")
    dtype = gates.dtype
    WT = W.T  # (K, 4H), a view: BLAS reads the transpose in place
    dx = np.empty((N, T, D), dtype=dtype)
    dW = np.zeros((4 * H, K), dtype=dtype)
    window = min(T, _GRU_WINDOW)
    da = np.empty((4 * H, window, N), dtype=dtype)  # gate-major: one (4H, window*N) matrix
    da_t = np.empty((4 * H, N), dtype=dtype)
    dz_t = np.empty((K, N), dtype=dtype)
    dh_t = np.empty((H, N), dtype=dtype)
    carry = np.zeros((H, N), dtype=dtype)  # gradient reaching h_t from step t + 1
    tmp, hn = np.empty((H, N), dtype=dtype), np.empty((H, N), dtype=dtype)
    for t in range(T - 1, -1, -1):
        r, u, n = gates[t, :H], gates[t, H : 2 * H], gates[t, 2 * H :]
        np.matmul(W[3 * H :], z[:, t], out=hn)  # h Wh_n + bh_n, as in the forward pass
        prev_h = z[D + 1 :, t]
        dar, dau, dan, dhn = da_t[:H], da_t[H : 2 * H], da_t[2 * H : 3 * H], da_t[3 * H :]
        np.add(np.transpose(dh[:, t]), carry, out=dh_t)
        np.subtract(1.0, u, out=tmp)  # dn = dh * (1 - u), through tanh: * (1 - n^2)
        np.multiply(dh_t, tmp, out=dan)
        np.multiply(n, n, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        dan *= tmp
        np.multiply(dan, r, out=dhn)  # the hidden part of n is scaled by r
        np.multiply(dan, hn, out=dar)  # dr = dan * (h Wh_n + bh_n), through sigmoid: * r (1 - r)
        np.subtract(1.0, r, out=tmp)
        tmp *= r
        dar *= tmp
        np.subtract(prev_h, n, out=dau)  # du = dh * (prev_h - n), through sigmoid: * u (1 - u)
        dau *= dh_t
        np.subtract(1.0, u, out=tmp)
        tmp *= u
        dau *= tmp
        np.matmul(WT, da_t, out=dz_t)  # [dx_t; -; projections' share of dprev_h]
        dx[:, t] = dz_t[:D].T
        np.multiply(dh_t, u, out=carry)  # the direct path h = ... + u * prev_h
        carry += dz_t[D + 1 :]
        w = t % window
        da[:, w] = da_t
        if w == 0:  # the window [t, t + filled) is complete: add its share of the weight gradient
            filled = min(window, T - t)
            dW += da[:, :filled].reshape(4 * H, filled * N) @ z[:, t : t + filled].reshape(K, filled * N).T
    # dW's rows r, z | input part of n | hidden part of n, read out without intermediate copies
    dWx, dWh = np.empty((D, 3 * H), dtype=dtype), np.empty((H, 3 * H), dtype=dtype)
    dWx[:, : 2 * H], dWx[:, 2 * H :] = dW[: 2 * H, :D].T, dW[2 * H : 3 * H, :D].T
    dWh[:, : 2 * H], dWh[:, 2 * H :] = dW[: 2 * H, D + 1 :].T, dW[3 * H :, D + 1 :].T
    dbx = np.concatenate([dW[: 2 * H, D], dW[2 * H : 3 * H, D]])
    dbh = np.concatenate([dW[: 2 * H, D], dW[3 * H :, D]])
    return dx, np.ascontiguousarray(carry.T), dWx, dWh, dbx, dbh


# ----------------------------------------------------------------------------- torch weight layout
def lstm_weights_from_torch(weight_ih, weight_hh, bias_ih, bias_hh):
    """Map one ``torch.nn.LSTM`` layer's weights (numpy arrays) to ``(Wx, Wh, b)`` here.

    torch stores ``(4H, D)`` / ``(4H, H)`` matrices with gate blocks ``i, f, g, o`` and two
    biases; here the matrices are transposed, the blocks are ``i, f, o, g`` and the biases
    are summed.
    """
    H = np.shape(weight_hh)[1]
    order = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]  # i, f, o, g from i, f, g, o
    Wx = np.asarray(weight_ih)[order].T.copy()
    Wh = np.asarray(weight_hh)[order].T.copy()
    b = (np.asarray(bias_ih) + np.asarray(bias_hh))[order]
    return Wx, Wh, b


def gru_weights_from_torch(weight_ih, weight_hh, bias_ih, bias_hh):
    """Map one ``torch.nn.GRU`` layer's weights to ``(Wx, Wh, bx, bh)``: same gate order
    ``r, z, n``, matrices transposed, biases kept apart."""
    return (np.asarray(weight_ih).T.copy(), np.asarray(weight_hh).T.copy(),
            np.asarray(bias_ih).copy(), np.asarray(bias_hh).copy())


# ----------------------------------------------------------------------------- embeddings
def _check_token_ids(name: str, x, V: int) -> np.ndarray:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and np.all(np.mod(x, 1) == 0):
        x = x.astype(np.int64)  # whole numbers stored as floats (a Trainer casts inputs to float)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {x.dtype}"
                        + (" with non-integer values" if np.issubdtype(x.dtype, np.floating) else ""))
    if x.size and (x.min() < 0 or x.max() >= V):
        raise ValueError(
            f"{name} must hold token ids in [0, {V}) for a vocabulary of size V={V}, "
            f"got values in [{x.min()}, {x.max()}]"
        )
    return x


def word_embedding_forward(x, W):
    """Look up one row of ``W`` per token id.

    Args:
        x: integer token ids, any shape, typically (N, T); each in [0, V).
        W: embedding matrix, shape (V, D).

    Returns:
        out: shape ``x.shape + (D,)``, e.g. (N, T, D); cache.

    Example:
        >>> out, _ = word_embedding_forward(np.array([[0, 2]]), np.arange(6.0).reshape(3, 2))
        >>> out
        array([[[0., 1.],
                [4., 5.]]])
    """
    W = _float("W", W)
    check_ndim("W", W, 2, "(V, D): one embedding row per token")
    x = _check_token_ids("x", x, W.shape[0])
    return np.take(W, x, axis=0), (x, W.shape)  # np.take: W[x] without the fancy-indexing machinery


def word_embedding_backward(dout, cache):
    """Backward pass of :func:`word_embedding_forward`.

    ``dW = onehot(x)^T @ dout``: row ``v`` of ``dW`` is the sum of the gradient rows of every
    token with id ``v`` (plain fancy-index assignment ``dW[x] = dout`` would keep only the
    last of a repeated id). The one-hot matrix has a single 1 per token, so it is built
    sparse, with the tokens grouped by id (a stable sort: each id's rows are added in token
    order), and the product is a segment sum in scipy's compiled code.

    Args:
        dout: upstream gradient, shape ``x.shape + (D,)``.
        cache: from :func:`word_embedding_forward`.

    Returns:
        dW: shape (V, D). (Token ids are integers: they have no gradient.)

    Example:
        >>> _, cache = word_embedding_forward(np.array([[0, 2, 0]]), np.zeros((3, 2)))
        >>> word_embedding_backward(np.ones((1, 3, 2)), cache)
        array([[2., 2.],
               [0., 0.],
               [1., 1.]])
    """
    import scipy.sparse  # here, not at the top: a 0.2 s import that only this function needs

    x, shape = cache
    check_shape("dout", dout, x.shape + (shape[1],), "(x.shape + (D,))")
    V, D = shape
    dtype = np.result_type(dout, np.float32)
    ids = x.reshape(-1)  # (N*T,)
    rows = np.asarray(dout, dtype=dtype).reshape(-1, D)  # (N*T, D)
    by_id = np.argsort(ids, kind="stable")  # token positions, grouped by id
    starts = np.zeros(V + 1, dtype=np.intp)
    np.cumsum(np.bincount(ids, minlength=V), out=starts[1:])  # id v's tokens: by_id[starts[v]:starts[v+1]]
    onehot_t = scipy.sparse.csr_array((np.ones(len(ids), dtype=dtype), by_id, starts), shape=(V, len(ids)))
    return np.asarray(onehot_t @ rows)


# ----------------------------------------------------------------------------- temporal layers
def temporal_affine_forward(x, w, b):
    """The same affine map at every time step: ``out[n, t] = x[n, t] @ w + b``.

    Args:
        x: (N, T, D); w: (D, M); b: (M,).

    Returns:
        out: (N, T, M); cache.

    Example:
        >>> out, _ = temporal_affine_forward(np.ones((2, 3, 4)), np.ones((4, 5)), np.zeros(5))
        >>> out.shape, float(out[0, 0, 0])
        ((2, 3, 5), 4.0)
    """
    x, w, b = _float("x", x), _float("w", w), _float("b", b)
    check_ndim("x", x, 3, "(N, T, D)")
    check_ndim("w", w, 2, "(D, M)")
    N, T, D = x.shape
    check_shape("w", w, (D, None), f"(D, M) with D={D} from x of shape {x.shape}")
    check_shape("b", b, (w.shape[1],), "(M,) with M from w")
    out = (x.reshape(N * T, D) @ w + b).reshape(N, T, -1)  # (N*T, D) @ (D, M) -> (N, T, M)
    return out, (x, w)


def temporal_affine_backward(dout, cache):
    """Backward pass of :func:`temporal_affine_forward`.

    Returns:
        dx (N, T, D), dw (D, M), db (M,).
    """
    x, w = cache
    N, T, D = x.shape
    M = w.shape[1]
    check_shape("dout", dout, (N, T, M), "(N, T, M)")
    d2 = dout.reshape(N * T, M)
    return (d2 @ w.T).reshape(N, T, D), x.reshape(N * T, D).T @ d2, d2.sum(axis=0)


def temporal_softmax_loss(x, y, mask=None):
    """Softmax cross-entropy summed over time steps and averaged over the N sequences.

    As in CS231n the loss is divided by N only (not by N*T or by the number of unmasked
    steps), so it is the average *per-sequence* loss; divide by the number of kept steps
    to get a loss per token (:mod:`i2dl_lab.sequence.charlm` does).

    Args:
        x: scores, shape (N, T, V).
        y: integer targets, shape (N, T), each in [0, V).
        mask: boolean (N, T); True keeps a step in the loss (False for padding).
            ``None`` keeps every step.

    Returns:
        loss: scalar; dx: gradient of the loss with respect to x, shape (N, T, V).

    Example:
        >>> loss, dx = temporal_softmax_loss(np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=int))
        >>> round(float(loss), 4)  # 3 steps of log(4) per sequence
        4.1589
    """
    x = _float("x", x)
    check_ndim("x", x, 3, "(N, T, V): scores for V classes at every step")
    N, T, V = x.shape
    y = _check_token_ids("y", y, V)
    check_shape("y", y, (N, T), f"(N, T) = ({N}, {T}): one target per step")
    if mask is None:
        mask = np.ones((N, T), dtype=bool)
    else:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array (True = keep the step), got dtype {mask.dtype}")
        check_shape("mask", mask, (N, T), f"(N, T) = ({N}, {T}): one flag per step")
    flat = x.reshape(N * T, V)
    log_probs = log_softmax(flat, axis=1)  # (N*T, V), stable for large logits
    yf, mf = y.reshape(-1), mask.reshape(-1)
    loss = -np.sum(log_probs[np.arange(N * T), yf] * mf) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1.0
    dx *= mf[:, None] / N
    return float(loss), dx.reshape(N, T, V)
