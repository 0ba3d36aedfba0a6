"""Sequence Modules: RNN, LSTM, GRU, Embedding and TemporalAffine.

Thin stateful wrappers around :mod:`i2dl_lab.nn.functional.recurrent` (the maths lives
there). Every recurrent module is batch-first: input (N, T, D) -> hidden states (N, T, H).

After ``forward`` the last hidden state is kept in ``last_h`` (and ``last_c`` for the
LSTM) so that truncated backpropagation through time can start the next window from it::

    h = lstm(x_window, h0=prev_h, c0=prev_c)     # gradients do not flow into prev_h/prev_c
    prev_h, prev_c = lstm.last_h, lstm.last_c

``backward(dh)`` takes the gradient of every hidden state (N, T, H), accumulates the
parameter gradients and returns dx; the gradient of ``h0`` is kept in ``dh0``.

Initialisation follows torch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).
"""

from __future__ import annotations

import numpy as np

from . import init as _init
from ._checks import check_ndim
from .functional import recurrent as _rec
from .module import Module

__all__ = ["RNN", "LSTM", "GRU", "Embedding", "TemporalAffine"]


def _positive_int(cls: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{cls}: {name} must be a positive int, got {v!r}")
    return int(v)


def _gen(cls: str, rng, seed):
    if rng is not None and seed is not None:
        raise ValueError(f"{cls}: pass either rng or seed, not both")
    return _init.as_rng(rng if rng is not None else seed)


class _Recurrent(Module):
    """Shared set-up of RNN/LSTM/GRU: sizes, torch-style uniform init, initial state."""

    gates = 1

    def __init__(self, input_size, hidden_size, rng=None, seed=None, dtype=np.float64):
        super().__init__()
        cls = type(self).__name__
        self.input_size = _positive_int(cls, "input_size", input_size)
        self.hidden_size = _positive_int(cls, "hidden_size", hidden_size)
        self.dtype = np.dtype(dtype)
        gen = _gen(cls, rng, seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        G, D, H = self.gates, self.input_size, self.hidden_size
        self._uniform = lambda shape: gen.uniform(-k, k, size=shape).astype(self.dtype)
        self.add_param("Wx", self._uniform((D, G * H)))
        self.add_param("Wh", self._uniform((H, G * H)))
        self.last_h = None
        self.dh0 = None

    def _h0(self, x, h0, name="h0"):
        if h0 is None:
            return np.zeros((x.shape[0], self.hidden_size), dtype=self.dtype)
        return np.asarray(h0, dtype=self.dtype)

    def _input(self, x):
        x = np.asarray(x)
        check_ndim("x", x, 3, f"(N, T, D) with D={self.input_size} for {type(self).__name__}")
        return x.astype(self.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class RNN(_Recurrent):
    """Single-layer tanh RNN, ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)``.

    Args:
        input_size: D. hidden_size: H. rng / seed: random generator or seed. dtype: of the
        parameters (inputs are cast to it).

    Parameters:
        ``Wx`` (D, H), ``Wh`` (H, H), ``b`` (H,).

    Shape:
        (N, T, D) -> (N, T, H).

    Example:
        >>> rnn = RNN(3, 5, seed=0)
        >>> rnn(np.zeros((2, 4, 3))).shape
        (2, 4, 5)
    """

    def __init__(self, input_size, hidden_size, rng=None, seed=None, dtype=np.float64):
        super().__init__(input_size, hidden_size, rng, seed, dtype)
        self.add_param("b", self._uniform((self.hidden_size,)))

    def forward(self, x, h0=None):
        x = self._input(x)
        h, self._cache = _rec.rnn_forward(x, self._h0(x, h0), self.Wx, self.Wh, self.b)
        self.last_h = h[:, -1].copy()
        return h

    def backward(self, dh):
        dx, self.dh0, dWx, dWh, db = _rec.rnn_backward(dh, self._cache)
        for name, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
            self.accumulate_grad(name, g)
        return dx


class LSTM(_Recurrent):
    """Single-layer LSTM, gate order ``i, f, o, g`` (see :mod:`i2dl_lab.nn.functional.recurrent`).

    Args:
        input_size: D. hidden_size: H.
        forget_bias: added to the forget-gate block of ``b`` after the random init. A
            positive value (1 is common) keeps the cell state's memory open at the start of
            training, which helps gradients flow over long spans.
        rng / seed, dtype: as :class:`RNN`.

    Parameters:
        ``Wx`` (D, 4H), ``Wh`` (H, 4H), ``b`` (4H,).

    Shape:
        (N, T, D) -> (N, T, H).

    Example:
        >>> lstm = LSTM(3, 5, seed=0)
        >>> lstm(np.zeros((2, 4, 3))).shape, lstm.last_c.shape
        ((2, 4, 5), (2, 5))
    """

    gates = 4

    def __init__(self, input_size, hidden_size, forget_bias=0.0, rng=None, seed=None, dtype=np.float64):
        super().__init__(input_size, hidden_size, rng, seed, dtype)
        H = self.hidden_size
        b = self._uniform((4 * H,))
        b[H : 2 * H] += forget_bias
        self.add_param("b", b)
        self.forget_bias = float(forget_bias)
        self.last_c = None
        self.dc0 = None

    def forward(self, x, h0=None, c0=None):
        x = self._input(x)
        c0 = None if c0 is None else np.asarray(c0, dtype=self.dtype)
        h, self._cache = _rec.lstm_forward(x, self._h0(x, h0), self.Wx, self.Wh, self.b, c0=c0)
        self.last_h = h[:, -1].copy()
        self.last_c = self._cache["c_last"].copy()
        return h

    def backward(self, dh):
        dx, self.dh0, dWx, dWh, db, self.dc0 = _rec.lstm_backward(dh, self._cache, return_dc0=True)
        for name, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
            self.accumulate_grad(name, g)
        return dx

    def extra_repr(self) -> str:
        fb = f", forget_bias={self.forget_bias:g}" if self.forget_bias else ""
        return super().extra_repr() + fb


class GRU(_Recurrent):
    """Single-layer GRU in torch's formulation, gates ``r, z, n`` with two biases.

    Parameters:
        ``Wx`` (D, 3H), ``Wh`` (H, 3H), ``bx`` (3H,), ``bh`` (3H,).

    Shape:
        (N, T, D) -> (N, T, H).

    Example:
        >>> GRU(3, 5, seed=0)(np.zeros((2, 4, 3))).shape
        (2, 4, 5)
    """

    gates = 3

    def __init__(self, input_size, hidden_size, rng=None, seed=None, dtype=np.float64):
        super().__init__(input_size, hidden_size, rng, seed, dtype)
        self.add_param("bx", self._uniform((3 * self.hidden_size,)))
        self.add_param("bh", self._uniform((3 * self.hidden_size,)))

    def forward(self, x, h0=None):
        x = self._input(x)
        h, self._cache = _rec.gru_forward(x, self._h0(x, h0), self.Wx, self.Wh, self.bx, self.bh)
        self.last_h = h[:, -1].copy()
        return h

    def backward(self, dh):
        dx, self.dh0, dWx, dWh, dbx, dbh = _rec.gru_backward(dh, self._cache)
        for name, g in (("Wx", dWx), ("Wh", dWh), ("bx", dbx), ("bh", dbh)):
            self.accumulate_grad(name, g)
        return dx


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``.

    Args:
        num_embeddings: V, the vocabulary size. embedding_dim: D.
        rng / seed, dtype: as :class:`RNN`. Rows are initialised ~ N(0, 1) as in torch.

    Parameters:
        ``W`` (V, D).

    Shape:
        integer ids (N, T) -> (N, T, D). ``backward`` accumulates ``dW`` (repeated ids add
        up) and returns ``None``: integer ids have no gradient.

    Example:
        >>> emb = Embedding(10, 4, seed=0)
        >>> emb(np.array([[1, 2, 1]])).shape
        (1, 3, 4)
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None, seed=None, dtype=np.float64):
        super().__init__()
        self.num_embeddings = _positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("Embedding", "embedding_dim", embedding_dim)
        gen = _gen("Embedding", rng, seed)
        self.add_param("W", gen.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype))

    def forward(self, x):
        out, self._cache = _rec.word_embedding_forward(x, self.W)
        return out

    def backward(self, dout):
        self.accumulate_grad("W", _rec.word_embedding_backward(dout, self._cache).astype(self.W.dtype, copy=False))
        return None

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class TemporalAffine(Module):
    """The same affine map ``x_t @ W + b`` at every time step: (N, T, D) -> (N, T, M).

    Args:
        in_features: D. out_features: M. rng / seed, dtype: as :class:`RNN`. ``W`` and
        ``b`` ~ U(-1/sqrt(D), 1/sqrt(D)) as torch's ``nn.Linear``.

    Parameters:
        ``W`` (D, M), ``b`` (M,).

    Example:
        >>> TemporalAffine(4, 7, seed=0)(np.zeros((2, 3, 4))).shape
        (2, 3, 7)
    """

    def __init__(self, in_features, out_features, rng=None, seed=None, dtype=np.float64):
        super().__init__()
        self.in_features = _positive_int("TemporalAffine", "in_features", in_features)
        self.out_features = _positive_int("TemporalAffine", "out_features", out_features)
        gen = _gen("TemporalAffine", rng, seed)
        k = 1.0 / np.sqrt(self.in_features)
        self.add_param("W", gen.uniform(-k, k, size=(self.in_features, self.out_features)).astype(dtype))
        self.add_param("b", gen.uniform(-k, k, size=(self.out_features,)).astype(dtype))

    def forward(self, x):
        out, self._cache = _rec.temporal_affine_forward(np.asarray(x).astype(self.W.dtype, copy=False), self.W, self.b)
        return out

    def backward(self, dout):
        dx, dW, db = _rec.temporal_affine_backward(dout, self._cache)
        self.accumulate_grad("W", dW)
        self.accumulate_grad("b", db)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
