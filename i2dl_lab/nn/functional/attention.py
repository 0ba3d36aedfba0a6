"""Attention: scaled dot-product attention, multi-head attention, sinusoidal positional
encoding and a transformer encoder block, each with a hand-written backward pass.

Shapes: N batch, T_q query steps, T_k key/value steps, D model width (``d_model``),
``h`` heads of width ``d = D / h``.

Masks are **boolean, True = attend** (keep the entry). That is the convention of
``torch.nn.functional.scaled_dot_product_attention``'s boolean ``attn_mask``; note that
``torch.nn.MultiheadAttention``'s ``key_padding_mask`` and boolean ``attn_mask`` use the
opposite meaning (True = ignore): pass ``~mask`` to torch. Two kinds are accepted and
combined with AND (and with ``is_causal``):

* ``attn_mask``: broadcastable to the score shape, e.g. ``(T_q, T_k)`` (the same for every
  sequence) or ``(N, h, T_q, T_k)`` / ``(N, 1, T_q, T_k)`` (per sequence and head).
* ``key_padding_mask``: ``(N, T_k)``, False on padded key positions of each sequence.

A query row whose keys are all masked attends to nothing: its weights and output are 0
(torch returns NaN there).

Weights act on row vectors (``x @ W``), so projection matrices are ``(D_in, D_out)``;
``torch.nn.MultiheadAttention`` stores the transposes (see :func:`mha_params_from_torch`).
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import as_float_array, check_ndim, check_shape
from .norm import layernorm_backward, layernorm_forward
from .recurrent import temporal_affine_backward, temporal_affine_forward

__all__ = [
    "scaled_dot_product_attention_forward",
    "scaled_dot_product_attention_backward",
    "split_heads",
    "merge_heads",
    "multi_head_attention_forward",
    "multi_head_attention_backward",
    "mha_params_from_torch",
    "sinusoidal_positional_encoding",
    "causal_mask",
    "transformer_block_forward",
    "transformer_block_backward",
    "MHA_PARAM_NAMES",
    "TRANSFORMER_PARAM_NAMES",
]

MHA_PARAM_NAMES = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
TRANSFORMER_PARAM_NAMES = MHA_PARAM_NAMES + ("W1", "b1", "W2", "b2", "gamma1", "beta1", "gamma2", "beta2")


# ----------------------------------------------------------------------------- masks
def causal_mask(T_q: int, T_k: int | None = None) -> np.ndarray:
    """Boolean (T_q, T_k) mask, True where key j <= query i (no looking ahead).

    >>> causal_mask(3).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    T_k = T_q if T_k is None else T_k
    return np.tril(np.ones((T_q, T_k), dtype=bool))


def _bool_mask(name: str, mask) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array (True = attend), got dtype {mask.dtype}")
    return mask


def _combined_mask(score_shape, attn_mask, key_padding_mask, is_causal):
    """AND of all masks, broadcastable to ``score_shape`` (..., T_q, T_k); None if no mask."""
    T_q, T_k = score_shape[-2:]
    keep = None
    if attn_mask is not None:
        attn_mask = _bool_mask("attn_mask", attn_mask)
        ok = attn_mask.ndim <= len(score_shape)
        if ok:
            try:
                ok = np.broadcast_shapes(attn_mask.shape, score_shape) == tuple(score_shape)
            except ValueError:
                ok = False
        if not ok:
            raise ValueError(
                f"attn_mask must be broadcastable to the attention scores of shape {tuple(score_shape)} "
                f"(e.g. (T_q, T_k) = ({T_q}, {T_k}) or (N, heads, T_q, T_k)), got shape {attn_mask.shape}"
            )
        keep = attn_mask
    if key_padding_mask is not None:
        key_padding_mask = _bool_mask("key_padding_mask", key_padding_mask)
        if len(score_shape) < 3:
            raise ValueError("key_padding_mask needs batched inputs (N, ..., T, d); got unbatched queries")
        N = score_shape[0]
        check_shape("key_padding_mask", key_padding_mask, (N, T_k), f"(N, T_k) = ({N}, {T_k}): False on padded keys")
        kpm = key_padding_mask.reshape((N,) + (1,) * (len(score_shape) - 2) + (T_k,))
        keep = kpm if keep is None else keep & kpm
    if is_causal:
        cm = causal_mask(T_q, T_k)
        keep = cm if keep is None else keep & cm
    return keep


