"""Vanishing and exploding gradients: measure them, bound them, and fight them.

Backpropagation through time multiplies the gradient by one Jacobian per step::

    dh_T/dh_k = prod_{t=k+1..T} dh_t/dh_{t-1},    dh_t/dh_{t-1} = diag(phi'(a_t)) Wh^T

(row-vector convention ``a_t = x_t Wx + h_{t-1} Wh + b``). Its norm therefore behaves like
``(max|phi'| * rho(Wh))^(T-k)`` where ``rho`` is the spectral radius (largest |eigenvalue|):
below 1 the gradient vanishes geometrically, above 1 it may explode.

The midterm example (seed 003): a 2x2 ``W_hh`` with every entry 3.5 has eigenvalues 7 and
0, so ``rho = 7``; the sigmoid's derivative is at most 1/4, so the backpropagated vector is
bounded by ``(7/4)^n`` -- a network prone to *exploding* gradients
(:func:`backprop_bound_norms` shows the bound is reached along the eigenvector (1, 1)).

An LSTM's cell state is updated additively, ``c_t = f * c_{t-1} + i * g``: along that
path the Jacobian is ``diag(f)``, close to the identity when the forget gate is open, so
gradients survive many more steps (:func:`compare_rnn_lstm`).

Deep supervision (lecture "Vanishing Gradients"): add auxiliary losses on intermediate
layers so early layers get a gradient from a nearby loss (:func:`deep_supervision_loss`).
"""

from __future__ import annotations

import numpy as np

from ..nn.functional import recurrent as _rec

__all__ = [
    "spectral_radius",
    "activation_derivative_max",
    "gradient_growth_factor",
    "classify_gradient_flow",
    "backprop_bound_norms",
    "hidden_state_jacobians",
    "gradient_norms_over_time",
    "compare_rnn_lstm",
    "gradient_norms_through_time",
    "lstm_gradient_norms",
    "deep_supervision_loss",
]

_DERIV_MAX = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "linear": 1.0}


def spectral_radius(W) -> float:
    """Largest absolute eigenvalue of a square matrix.

    >>> spectral_radius(np.full((2, 2), 3.5))
    7.0
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square matrix (H, H), got shape {W.shape}")
    return float(np.round(np.max(np.abs(np.linalg.eigvals(W))), 12))


def activation_derivative_max(activation: str) -> float:
    """sup |phi'|: 1/4 for the sigmoid (at 0), 1 for tanh, ReLU and the identity."""
    if activation not in _DERIV_MAX:
        raise ValueError(f"activation must be one of {sorted(_DERIV_MAX)}, got {activation!r}")
    return _DERIV_MAX[activation]


def gradient_growth_factor(W, activation: str = "tanh") -> float:
    """``max|phi'| * rho(W)``: the per-step factor of the bound on ``||dh_T/dh_k||``.

    >>> gradient_growth_factor(np.full((2, 2), 3.5), "sigmoid")  # the midterm's 7/4
    1.75
    """
    return activation_derivative_max(activation) * spectral_radius(W)


def classify_gradient_flow(W, activation: str = "tanh") -> str:
    """``"vanishing"`` if the growth factor is below 1 (the bound shrinks geometrically, so
    gradients certainly vanish), ``"exploding"`` if above 1 (they can grow geometrically;
    whether they do depends on where the activations sit), ``"critical"`` at exactly 1."""
    g = gradient_growth_factor(W, activation)
    if np.isclose(g, 1.0):
        return "critical"
    return "vanishing" if g < 1.0 else "exploding"


def backprop_bound_norms(W, n: int, activation: str = "sigmoid", vector=None) -> np.ndarray:
    """Norms of ``(max|phi'| * W^T)^k l`` for k = 0..n: the seed's worst case, in which
    every step multiplies the gradient by the activation's largest derivative.

    Args:
        W: (H, H) recurrent matrix. n: number of steps.
        activation: which derivative bound to use. vector: the starting gradient ``l``
            (default: the all-ones vector, which for the seed's matrix is the eigenvector
            of the eigenvalue 7).

    Returns:
        array of n + 1 norms; for ``W = 3.5 * ones((2, 2))`` it is ``sqrt(2) * 1.75^k``.
    """
    W = np.asarray(W, dtype=np.float64)
    spectral_radius(W)  # validates the shape
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    l = np.ones(W.shape[0]) if vector is None else np.asarray(vector, dtype=np.float64)
    if l.shape != (W.shape[0],):
        raise ValueError(f"vector must have shape ({W.shape[0]},), got {l.shape}")
    M = activation_derivative_max(activation) * W.T
    norms = np.empty(n + 1)
    for k in range(n + 1):
        norms[k] = np.linalg.norm(l)
        l = M @ l
    return norms


