"""Attention Modules: MultiHeadAttention, TransformerBlock and PositionalEncoding.

Thin wrappers around :mod:`i2dl_lab.nn.functional.attention`. Masks are boolean with
True = attend (see that module for the accepted shapes).
"""

from __future__ import annotations

import numpy as np

from . import init as _init
from ._checks import check_ndim
from .functional import attention as _att
from .module import Module

__all__ = ["MultiHeadAttention", "TransformerBlock", "PositionalEncoding"]


def _check_heads(cls, embed_dim, num_heads):
    for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{cls}: {name} must be a positive int, got {v!r}")
    if embed_dim % num_heads:
        raise ValueError(f"{cls}: embed_dim={embed_dim} must be divisible by num_heads={num_heads}")


def _mha_init(gen, D, kdim, vdim, dtype):
    """torch's scheme: Xavier-uniform input projections, U(+-1/sqrt(D)) output, zero biases."""
    def xavier(fan_in, fan_out):
        return _init.xavier_uniform((fan_in, fan_out), rng=gen, dtype=dtype)

    k = 1.0 / np.sqrt(D)
    return {
        "Wq": xavier(D, D), "bq": np.zeros(D, dtype),
        "Wk": xavier(kdim, D), "bk": np.zeros(D, dtype),
        "Wv": xavier(vdim, D), "bv": np.zeros(D, dtype),
        "Wo": gen.uniform(-k, k, size=(D, D)).astype(dtype), "bo": np.zeros(D, dtype),
    }