# ----------------------------------------------------------------------------- attention
def scaled_dot_product_attention_forward(q, k, v, attn_mask=None, key_padding_mask=None, is_causal=False,
                                         scale=None):
    """``softmax(q @ k^T * scale + mask) @ v`` with ``scale = 1 / sqrt(d)`` by default.

    Args:
        q: queries, shape (..., T_q, d), e.g. (N, T_q, d) or (N, h, T_q, d).
        k: keys, shape (..., T_k, d) with the same leading dimensions.
        v: values, shape (..., T_k, d_v).
        attn_mask: boolean, broadcastable to (..., T_q, T_k); True = attend.
        key_padding_mask: boolean (N, T_k); False marks padded keys.
        is_causal: if True, query i only attends to keys j <= i.
        scale: score multiplier; ``None`` gives ``1 / sqrt(d)``.

    Returns:
        out: shape (..., T_q, d_v); cache (``cache["weights"]``, shape (..., T_q, T_k), holds
        the attention weights, e.g. for plotting an attention map).

    Example:
        >>> q = k = np.eye(2)[None]; v = np.array([[[1.0, 0.0], [0.0, 1.0]]])
        >>> out, cache = scaled_dot_product_attention_forward(q, k, v, is_causal=True)
        >>> out[0, 0]  # the first query can only see the first key
        array([1., 0.])
    """
    q, k, v = as_float_array("q", q), as_float_array("k", k), as_float_array("v", v)
    check_ndim("q", q, (2, 3, 4, 5), "(..., T_q, d)")
    lead, d = q.shape[:-2], q.shape[-1]
    check_shape("k", k, (*lead, None, d), f"(..., T_k, d) with leading dims {lead} and d={d} from q")
    T_k = k.shape[-2]
    check_shape("v", v, (*lead, T_k, None), f"(..., T_k, d_v) with leading dims {lead} and T_k={T_k} from k")
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    scores = q @ np.swapaxes(k, -1, -2)  # (..., T_q, T_k)
    scores *= scale
    keep = _combined_mask(scores.shape, attn_mask, key_padding_mask, is_causal)
    if keep is not None:
        np.copyto(scores, -np.inf, where=~keep)  # in place: the mask broadcasts, scores are not copied
    # stable softmax; a fully masked row has max -inf: use 0 there so that exp gives 0s, not NaN
    row_max = scores.max(axis=-1, keepdims=True)
    if keep is not None:
        row_max[~np.isfinite(row_max)] = 0.0
    scores -= row_max
    weights = np.exp(scores, out=scores)
    denom = weights.sum(axis=-1, keepdims=True)
    if keep is not None:
        denom[denom == 0] = 1.0
    weights /= denom
    out = weights @ v  # (..., T_q, d_v)
    return out, {"q": q, "k": k, "v": v, "weights": weights, "scale": scale}