def hidden_state_jacobians(cell: str, x, params, h0=None, wrt: str = "h") -> np.ndarray:
    """Exact Jacobians ``dh_T / dh_k`` (or ``dh_T / dc_k`` for the LSTM) for k = 0..T.

    The state at step k is ``h_k`` (and ``c_k``); each Jacobian perturbs one part of it and
    holds the other fixed (for k < T).

    Backpropagates the H unit vectors through the whole sequence at once: the sequence is
    repeated H times as a batch, and row j of the upstream gradient is ``e_j``, so row j
    of the gradient reaching ``h_k`` is ``dh_T[j] / dh_k``.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        x: one input sequence, shape (T, D).
        params: the cell's weights as a tuple in functional order: ``(Wx, Wh, b)`` for the
            RNN and LSTM, ``(Wx, Wh, bx, bh)`` for the GRU.
        h0: initial state (H,), zeros by default (the LSTM's c0 is zero).
        wrt: ``"h"`` or, for the LSTM, ``"c"`` (the cell state, the gated "highway").

    Returns:
        J: shape (T + 1, H, H), ``J[k] = dh_T / dh_k`` (``J[T]`` is the identity).
    """
    if cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
    if wrt not in ("h", "c") or (wrt == "c" and cell != "lstm"):
        raise ValueError(f"wrt must be 'h' (any cell) or 'c' (LSTM only), got {wrt!r} for {cell!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be one sequence of shape (T, D) with T >= 1, got shape {x.shape}")
    params = tuple(np.asarray(p, dtype=np.float64) for p in params)
    H = params[1].shape[0]
    T = x.shape[0]
    h = np.zeros((H, H)) if h0 is None else np.tile(np.asarray(h0, dtype=np.float64), (H, 1))
    c = np.zeros((H, H))
    caches = []
    for t in range(T):
        xt = np.tile(x[t], (H, 1))  # the same sequence H times: (H, D)
        if cell == "rnn":
            h, cache = _rec.rnn_step_forward(xt, h, *params)
        elif cell == "gru":
            h, cache = _rec.gru_step_forward(xt, h, *params)
        else:
            h, c, cache = _rec.lstm_step_forward(xt, h, c, *params)
        caches.append(cache)
    J = np.empty((T + 1, H, H))
    dh, dc = np.eye(H), np.zeros((H, H))
    J[T] = dh
    for t in range(T - 1, -1, -1):
        if cell == "rnn":
            dh = _rec.rnn_step_backward(dh, caches[t])[1]
        elif cell == "gru":
            dh = _rec.gru_step_backward(dh, caches[t])[1]
        else:
            _, dh, dc = _rec.lstm_step_backward(dh, dc, caches[t])[:3]
        J[t] = dh if wrt == "h" else dc
    if wrt == "c":  # h_T = o_T * tanh(c_T): dh_T/dc_T is diagonal
        gates, tc = caches[T - 1][5], caches[T - 1][6]
        J[T] = np.diag(gates[0, 2 * H : 3 * H] * (1.0 - tc[0] ** 2))
    return J


def gradient_norms_over_time(cell: str, x, params, h0=None, wrt: str = "h") -> np.ndarray:
    """Spectral norms ``||dh_T / dh_k||_2`` for k = 0..T (index k; the last is 1).

    Plot them against ``T - k`` on a log scale: a straight falling line is a vanishing
    gradient, its slope the log of the per-step factor.
    """
    J = hidden_state_jacobians(cell, x, params, h0=h0, wrt=wrt)
    return np.array([np.linalg.norm(j, 2) for j in J])


def compare_rnn_lstm(T: int = 50, input_size: int = 8, hidden_size: int = 32, forget_bias: float = 1.0,
                     weight_scale: float | None = None, seed: int = 0) -> dict:
    """``||dh_T / dh_k||`` of a tanh RNN and an LSTM on the same random input sequence.

    Both use torch's initialisation, ``U(-1/sqrt(H), 1/sqrt(H))`` (or ``weight_scale``
    times a standard normal, to push the RNN towards exploding); the LSTM's forget-gate
    bias gets ``forget_bias`` added.

    Returns:
        dict with ``"distance"`` (T - k, 0..T), ``"rnn"``, ``"lstm"`` (norms ordered by
        distance, so index 0 is the last step) and ``"lstm_cell"`` (``||dh_T / dc_k||``).
    """
    rng = np.random.default_rng(seed)
    D, H = input_size, hidden_size
    k = 1.0 / np.sqrt(H)

    def w(shape):
        if weight_scale is not None:
            return weight_scale * rng.standard_normal(shape)
        return rng.uniform(-k, k, size=shape)

    x = rng.standard_normal((T, D))
    rnn = (w((D, H)), w((H, H)), w((H,)))
    b = w((4 * H,))
    b[H : 2 * H] += forget_bias
    lstm = (w((D, 4 * H)), w((H, 4 * H)), b)
    return {
        "distance": np.arange(T + 1),
        "rnn": gradient_norms_over_time("rnn", x, rnn)[::-1],
        "lstm": gradient_norms_over_time("lstm", x, lstm)[::-1],
        "lstm_cell": gradient_norms_over_time("lstm", x, lstm, wrt="c")[::-1],
    }