class MultiHeadAttention(Module):
    """Multi-head (self- or cross-) attention.

    Args:
        embed_dim: D, the model width (output features).
        num_heads: h, which must divide D.
        kdim, vdim: feature sizes of key and value inputs (default D).
        rng / seed: random generator or seed. dtype: of the parameters.

    Parameters:
        ``Wq`` (D, D), ``bq`` (D,), ``Wk`` (kdim, D), ``bk``, ``Wv`` (vdim, D), ``bv``,
        ``Wo`` (D, D), ``bo`` (D,).

    ``forward(query, key=None, value=None, attn_mask=None, key_padding_mask=None,
    is_causal=False)``: without ``key``/``value`` it is self-attention on ``query`` and
    ``backward`` returns one dx; with them it returns ``(dquery, dkey, dvalue)``. The last
    attention weights, (N, h, T_q, T_k), are kept in ``attention_weights`` for plotting.

    Shape:
        query (N, T_q, D), key (N, T_k, kdim), value (N, T_k, vdim) -> (N, T_q, D).

    Example:
        >>> mha = MultiHeadAttention(8, 2, seed=0)
        >>> mha(np.zeros((3, 5, 8)), is_causal=True).shape, mha.attention_weights.shape
        ((3, 5, 8), (3, 2, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, kdim=None, vdim=None, rng=None, seed=None, dtype=np.float64):
        super().__init__()
        _check_heads("MultiHeadAttention", embed_dim, num_heads)
        if rng is not None and seed is not None:
            raise ValueError("MultiHeadAttention: pass either rng or seed, not both")
        gen = _init.as_rng(rng if rng is not None else seed)
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = int(kdim or embed_dim)
        self.vdim = int(vdim or embed_dim)
        for name, arr in _mha_init(gen, self.embed_dim, self.kdim, self.vdim, dtype).items():
            self.add_param(name, arr)
        self.attention_weights = None

    def forward(self, query, key=None, value=None, attn_mask=None, key_padding_mask=None, is_causal=False):
        self._self_attention = key is None and value is None
        key = query if key is None else key
        value = key if value is None else value
        dtype = self.Wq.dtype
        q, k, v = (np.asarray(a).astype(dtype, copy=False) for a in (query, key, value))
        out, self._cache = _att.multi_head_attention_forward(
            q, k, v, self._params, self.num_heads, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
            is_causal=is_causal,
        )
        self.attention_weights = self._cache["attn"]["weights"]
        return out

    def backward(self, dout):
        dq, dk, dv, grads = _att.multi_head_attention_backward(dout, self._cache)
        for name, g in grads.items():
            self.accumulate_grad(name, g)
        if self._self_attention:
            return dq + dk + dv
        return dq, dk, dv

    def extra_repr(self) -> str:
        extra = "" if self.kdim == self.vdim == self.embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}{extra}"


class TransformerBlock(Module):
    """A transformer encoder block: self-attention and a ReLU feed-forward network, each
    wrapped in a residual connection and a layer norm (post-norm by default, as torch's
    ``TransformerEncoderLayer``; ``norm_first=True`` for pre-norm). No dropout.

    Args:
        d_model: D. num_heads: h. dim_feedforward: F (default 4 D).
        norm_first: pre-norm. eps: layer-norm epsilon. rng / seed, dtype.

    Parameters:
        the attention's ``Wq ... bo`` plus ``W1`` (D, F), ``b1``, ``W2`` (F, D), ``b2`` and
        ``gamma1``, ``beta1``, ``gamma2``, ``beta2`` (D,).

    ``forward(x, attn_mask=None, key_padding_mask=None, is_causal=False)``.

    Shape:
        (N, T, D) -> (N, T, D).

    Example:
        >>> blk = TransformerBlock(8, 2, seed=0)
        >>> blk(np.ones((2, 3, 8))).shape
        (2, 3, 8)
    """

    def __init__(self, d_model, num_heads, dim_feedforward=None, norm_first=False, eps=1e-5, rng=None, seed=None,
                 dtype=np.float64):
        super().__init__()
        _check_heads("TransformerBlock", d_model, num_heads)
        if rng is not None and seed is not None:
            raise ValueError("TransformerBlock: pass either rng or seed, not both")
        gen = _init.as_rng(rng if rng is not None else seed)
        D = self.d_model = int(d_model)
        self.num_heads = int(num_heads)
        F = self.dim_feedforward = int(dim_feedforward or 4 * D)
        self.norm_first, self.eps = bool(norm_first), float(eps)
        params = _mha_init(gen, D, D, D, dtype)
        for name, (fi, fo) in (("1", (D, F)), ("2", (F, D))):
            k = 1.0 / np.sqrt(fi)
            params["W" + name] = gen.uniform(-k, k, size=(fi, fo)).astype(dtype)
            params["b" + name] = gen.uniform(-k, k, size=(fo,)).astype(dtype)
        for i in ("1", "2"):
            params["gamma" + i] = np.ones(D, dtype)
            params["beta" + i] = np.zeros(D, dtype)
        for name in _att.TRANSFORMER_PARAM_NAMES:
            self.add_param(name, params[name])
        self.attention_weights = None

    def forward(self, x, attn_mask=None, key_padding_mask=None, is_causal=False):
        x = np.asarray(x).astype(self.Wq.dtype, copy=False)
        out, self._cache = _att.transformer_block_forward(
            x, self._params, self.num_heads, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
            is_causal=is_causal, norm_first=self.norm_first, eps=self.eps,
        )
        self.attention_weights = self._cache["attn"]["attn"]["weights"]
        return out

    def backward(self, dout):
        dx, grads = _att.transformer_block_backward(dout, self._cache)
        for name, g in grads.items():
            self.accumulate_grad(name, g)
        return dx

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, dim_feedforward={self.dim_feedforward}, "
                f"norm_first={self.norm_first}")


class PositionalEncoding(Module):
    """Adds the fixed sinusoidal encoding to a batch of sequences: ``x + PE[:T]``.

    Args:
        d_model: D. max_len: the longest sequence accepted. base: frequency base (10000).

    Shape:
        (N, T, D) -> (N, T, D), T <= max_len. No parameters; ``backward`` passes dout on.

    Example:
        >>> pe = PositionalEncoding(4, max_len=10)
        >>> pe(np.zeros((1, 3, 4)))[0, 0]
        array([0., 1., 0., 1.])
    """

    def __init__(self, d_model, max_len=5000, base=10000.0):
        super().__init__()
        self.d_model, self.max_len, self.base = int(d_model), int(max_len), float(base)
        self.pe = _att.sinusoidal_positional_encoding(self.max_len, self.d_model, base=self.base)

    def forward(self, x):
        x = np.asarray(x)
        check_ndim("x", x, 3, f"(N, T, D) with D={self.d_model}")
        N, T, D = x.shape
        if D != self.d_model:
            raise ValueError(f"x must have D={self.d_model} features, got shape {x.shape}")
        if T > self.max_len:
            raise ValueError(f"sequence length T={T} exceeds max_len={self.max_len} of this PositionalEncoding")
        return x + self.pe[:T].astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)

    def backward(self, dout):
        return dout

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"