def scaled_dot_product_attention_backward(dout, cache):
    """Backward pass of :func:`scaled_dot_product_attention_forward`.

    Args:
        dout: gradient of the output, shape (..., T_q, d_v).

    Returns:
        dq (..., T_q, d), dk (..., T_k, d), dv (..., T_k, d_v).
    """
    q, k, v, A, scale = cache["q"], cache["k"], cache["v"], cache["weights"], cache["scale"]
    check_shape("dout", dout, A.shape[:-1] + (v.shape[-1],), "(..., T_q, d_v) like the forward output")
    dtype = np.result_type(dout, A, q, k, v)
    dq, dk, dv = (np.empty(a.shape, dtype=dtype) for a in (q, k, v))
    if A.ndim == 2:  # unbatched: one block
        _sdpa_backward_block(dout, q, k, v, A, scale, dq, dk, dv)
        return dq, dk, dv
    # Blocks along the first axis: the (..., T_q, T_k) gradient of the scores exists for one
    # block at a time, never for the whole batch.
    step = max(1, _SCORES_BYTES // max(1, A[0].nbytes))
    for s in range(0, A.shape[0], step):
        b = slice(s, s + step)
        _sdpa_backward_block(dout[b], q[b], k[b], v[b], A[b], scale, dq[b], dk[b], dv[b])
    return dq, dk, dv


# Bytes of score gradients held at once in the attention backward pass.
_SCORES_BYTES = 1 << 19


def _sdpa_backward_block(dout, q, k, v, A, scale, dq, dk, dv):
    """One block of :func:`scaled_dot_product_attention_backward`, written into dq, dk, dv."""
    np.matmul(np.swapaxes(A, -1, -2), dout, out=dv)
    dS = dout @ np.swapaxes(v, -1, -2)  # (..., T_q, T_k): dA, turned into dS in place
    # softmax Jacobian per row: dS = A * (dA - sum(dA * A)); masked entries have A = 0.
    # The row sums are batched dot products, so no temporary of the scores' size is made.
    row = np.matmul(dS[..., None, :], A[..., :, None])[..., 0]  # (..., T_q, 1)
    dS -= row
    dS *= A
    dS *= scale
    np.matmul(dS, k, out=dq)
    np.matmul(np.swapaxes(dS, -1, -2), q, out=dk)


# ----------------------------------------------------------------------------- multi-head attention
def split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(N, T, D) -> (N, h, T, D/h): head j gets features ``j*d:(j+1)*d`` (torch's layout)."""
    N, T, D = x.shape
    return x.reshape(N, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(N, h, T, d) -> (N, T, h*d), the inverse of :func:`split_heads`."""
    N, h, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, h * d)


def _check_mha(query, key, value, params, num_heads):
    missing = [n for n in MHA_PARAM_NAMES if n not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; multi-head attention needs {list(MHA_PARAM_NAMES)}")
    if not isinstance(num_heads, (int, np.integer)) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer, got {num_heads!r}")
    check_ndim("query", query, 3, "(N, T_q, E_q)")
    check_ndim("key", key, 3, "(N, T_k, E_k)")
    check_ndim("value", value, 3, "(N, T_k, E_v)")
    N, T_q, _ = query.shape
    if T_q == 0 or key.shape[1] == 0:
        raise ValueError(f"attention needs at least one query and one key, got T_q={T_q}, T_k={key.shape[1]}")
    Wo = params["Wo"]
    D = Wo.shape[0]
    if D % num_heads:
        raise ValueError(f"d_model={D} must be divisible by num_heads={num_heads}")
    check_shape("key", key, (N, None, params["Wk"].shape[0]), f"(N, T_k, E_k) with N={N} from query")
    check_shape("value", value, (N, key.shape[1], params["Wv"].shape[0]), "(N, T_k, E_v) with N, T_k from key")
    for w, inp in (("Wq", query), ("Wk", key), ("Wv", value)):
        check_shape(w, params[w], (inp.shape[2], D), f"(E_in, d_model) = ({inp.shape[2]}, {D})")
    for b in ("bq", "bk", "bv", "bo"):
        check_shape(b, params[b], (D,), f"(d_model,) = ({D},)")


def multi_head_attention_forward(query, key, value, params, num_heads, attn_mask=None, key_padding_mask=None,
                                 is_causal=False):
    """Multi-head attention: project, split into heads, attend per head, merge, project.

    ::

        Q = query @ Wq + bq;  K = key @ Wk + bk;  V = value @ Wv + bv      # (N, T, D)
        head_j = attention(Q_j, K_j, V_j)                                  # (N, T_q, D/h)
        out = concat_j(head_j) @ Wo + bo                                   # (N, T_q, D)

    Args:
        query: (N, T_q, E_q); key: (N, T_k, E_k); value: (N, T_k, E_v). For self-attention
            pass the same array three times.
        params: dict with ``Wq`` (E_q, D), ``bq`` (D,), ``Wk`` (E_k, D), ``bk``, ``Wv``
            (E_v, D), ``bv``, ``Wo`` (D, D), ``bo`` (D,).
        num_heads: h, which must divide D.
        attn_mask, key_padding_mask, is_causal: as in
            :func:`scaled_dot_product_attention_forward` (True = attend); ``attn_mask`` is
            broadcast against (N, h, T_q, T_k).

    Returns:
        out (N, T_q, D); cache (``cache["attn"]["weights"]`` is (N, h, T_q, T_k)).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = {n: rng.normal(size=(8, 8) if n[0] == "W" else 8) for n in MHA_PARAM_NAMES}
        >>> x = rng.normal(size=(2, 5, 8))
        >>> out, cache = multi_head_attention_forward(x, x, x, p, num_heads=2, is_causal=True)
        >>> out.shape, cache["attn"]["weights"].shape
        ((2, 5, 8), (2, 2, 5, 5))
    """
    query, key, value = (as_float_array(n, a) for n, a in (("query", query), ("key", key), ("value", value)))
    params = {n: as_float_array(n, params[n]) if n in params else None for n in MHA_PARAM_NAMES}
    params = {n: p for n, p in params.items() if p is not None}
    _check_mha(query, key, value, params, num_heads)
    Q, cq = temporal_affine_forward(query, params["Wq"], params["bq"])  # (N, T_q, D)
    K, ck = temporal_affine_forward(key, params["Wk"], params["bk"])  # (N, T_k, D)
    V, cv = temporal_affine_forward(value, params["Wv"], params["bv"])  # (N, T_k, D)
    heads, ca = scaled_dot_product_attention_forward(
        split_heads(Q, num_heads), split_heads(K, num_heads), split_heads(V, num_heads),
        attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
    )  # (N, h, T_q, d)
    out, co = temporal_affine_forward(merge_heads(heads), params["Wo"], params["bo"])
    return out, {"q": cq, "k": ck, "v": cv, "attn": ca, "o": co, "num_heads": num_heads}


def multi_head_attention_backward(dout, cache):
    """Backward pass of :func:`multi_head_attention_forward`.

    Args:
        dout: gradient of the output, (N, T_q, D).

    Returns:
        dquery (N, T_q, E_q), dkey (N, T_k, E_k), dvalue (N, T_k, E_v), and a dict of
        parameter gradients with the keys of ``params``. For self-attention the input
        gradient is ``dquery + dkey + dvalue``.
    """
    h = cache["num_heads"]
    dmerged, dWo, dbo = temporal_affine_backward(dout, cache["o"])
    dQh, dKh, dVh = scaled_dot_product_attention_backward(split_heads(dmerged, h), cache["attn"])
    del dmerged  # each head gradient is released once merged and projected: lower peak memory
    dquery, dWq, dbq = temporal_affine_backward(merge_heads(dQh), cache["q"])
    del dQh
    dkey, dWk, dbk = temporal_affine_backward(merge_heads(dKh), cache["k"])
    del dKh
    dvalue, dWv, dbv = temporal_affine_backward(merge_heads(dVh), cache["v"])
    grads = {"Wq": dWq, "bq": dbq, "Wk": dWk, "bk": dbk, "Wv": dWv, "bv": dbv, "Wo": dWo, "bo": dbo}
    return dquery, dkey, dvalue, grads


def mha_params_from_torch(mha) -> dict:
    """Parameters of a ``torch.nn.MultiheadAttention`` (same q/k/v width) as a NumPy dict.

    torch keeps one ``in_proj_weight`` (3D, D) = [Wq; Wk; Wv] acting as ``x @ W.T``.
    """
    W = mha.in_proj_weight.detach().cpu().numpy()
    b = mha.in_proj_bias.detach().cpu().numpy()
    D = W.shape[1]
    out = {}
    for j, n in enumerate("qkv"):
        out[f"W{n}"] = W[j * D : (j + 1) * D].T.copy()
        out[f"b{n}"] = b[j * D : (j + 1) * D].copy()
    out["Wo"] = mha.out_proj.weight.detach().cpu().numpy().T.copy()
    out["bo"] = mha.out_proj.bias.detach().cpu().numpy().copy()
    return out


# ----------------------------------------------------------------------------- positional encoding
def sinusoidal_positional_encoding(T: int, d_model: int, base: float = 10000.0, dtype=np.float64) -> np.ndarray:
    """The fixed encoding of "Attention is all you need", shape (T, d_model)::

        PE[t, 2i]   = sin(t / base^(2i / d_model))
        PE[t, 2i+1] = cos(t / base^(2i / d_model))

    Each pair of features is a rotation at its own frequency, so ``PE[t + s]`` is a linear
    function of ``PE[t]`` for a fixed offset ``s``.

    >>> pe = sinusoidal_positional_encoding(4, 6)
    >>> pe.shape, float(pe[0, 0]), float(pe[0, 1])
    ((4, 6), 0.0, 1.0)
    """
    if not isinstance(T, (int, np.integer)) or T < 0:
        raise ValueError(f"T must be a non-negative integer, got {T!r}")
    if not isinstance(d_model, (int, np.integer)) or d_model < 1:
        raise ValueError(f"d_model must be a positive integer, got {d_model!r}")
    pos = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    inv_freq = base ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)  # (ceil(d/2),)
    angles = pos * inv_freq  # (T, ceil(d/2))
    pe = np.empty((T, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return pe.astype(dtype, copy=False)


# ----------------------------------------------------------------------------- transformer block
def _layernorm_3d(x, gamma, beta, eps):
    return layernorm_forward(x, gamma, beta, {"eps": eps})  # normalises each (n, t) row over D


def _layernorm_3d_backward(dout, cache):
    return layernorm_backward(dout, cache)


def _ffn_forward(x, p):
    hid, c1 = temporal_affine_forward(x, p["W1"], p["b1"])  # (N, T, F)
    act = np.maximum(hid, 0.0)
    out, c2 = temporal_affine_forward(act, p["W2"], p["b2"])  # (N, T, D)
    return out, (c1, hid > 0, c2)


def _ffn_backward(dout, cache):
    c1, positive, c2 = cache
    dact, dW2, db2 = temporal_affine_backward(dout, c2)
    dx, dW1, db1 = temporal_affine_backward(dact * positive, c1)
    return dx, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def transformer_block_forward(x, params, num_heads, attn_mask=None, key_padding_mask=None, is_causal=False,
                              norm_first=False, eps=1e-5):
    """One transformer encoder block (self-attention + feed-forward, each with a residual).

    Post-norm (``norm_first=False``, the original transformer and torch's default)::

        y = LayerNorm1(x + MHA(x));   out = LayerNorm2(y + FFN(y))

    Pre-norm (``norm_first=True``)::

        y = x + MHA(LayerNorm1(x));   out = y + FFN(LayerNorm2(y))

    with ``FFN(z) = relu(z @ W1 + b1) @ W2 + b2``. No dropout (it would make the block
    non-deterministic); equals ``torch.nn.TransformerEncoderLayer(..., dropout=0,
    batch_first=True)``.

    Args:
        x: (N, T, D).
        params: the multi-head attention parameters (:data:`MHA_PARAM_NAMES`) plus ``W1``
            (D, F), ``b1`` (F,), ``W2`` (F, D), ``b2`` (D,), ``gamma1``, ``beta1``,
            ``gamma2``, ``beta2`` (D,) for the two layer norms.
        num_heads: heads of the self-attention.
        attn_mask, key_padding_mask, is_causal: masks of the self-attention (True = attend).
        norm_first: pre-norm instead of post-norm.
        eps: layer-norm epsilon.

    Returns:
        out (N, T, D); cache.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> D, F = 8, 16
        >>> p = {n: 0.1 * rng.normal(size=(D, D) if n[0] == "W" else D) for n in MHA_PARAM_NAMES}
        >>> p.update(W1=0.1 * rng.normal(size=(D, F)), b1=np.zeros(F), W2=0.1 * rng.normal(size=(F, D)),
        ...          b2=np.zeros(D), gamma1=np.ones(D), beta1=np.zeros(D), gamma2=np.ones(D), beta2=np.zeros(D))
        >>> out, cache = transformer_block_forward(rng.normal(size=(2, 5, D)), p, num_heads=2, is_causal=True)
        >>> dx, grads = transformer_block_backward(np.ones_like(out), cache)
        >>> out.shape, sorted(grads) == sorted(TRANSFORMER_PARAM_NAMES)
        ((2, 5, 8), True)
    """
    x = as_float_array("x", x)
    check_ndim("x", x, 3, "(N, T, D)")
    missing = [n for n in TRANSFORMER_PARAM_NAMES if n not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; a transformer block needs {list(TRANSFORMER_PARAM_NAMES)}")
    p = params
    D = x.shape[2]
    check_shape("W1", p["W1"], (D, None), f"(D, F) with D={D}")
    check_shape("W2", p["W2"], (p["W1"].shape[1], D), "(F, D) with F from W1")
    masks = {"attn_mask": attn_mask, "key_padding_mask": key_padding_mask, "is_causal": is_causal}
    if norm_first:
        z, cl1 = _layernorm_3d(x, p["gamma1"], p["beta1"], eps)
        a, ca = multi_head_attention_forward(z, z, z, p, num_heads, **masks)
        y = x + a
        z2, cl2 = _layernorm_3d(y, p["gamma2"], p["beta2"], eps)
        f, cf = _ffn_forward(z2, p)
        out = y + f
    else:
        a, ca = multi_head_attention_forward(x, x, x, p, num_heads, **masks)
        y, cl1 = _layernorm_3d(x + a, p["gamma1"], p["beta1"], eps)
        f, cf = _ffn_forward(y, p)
        out, cl2 = _layernorm_3d(y + f, p["gamma2"], p["beta2"], eps)
    return out, {"attn": ca, "ln1": cl1, "ln2": cl2, "ffn": cf, "norm_first": norm_first}


def transformer_block_backward(dout, cache):
    """Backward pass of :func:`transformer_block_forward`.

    Returns:
        dx (N, T, D) and a dict of parameter gradients keyed like ``params``.
    """
    if cache["norm_first"]:
        dy = dout.copy()  # residual path
        dz2, gf = _ffn_backward(dout, cache["ffn"])
        dy_ln, dg2, dbe2 = _layernorm_3d_backward(dz2, cache["ln2"])
        dy += dy_ln
        dq, dk, dv, ga = multi_head_attention_backward(dy, cache["attn"])
        dx_ln, dg1, dbe1 = _layernorm_3d_backward(dq + dk + dv, cache["ln1"])
        dx = dy + dx_ln
    else:
        ds2, dg2, dbe2 = _layernorm_3d_backward(dout, cache["ln2"])  # ds2: grad of y + f
        dy, gf = _ffn_backward(ds2, cache["ffn"])
        dy += ds2
        ds1, dg1, dbe1 = _layernorm_3d_backward(dy, cache["ln1"])  # ds1: grad of x + a
        dq, dk, dv, ga = multi_head_attention_backward(ds1, cache["attn"])
        dx = ds1 + dq + dk + dv
    grads = dict(ga)
    grads.update(gf)
    grads.update({"gamma1": dg1, "beta1": dbe1, "gamma2": dg2, "beta2": dbe2})
    return dx, grads