def gradient_norms_through_time(scale: float, steps: int = 50, hidden: int = 32, seed: int = 0,
                                input_std: float = 0.5) -> np.ndarray:
    """How much of a gradient injected at the last step of a tanh RNN reaches each earlier step.

    The recurrent matrix is a random orthogonal matrix times ``scale``, so every singular
    value (and the spectral radius) equals ``scale``. A unit-norm gradient is placed on the
    last hidden state and backpropagated through time with the library's ``rnn_backward``;
    the input weights are the identity, so ``dx[:, t]`` is the gradient of the
    pre-activation at step t.

    Returns:
        norms: (steps,) with ``norms[t] = ||dL/da_t||``; ``norms[-1]`` is the injected step.
    """
    if steps < 1 or hidden < 1:
        raise ValueError(f"steps and hidden must be >= 1, got steps={steps}, hidden={hidden}")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    Wh = float(scale) * q
    x = input_std * rng.standard_normal((1, steps, hidden))
    h, cache = _rec.rnn_forward(x, np.zeros((1, hidden)), np.eye(hidden), Wh, np.zeros(hidden))
    dh = np.zeros_like(h)
    g = rng.standard_normal(hidden)
    dh[0, -1] = g / np.linalg.norm(g)
    dx = _rec.rnn_backward(dh, cache)[0]  # (1, T, H)
    return np.linalg.norm(dx[0], axis=1)


def lstm_gradient_norms(steps: int = 50, hidden: int = 32, forget_bias: float = 0.0, seed: int = 0,
                        weight_std: float = 0.2, input_std: float = 0.5) -> np.ndarray:
    """Like :func:`gradient_norms_through_time` for an LSTM: ``norms[t] = ||dL/dx_t||``.

    A unit-norm gradient is put on the last hidden state; ``forget_bias`` is added to the
    forget-gate block of the bias (gate order ``i, f, o, g``), so large values keep
    ``f`` close to 1 and the cell state carries the gradient back almost untouched.
    """
    if steps < 1 or hidden < 1:
        raise ValueError(f"steps and hidden must be >= 1, got steps={steps}, hidden={hidden}")
    rng = np.random.default_rng(seed)
    H = hidden
    Wx = weight_std * rng.standard_normal((H, 4 * H))
    Wh = weight_std * rng.standard_normal((H, 4 * H))
    b = np.zeros(4 * H)
    b[H:2 * H] = forget_bias
    x = input_std * rng.standard_normal((1, steps, H))
    h, cache = _rec.lstm_forward(x, np.zeros((1, H)), Wx, Wh, b)
    dh = np.zeros_like(h)
    g = rng.standard_normal(H)
    dh[0, -1] = g / np.linalg.norm(g)
    dx = _rec.lstm_backward(dh, cache)[0]
    return np.linalg.norm(dx[0], axis=1)


def deep_supervision_loss(head_scores, y, weights=None, aux_weight: float = 0.3, loss_fn=None):
    """Weighted sum of one loss per classifier head (deep supervision).

    The last head is the network's output; the earlier ones are auxiliary classifiers on
    intermediate layers. Each head's gradient is its loss gradient times its weight, and
    backpropagation adds them where the heads branch off -- so layers near the input get
    a gradient from a loss that is only a few layers away.

    Args:
        head_scores: list of score arrays, one per head, each (N, C); the last is the main
            output.
        y: labels (N,).
        weights: one weight per head; default ``aux_weight`` for every auxiliary head and
            1 for the main one (GoogLeNet used 0.3).
        loss_fn: ``loss, dscores = loss_fn(scores, y)``; default softmax cross-entropy.

    Returns:
        total_loss (float), list of dscores (one per head), list of the individual losses.

    Example:
        >>> s = [np.zeros((2, 3)), np.zeros((2, 3))]
        >>> total, grads, losses = deep_supervision_loss(s, np.array([0, 1]))
        >>> round(total, 4)  # 0.3 * log(3) + 1.0 * log(3)
        1.4282
    """
    if loss_fn is None:
        from ..nn.losses import softmax_loss as loss_fn
    head_scores = list(head_scores)
    if not head_scores:
        raise ValueError("deep_supervision_loss needs at least one head")
    if weights is None:
        weights = [aux_weight] * (len(head_scores) - 1) + [1.0]
    weights = [float(w) for w in weights]
    if len(weights) != len(head_scores):
        raise ValueError(f"got {len(weights)} weights for {len(head_scores)} heads; give one weight per head")
    total, grads, losses = 0.0, [], []
    for w, scores in zip(weights, head_scores):
        loss, d = loss_fn(scores, y)
        losses.append(float(loss))
        total += w * float(loss)
        grads.append(w * d)
    return total, grads, losses
