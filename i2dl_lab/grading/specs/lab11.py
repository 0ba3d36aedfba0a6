"""Graded exercises of lab 11 (attention and transformers).

References are the library's attention layers (``i2dl_lab.nn.functional.attention``).
Masks are boolean with True = attend, as in the library.
"""

from __future__ import annotations

import numpy as np

from ...nn.attention import MultiHeadAttention
from ..spec import Exercise, allclose


# ---------------------------------------------------------------- scaled dot-product attention
def ref_attention(q, k, v, mask=None):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, cache = F.scaled_dot_product_attention_forward(q, k, v, attn_mask=mask)
    return out, cache["weights"]


def drive_pair(obj, *args):
    out, weights = obj(*args)
    return out, weights


def attention_cases(rng):
    causal = np.tril(np.ones((4, 4), dtype=bool))
    return [
        (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))),
        (rng.standard_normal((1, 4, 8)), rng.standard_normal((1, 4, 8)), rng.standard_normal((1, 4, 2)), causal),
        (rng.standard_normal((3, 2, 16)) * 10, rng.standard_normal((3, 2, 16)) * 10, rng.standard_normal((3, 2, 3))),
        (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)),
         np.array([[True, False, True]] * 3)),
    ]


# ---------------------------------------------------------------- causal mask
def ref_causal_mask(T):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.causal_mask(T)


def drive_mask(obj, T):
    m = np.asarray(obj(T))
    if m.dtype != np.bool_:
        raise TypeError(f"the mask must be a boolean array (True = attend), got dtype {m.dtype}")
    return m


def mask_cases(rng):
    return [(1,), (4,), (int(rng.integers(5, 9)),)]


# ---------------------------------------------------------------- positional encoding
def ref_positional_encoding(T, d_model):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.sinusoidal_positional_encoding(T, d_model)


def pe_cases(rng):
    return [(5, 4), (10, 16), (int(rng.integers(3, 20)), 2 * int(rng.integers(2, 9)))]


# ---------------------------------------------------------------- multi-head self-attention
def ref_mha(x, params, num_heads):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, cache = F.multi_head_attention_forward(x, x, x, params, num_heads)
    return out


def drive_out(obj, *args):
    res = obj(*args)
    return res[0] if isinstance(res, tuple) else res


def mha_cases(rng):
    cases = []
    for N, T, D, h in [(2, 5, 8, 2), (1, 3, 6, 3), (2, 4, 8, 1)]:
        params = {n: 0.5 * rng.standard_normal((D, D) if n.startswith("W") else D)
                  for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")}
        cases.append((rng.standard_normal((N, T, D)), params, h))
    return cases


# ---------------------------------------------------------------- attention backward
def _masked_softmax_weights(q, k, mask):
    """The attention weights of the forward pass (plain NumPy; True = attend)."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    w = np.exp(scores)
    return w / w.sum(axis=-1, keepdims=True)


def ref_attention_backward(dout, q, k, v, weights):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    cache = {"q": q, "k": k, "v": v, "weights": weights, "scale": 1.0 / np.sqrt(q.shape[-1])}
    return F.scaled_dot_product_attention_backward(dout, cache)


def drive_attention_backward(obj, q, k, v, mask, dout):
    """The student's backward receives the weights of the (masked) forward pass."""
    weights = _masked_softmax_weights(q, k, mask)
    return tuple(obj(dout.copy(), q.copy(), k.copy(), v.copy(), weights))


def attention_backward_cases(rng):
    causal = np.tril(np.ones((4, 4), dtype=bool))
    padding = np.array([[True, True, False]] * 2)[:, None, :]  # (N, 1, T_k): the last key is padding
    return [
        (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6)), None,
         rng.standard_normal((2, 3, 6))),
        (rng.standard_normal((1, 4, 8)), rng.standard_normal((1, 4, 8)), rng.standard_normal((1, 4, 2)), causal,
         rng.standard_normal((1, 4, 2))),
        (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5)), padding,
         rng.standard_normal((2, 3, 5))),
        (rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 2, 3, 4)),
         None, rng.standard_normal((2, 2, 3, 4))),  # a head axis
    ]


