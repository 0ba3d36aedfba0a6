"""Attention: numerical gradients with every kind of mask, agreement with torch's
scaled_dot_product_attention, MultiheadAttention and TransformerEncoderLayer, positional
encoding properties, Modules, and bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_f

from i2dl_lab import nn
from i2dl_lab.gradcheck import check_module, eval_numerical_gradient_array, rel_error
from i2dl_lab.nn.functional import attention as _att

N, Tq, Tk, d = 2, 4, 5, 3


def padding_mask():
    keep = np.ones((N, Tk), dtype=bool)
    keep[1, 3:] = False  # second sequence has two padded keys
    return keep


def check_sdpa_gradients(q, k, v, **masks):
    out, cache = _att.scaled_dot_product_attention_forward(q, k, v, **masks)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    grads = _att.scaled_dot_product_attention_backward(dout, cache)
    for i, arr in enumerate((q, k, v)):
        def f(_, i=i):
            args = [q, k, v]
            return _att.scaled_dot_product_attention_forward(*args, **masks)[0]
        num = eval_numerical_gradient_array(f, arr, dout)
        assert rel_error(grads[i], num) < 1e-7, f"gradient {'qkv'[i]}"
    return grads


# ----------------------------------------------------------------------------- scaled dot-product
@pytest.mark.parametrize(
    "masks",
    [{}, {"is_causal": True}, {"key_padding_mask": padding_mask()}, {"attn_mask": "random"},
     {"attn_mask": "random", "key_padding_mask": padding_mask(), "is_causal": True}],
    ids=["none", "causal", "padding", "attn_mask", "all"],
)
def test_attention_gradients_match_centred_differences(masks, rng):
    masks = dict(masks)
    if masks.get("attn_mask") == "random":
        m = rng.random((Tq, Tk)) > 0.4
        m[:, 0] = True  # every query keeps at least one key
        masks["attn_mask"] = m
    q, k, v = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d)), rng.standard_normal((N, Tk, 2))
    check_sdpa_gradients(q, k, v, **masks)


def test_attention_with_heads_matches_torch_sdpa_outputs_and_gradients(rng):
    h = 3
    q, k, v = (rng.standard_normal((N, h, T, d)) for T in (Tq, Tk, Tk))
    keep = (rng.random((Tq, Tk)) > 0.3)[None, None] & padding_mask()[:, None, None, :]
    keep[..., 0] = True
    out, cache = _att.scaled_dot_product_attention_forward(q, k, v, attn_mask=keep)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ref = torch_f.scaled_dot_product_attention(qt, kt, vt, attn_mask=torch.tensor(keep))
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    for ours, t in zip(_att.scaled_dot_product_attention_backward(dout, cache), (qt, kt, vt)):
        np.testing.assert_allclose(ours, t.grad.numpy(), atol=1e-12)


def test_causal_flag_matches_torch_and_an_explicit_lower_triangular_mask(rng):
    q, k, v = (rng.standard_normal((N, 2, 6, d)) for _ in range(3))
    out, cache = _att.scaled_dot_product_attention_forward(q, k, v, is_causal=True)
    ref = torch_f.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-12)
    explicit, _ = _att.scaled_dot_product_attention_forward(q, k, v, attn_mask=np.tril(np.ones((6, 6), bool)))
    np.testing.assert_allclose(out, explicit, atol=1e-15)
    assert np.all(np.triu(cache["weights"][0, 0], 1) == 0)


def test_attention_weights_sum_to_one_and_ignore_padded_keys(rng):
    q, k, v = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d)), rng.standard_normal((N, Tk, d))
    _, cache = _att.scaled_dot_product_attention_forward(q, k, v, key_padding_mask=padding_mask())
    np.testing.assert_allclose(cache["weights"].sum(-1), 1.0, atol=1e-14)
    assert np.all(cache["weights"][1, :, 3:] == 0)


def test_changing_a_padded_value_does_not_change_the_output(rng):
    q, k, v = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d)), rng.standard_normal((N, Tk, d))
    out1, _ = _att.scaled_dot_product_attention_forward(q, k, v, key_padding_mask=padding_mask())
    v2, k2 = v.copy(), k.copy()
    v2[1, 4] += 100.0
    k2[1, 4] -= 100.0
    out2, _ = _att.scaled_dot_product_attention_forward(q, k2, v2, key_padding_mask=padding_mask())
    np.testing.assert_array_equal(out1, out2)


def test_fully_masked_query_row_gives_zeros_not_nan(rng):
    q, k, v = rng.standard_normal((1, 2, d)), rng.standard_normal((1, 3, d)), rng.standard_normal((1, 3, d))
    mask = np.array([[False, False, False], [True, True, False]])
    out, cache = _att.scaled_dot_product_attention_forward(q, k, v, attn_mask=mask)
    assert np.all(out[0, 0] == 0) and np.all(np.isfinite(out))
    dq, dk, dv = _att.scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert np.all(dq[0, 0] == 0) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))


def test_attention_is_stable_with_huge_scores():
    q = np.array([[[1e4, 0.0]]])
    k = np.array([[[1e4, 0.0], [-1e4, 0.0]]])
    v = np.array([[[1.0], [2.0]]])
    out, cache = _att.scaled_dot_product_attention_forward(q, k, v)
    assert np.all(np.isfinite(cache["weights"]))
    np.testing.assert_allclose(out, [[[1.0]]])


# ----------------------------------------------------------------------------- multi-head attention
def assert_key_bias_gradient_is_zero(module, x):
    # bk adds q.bk to every score of a query's row; softmax is shift-invariant, so dbk = 0
    module.zero_grad()
    out = module(x)
    module.backward(np.random.default_rng(3).standard_normal(out.shape))
    assert np.max(np.abs(module.grads["bk"])) < 1e-12
    assert np.max(np.abs(module.grads["bq"])) > 1e-6  # while the query bias does matter


def mha_params(rng, Eq=6, Ek=6, Ev=6, D=6, scale=0.5):
    shapes = {"Wq": (Eq, D), "bq": (D,), "Wk": (Ek, D), "bk": (D,), "Wv": (Ev, D), "bv": (D,), "Wo": (D, D),
              "bo": (D,)}
    return {n: scale * rng.standard_normal(s) for n, s in shapes.items()}


def test_multi_head_attention_gradients_match_centred_differences_cross_attention(rng):
    params = mha_params(rng, Eq=4, Ek=5, Ev=3)
    query, key = rng.standard_normal((N, Tq, 4)), rng.standard_normal((N, Tk, 5))
    value = rng.standard_normal((N, Tk, 3))
    masks = {"key_padding_mask": padding_mask(), "attn_mask": np.tril(np.ones((Tq, Tk), bool))}
    out, cache = _att.multi_head_attention_forward(query, key, value, params, 2, **masks)
    dout = rng.standard_normal(out.shape)
    dq, dk, dv, grads = _att.multi_head_attention_backward(dout, cache)

    def f(_):
        return _att.multi_head_attention_forward(query, key, value, params, 2, **masks)[0]

    for name, arr, g in (("query", query, dq), ("key", key, dk), ("value", value, dv)):
        assert rel_error(g, eval_numerical_gradient_array(f, arr, dout)) < 1e-7, name
    for name in _att.MHA_PARAM_NAMES:
        num = eval_numerical_gradient_array(f, params[name], dout)
        if name == "bk":  # adds the same q.bk to every score of a row: softmax ignores it
            assert np.max(np.abs(grads[name])) < 1e-12 and np.max(np.abs(num)) < 1e-8
        else:
            assert rel_error(grads[name], num) < 1e-7, name


def test_multi_head_attention_matches_torch_outputs_and_gradients(rng):
    torch.manual_seed(0)
    D, h, T = 8, 2, 5
    ref = torch.nn.MultiheadAttention(D, h, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    params = _att.mha_params_from_torch(ref)
    x = rng.standard_normal((N, T, D))
    keep = np.ones((N, T), bool)
    keep[0, -2:] = False
    xt = torch.tensor(x, requires_grad=True)
    out_t, _ = ref(xt, xt, xt, key_padding_mask=torch.tensor(~keep), need_weights=False)  # torch: True = ignore
    out, cache = _att.multi_head_attention_forward(x, x, x, params, h, key_padding_mask=keep)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    dq, dk, dv, grads = _att.multi_head_attention_backward(dout, cache)
    np.testing.assert_allclose(dq + dk + dv, xt.grad.numpy(), atol=1e-12)
    in_w = np.concatenate([grads["Wq"], grads["Wk"], grads["Wv"]], axis=1).T
    in_b = np.concatenate([grads["bq"], grads["bk"], grads["bv"]])
    np.testing.assert_allclose(in_w, ref.in_proj_weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(in_b, ref.in_proj_bias.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["Wo"], ref.out_proj.weight.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["bo"], ref.out_proj.bias.grad.numpy(), atol=1e-12)


def test_split_and_merge_heads_are_inverse_and_use_contiguous_feature_blocks():
    x = np.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    s = _att.split_heads(x, 4)
    assert s.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(s[1, 2, 0], x[1, 0, 4:6])
    np.testing.assert_array_equal(_att.merge_heads(s), x)


def test_mha_module_self_attention_returns_summed_input_gradient(rng):
    mha = nn.MultiHeadAttention(6, 3, seed=0)
    for name in ("bq", "bv", "bo"):
        mha.params[name][...] = rng.standard_normal(6)
    x = rng.standard_normal((2, 4, 6))
    report = check_module(mha, x)
    report.pop("bk")
    report.assert_ok(1e-7)
    assert_key_bias_gradient_is_zero(mha, x)
    out = mha(rng.standard_normal((2, 4, 6)), is_causal=True)
    assert out.shape == (2, 4, 6) and mha.attention_weights.shape == (2, 3, 4, 4)
    assert np.all(np.triu(mha.attention_weights[0, 1], 1) == 0)


def test_mha_module_cross_attention_returns_three_gradients(rng):
    mha = nn.MultiHeadAttention(4, 2, kdim=3, vdim=5, seed=0)
    out = mha(rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 5)))
    dq, dk, dv = mha.backward(np.ones_like(out))
    assert (dq.shape, dk.shape, dv.shape) == ((2, 4, 4), (2, 6, 3), (2, 6, 5))
    assert repr(mha) == "MultiHeadAttention(embed_dim=4, num_heads=2, kdim=3, vdim=5)"


# ----------------------------------------------------------------------------- transformer block
def torch_block_and_params(norm_first, D=8, h=2, F=16):
    torch.manual_seed(4)
    ref = torch.nn.TransformerEncoderLayer(D, h, F, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    with torch.no_grad():
        for p in (ref.norm1.weight, ref.norm1.bias, ref.norm2.weight, ref.norm2.bias, ref.self_attn.in_proj_bias):
            p.add_(0.3 * torch.randn_like(p))
    p = _att.mha_params_from_torch(ref.self_attn)
    t = lambda a: a.detach().numpy().copy()  # noqa: E731
    p.update(W1=t(ref.linear1.weight).T, b1=t(ref.linear1.bias), W2=t(ref.linear2.weight).T, b2=t(ref.linear2.bias),
             gamma1=t(ref.norm1.weight), beta1=t(ref.norm1.bias), gamma2=t(ref.norm2.weight), beta2=t(ref.norm2.bias))
    return ref, p


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_transformer_block_matches_torch_encoder_layer(norm_first, rng):
    ref, params = torch_block_and_params(norm_first)
    x = rng.standard_normal((N, 5, 8))
    xt = torch.tensor(x, requires_grad=True)
    ref.train()  # dropout is 0; train mode avoids torch's fused inference path
    out_t = ref(xt, src_mask=torch.tensor(~_att.causal_mask(5)))  # torch: True = blocked
    out, cache = _att.transformer_block_forward(x, params, 2, is_causal=True, norm_first=norm_first)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    dx, grads = _att.transformer_block_backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["W1"], ref.linear1.weight.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["b2"], ref.linear2.bias.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["gamma1"], ref.norm1.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["beta2"], ref.norm2.bias.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["Wo"], ref.self_attn.out_proj.weight.grad.numpy().T, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_transformer_block_gradients_match_centred_differences(norm_first, rng):
    blk = nn.TransformerBlock(4, 2, dim_feedforward=6, norm_first=norm_first, seed=0)
    for name in ("bq", "bv", "bo", "beta1", "beta2"):
        blk.params[name][...] = 0.3 * rng.standard_normal(4)
    blk.params["gamma1"][...] += 0.3 * rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 4))
    report = check_module(blk, x)
    report.pop("bk")  # analytically zero: a relative error between two round-off values means nothing
    report.assert_ok(1e-7)
    assert_key_bias_gradient_is_zero(blk, x)


# ----------------------------------------------------------------------------- positional encoding
def test_positional_encoding_matches_the_formula():
    pe = _att.sinusoidal_positional_encoding(7, 6)
    for t in (0, 3, 6):
        for i in range(3):
            assert pe[t, 2 * i] == pytest.approx(math.sin(t / 10000 ** (2 * i / 6)), abs=1e-15)
            assert pe[t, 2 * i + 1] == pytest.approx(math.cos(t / 10000 ** (2 * i / 6)), abs=1e-15)


def test_positional_encoding_of_a_shifted_position_is_a_rotation_of_each_pair():
    pe = _att.sinusoidal_positional_encoding(50, 8)
    s = 5
    for i in range(4):
        w = 10000 ** (-2 * i / 8)
        R = np.array([[math.cos(s * w), -math.sin(s * w)], [math.sin(s * w), math.cos(s * w)]])
        np.testing.assert_allclose(pe[s:, 2 * i : 2 * i + 2], pe[:-s, 2 * i : 2 * i + 2] @ R, atol=1e-12)


def test_positional_encoding_handles_odd_width_and_module_adds_it():
    pe = _att.sinusoidal_positional_encoding(3, 5)
    assert pe.shape == (3, 5) and np.all(pe[0, 0::2] == 0) and np.all(pe[0, 1::2] == 1)
    mod = nn.PositionalEncoding(5, max_len=10)
    x = np.ones((2, 3, 5))
    np.testing.assert_allclose(mod(x) - x, np.broadcast_to(pe, (2, 3, 5)))
    assert mod.backward(x) is x
    with pytest.raises(ValueError, match="exceeds max_len=10"):
        mod(np.ones((1, 11, 5)))


# ----------------------------------------------------------------------------- bad input
def test_attention_mask_of_wrong_shape_is_rejected(rng):
    q, k, v = rng.standard_normal((N, Tq, d)), rng.standard_normal((N, Tk, d)), rng.standard_normal((N, Tk, d))
    with pytest.raises(ValueError, match=r"attn_mask must be broadcastable .* got shape \(5, 4\)"):
        _att.scaled_dot_product_attention_forward(q, k, v, attn_mask=np.ones((Tk, Tq), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 5\)"):
        _att.scaled_dot_product_attention_forward(q, k, v, key_padding_mask=np.ones((N, Tq), bool))
    with pytest.raises(TypeError, match="boolean"):
        _att.scaled_dot_product_attention_forward(q, k, v, attn_mask=np.ones((Tq, Tk)))


def test_mismatched_query_key_widths_are_rejected(rng):
    with pytest.raises(ValueError, match="k must have shape"):
        _att.scaled_dot_product_attention_forward(rng.standard_normal((N, Tq, 3)), rng.standard_normal((N, Tk, 4)),
                                                rng.standard_normal((N, Tk, 4)))


def test_heads_must_divide_model_width_and_sequences_must_be_non_empty(rng):
    with pytest.raises(ValueError, match="divisible by num_heads=4"):
        nn.MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match="divisible by num_heads=4"):
        _att.multi_head_attention_forward(np.zeros((1, 2, 6)), np.zeros((1, 2, 6)), np.zeros((1, 2, 6)),
                                        mha_params(rng), 4)
    with pytest.raises(ValueError, match="T_q=0"):
        nn.MultiHeadAttention(6, 2)(np.zeros((1, 0, 6)))


def test_mha_input_width_mismatch_names_the_weight(rng):
    with pytest.raises(ValueError, match=r"Wq must have shape \(7, 6\)"):
        _att.multi_head_attention_forward(np.zeros((1, 2, 7)), np.zeros((1, 2, 6)), np.zeros((1, 2, 6)),
                                        mha_params(rng), 2)


def test_scale_argument_equals_scaling_the_queries(rng):
    # the default scale is 1/sqrt(d); doubling the queries must equal passing scale=2/sqrt(d)
    q, k, v = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 3, 2))
    a, _ = _att.scaled_dot_product_attention_forward(2 * q, k, v)
    b, _ = _att.scaled_dot_product_attention_forward(q, k, v, scale=2 / math.sqrt(4))
    c, _ = _att.scaled_dot_product_attention_forward(q, k, v)
    np.testing.assert_allclose(a, b, atol=1e-14)
    assert np.max(np.abs(a - c)) > 1e-3
