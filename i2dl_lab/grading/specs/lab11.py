"""Graded exercises of lab 11 (attention and transformers).

References are the library's attention layers (``i2dl_lab.nn.functional.attention``).
Masks are boolean with True = attend, as in the library.
"""

from __future__ import annotations

import numpy as np

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


EXERCISES = [
    Exercise("attention", "scaled_dot_product_attention", 3, ref_attention, attention_cases, driver=drive_pair,
             compare=allclose(rtol=1e-6, atol=1e-9), title="scaled dot-product attention"),
    Exercise("causal_mask", "causal_mask", 1, ref_causal_mask, mask_cases, driver=drive_mask,
             title="causal (look-ahead) mask"),
    Exercise("positional_encoding", "positional_encoding", 2, ref_positional_encoding, pe_cases,
             compare=allclose(rtol=1e-6, atol=1e-9), title="sinusoidal positional encoding"),
    Exercise("multi_head", "multi_head_self_attention", 3, ref_mha, mha_cases, driver=drive_out,
             compare=allclose(rtol=1e-6, atol=1e-9), title="multi-head self-attention"),
]