# ---------------------------------------------------------------- padding + causal masks
def ref_attention_mask(lengths, T, causal=False):
    """(N, T, T) boolean: key j is allowed for query i when j < lengths[n] (and j <= i if causal)."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    lengths = np.asarray(lengths)
    keep = np.arange(T)[None, None, :] < lengths[:, None, None]  # (N, 1, T): padding hides keys
    keep = np.broadcast_to(keep, (len(lengths), T, T))
    return keep & F.causal_mask(T) if causal else keep.copy()


def drive_bool(obj, *args):
    m = np.asarray(obj(*args))
    if m.dtype != np.bool_:
        raise TypeError(f"the mask must be a boolean array (True = attend), got dtype {m.dtype}")
    return m


def attention_mask_cases(rng):
    T = int(rng.integers(4, 8))
    return [(np.array([3, 1, 4]), 4, False), (np.array([3, 1, 4]), 4, True),
            (rng.integers(1, T + 1, size=5), T, bool(rng.integers(2))), (np.array([2]), 2, True)]


# ---------------------------------------------------------------- multi-head self-attention layer
class MultiHeadSelfAttention(MultiHeadAttention):
    """Reference: the library's layer with the lab's signature (mask (T, T) or (N, T, T))."""

    def __init__(self, d_model, num_heads, seed=0):
        super().__init__(d_model, num_heads, seed=seed)

    def forward(self, x, mask=None):
        if mask is not None and np.ndim(mask) == 3:
            mask = np.asarray(mask)[:, None]  # (N, 1, T, T): the same mask for every head
        return super().forward(x, attn_mask=mask)


def drive_mha_layer(cls, d_model, num_heads, params, x, mask, dout):
    layer = cls(d_model, num_heads)
    for name, value in params.items():
        layer.params[name] = value.copy()
    layer.zero_grad()
    out = layer.forward(x.copy(), None if mask is None else mask.copy())
    dx = layer.backward(dout.copy())
    return np.asarray(out), np.asarray(dx), {name: np.asarray(layer.grads[name]) for name in params}


def mha_layer_cases(rng):
    cases = []
    for N, T, D, h, masked in [(2, 5, 8, 2, False), (1, 3, 6, 3, True), (2, 4, 8, 1, True)]:
        params = {n: 0.5 * rng.standard_normal((D, D) if n.startswith("W") else D)
                  for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")}
        mask = np.tril(np.ones((T, T), dtype=bool)) if masked else None
        cases.append((D, h, params, rng.standard_normal((N, T, D)), mask, rng.standard_normal((N, T, D))))
    return cases


EXERCISES = [
    Exercise("attention", "scaled_dot_product_attention", 3, ref_attention, attention_cases, driver=drive_pair,
             compare=allclose(rtol=1e-6, atol=1e-9), title="scaled dot-product attention"),
    Exercise("causal_mask", "causal_mask", 1, ref_causal_mask, mask_cases, driver=drive_mask,
             title="causal (look-ahead) mask"),
    Exercise("positional_encoding", "positional_encoding", 2, ref_positional_encoding, pe_cases,
             compare=allclose(rtol=1e-6, atol=1e-9), title="sinusoidal positional encoding"),
    Exercise("multi_head", "multi_head_self_attention", 3, ref_mha, mha_cases, driver=drive_out,
             compare=allclose(rtol=1e-6, atol=1e-9), title="multi-head self-attention"),
    Exercise("attention_backward", "attention_backward", 4, ref_attention_backward, attention_backward_cases,
             driver=drive_attention_backward, compare=allclose(rtol=1e-6, atol=1e-9),
             title="scaled dot-product attention backward (with masks)"),
    Exercise("attention_mask", "attention_mask", 2, ref_attention_mask, attention_mask_cases, driver=drive_bool,
             title="padding and causal masks"),
    Exercise("mha_layer", "MultiHeadSelfAttention", 5, MultiHeadSelfAttention, mha_layer_cases,
             driver=drive_mha_layer, compare=allclose(rtol=1e-6, atol=1e-9),
             title="multi-head self-attention layer, forward and backward"),
]
