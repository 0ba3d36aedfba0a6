"""Affine layer and activations: numerical gradients, torch agreement, stability, dtypes, bad input."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812

from i2dl_lab.gradcheck import check_layer
from i2dl_lab.nn import functional as F  # noqa: N812  (the documented alias)


def away_from_kinks(rng, shape, kinks=(0.0,), gap=0.05, scale=2.0):
    """Random values at least ``gap`` from every kink, so centred differences see a smooth function."""
    x = rng.uniform(-scale, scale, size=shape)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


def t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# name -> (forward, backward, torch function, kwargs, kinks)
ACTIVATIONS = {
    "relu": (F.relu_forward, F.relu_backward, TF.relu, {}, (0.0,)),
    "leaky_relu": (F.leaky_relu_forward, F.leaky_relu_backward, TF.leaky_relu, {"negative_slope": 0.1}, (0.0,)),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, torch.sigmoid, {}, ()),
    "tanh": (F.tanh_forward, F.tanh_backward, torch.tanh, {}, ()),
    "elu": (F.elu_forward, F.elu_backward, TF.elu, {"alpha": 1.3}, (0.0,)),
    "softplus": (F.softplus_forward, F.softplus_backward, TF.softplus, {"beta": 2.0, "threshold": 3.0}, (1.5,)),
    "hard_tanh": (F.hard_tanh_forward, F.hard_tanh_backward, TF.hardtanh, {"min_val": -0.5, "max_val": 1.0},
                  (-0.5, 1.0)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient_matches_centred_differences(name, rng):
    fwd, bwd, _, kw, kinks = ACTIVATIONS[name]
    x = away_from_kinks(rng, (4, 5), kinks)
    report = check_layer(lambda x: fwd(x, **kw), bwd, x)
    report.assert_ok(1e-7)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch_output_and_gradient(name, rng):
    fwd, bwd, tfn, kw, kinks = ACTIVATIONS[name]
    x = away_from_kinks(rng, (3, 4, 5), kinks, scale=4.0)
    dout = rng.standard_normal(x.shape)
    out, cache = fwd(x, **kw)
    dx = bwd(dout, cache)
    xt = t(x)
    ot = tfn(xt, **kw)
    ot.backward(t(dout, False))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_keeps_float32(name, rng):
    fwd, bwd, _, kw, _ = ACTIVATIONS[name]
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out, cache = fwd(x, **kw)
    dx = bwd(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "softplus"])
def test_activation_is_finite_at_huge_inputs(name):
    fwd, bwd, tfn, kw, _ = ACTIVATIONS[name]
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow in exp would raise RuntimeWarning
        out, cache = fwd(x, **kw)
        dx = bwd(np.ones_like(x), cache)
    expected = tfn(torch.tensor(x), **kw).numpy()
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)


def test_sigmoid_limits_are_exact_at_1e4():
    out, _ = F.sigmoid_forward(np.array([-1e4, 1e4]))
    assert out[0] == 0.0 and out[1] == 1.0


def test_relu_subgradient_at_zero_is_zero_like_torch():
    _, cache = F.relu_forward(np.array([0.0]))
    assert F.relu_backward(np.array([1.0]), cache)[0] == 0.0


def test_hard_tanh_gradient_is_zero_outside_the_range():
    x = np.array([-2.0, 0.0, 2.0])
    _, cache = F.hard_tanh_forward(x)
    np.testing.assert_array_equal(F.hard_tanh_backward(np.ones(3), cache), [0.0, 1.0, 0.0])


def test_hard_tanh_rejects_empty_range():
    with pytest.raises(ValueError, match="min_val must be below max_val"):
        F.hard_tanh_forward(np.zeros(2), min_val=1.0, max_val=1.0)


# ----------------------------------------------------------------------------- affine
def test_affine_gradient_matches_centred_differences_for_image_shaped_input(rng):
    x = rng.standard_normal((3, 2, 2, 3))  # flattened to D = 12
    w, b = rng.standard_normal((12, 5)), rng.standard_normal(5)
    report = check_layer(F.affine_forward, F.affine_backward, x, w, b)
    assert set(report) == {"dx", "dw", "db"}
    report.assert_ok(1e-7)


def test_affine_matches_torch_linear(rng):
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    out, cache = F.affine_forward(x, w, b)
    dx, dw, db = F.affine_backward(dout, cache)
    xt, wt, bt = t(x), t(w), t(b)
    ot = TF.linear(xt.reshape(4, -1), wt.T, bt)  # torch stores (M, D): pass the transpose
    ot.backward(t(dout, False))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12)
    assert dx.shape == x.shape
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_affine_keeps_float32(rng):
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (3, 4), (4,)))
    out, cache = F.affine_forward(x, w, b)
    grads = F.affine_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


def test_affine_with_torch_layout_weight_names_both_shapes():
    x, w_torch_layout = np.zeros((4, 5)), np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"w must have shape \(5, M\), got \(3, 5\).*transposed"):
        F.affine_forward(x, w_torch_layout, np.zeros(3))


def test_affine_rejects_wrong_bias_shape():
    with pytest.raises(ValueError, match=r"b must have shape \(4,\).*got \(3,\)"):
        F.affine_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(3))


def test_affine_rejects_non_numeric_input():
    with pytest.raises(TypeError, match="x must be"):
        F.affine_forward(np.array([["a", "b"]]), np.zeros((2, 1)), np.zeros(1))


def test_affine_rejects_wrong_upstream_shape(rng):
    _, cache = F.affine_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4\), got \(4, 2\)"):
        F.affine_backward(np.zeros((4, 2)), cache)


# ----------------------------------------------------------------------------- PReLU
@pytest.mark.parametrize("alpha_shape", [(1,), (3,)])
def test_prelu_gradients_match_centred_differences(alpha_shape, rng):
    x = away_from_kinks(rng, (2, 3, 2, 2))
    alpha = rng.uniform(0.05, 0.5, size=alpha_shape)
    report = check_layer(F.prelu_forward, F.prelu_backward, x, alpha)
    assert set(report) == {"dx", "dalpha"}
    report.assert_ok(1e-7)


@pytest.mark.parametrize("alpha_shape", [(1,), (3,)])
def test_prelu_matches_torch(alpha_shape, rng):
    x = away_from_kinks(rng, (4, 3, 5))
    alpha = rng.uniform(0.05, 0.5, size=alpha_shape)
    dout = rng.standard_normal(x.shape)
    out, cache = F.prelu_forward(x, alpha)
    dx, dalpha = F.prelu_backward(dout, cache)
    xt, at = t(x), t(alpha)
    ot = TF.prelu(xt, at)
    ot.backward(t(dout, False))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dalpha, at.grad.numpy(), rtol=1e-12)
    assert dalpha.shape == alpha_shape


def test_prelu_rejects_alpha_that_does_not_match_channels():
    with pytest.raises(ValueError, match=r"alpha of shape \(4,\) needs x with 4 channels.*\(2, 3\)"):
        F.prelu_forward(np.zeros((2, 3)), np.zeros(4))


# ----------------------------------------------------------------------------- maxout
def maxout_inputs(rng, N=4, D=3, M=2, k=3):
    x = rng.standard_normal((N, D))
    w, b = rng.standard_normal((k, D, M)), rng.standard_normal((k, M))
    z = np.einsum("nd,kdm->knm", x, w) + b[:, None]
    top2 = np.sort(z, axis=0)[-2:]
    assert np.min(top2[1] - top2[0]) > 1e-3, "pieces too close: a tie is a kink"
    return x, w, b


def test_maxout_gradients_match_centred_differences():
    x, w, b = maxout_inputs(np.random.default_rng(1))
    report = check_layer(F.maxout_forward, F.maxout_backward, x, w, b)
    assert set(report) == {"dx", "dw", "db"}
    report.assert_ok(1e-7)


def test_maxout_matches_torch_expression():
    rng = np.random.default_rng(1)
    x, w, b = maxout_inputs(rng)
    dout = rng.standard_normal((4, 2))
    out, cache = F.maxout_forward(x, w, b)
    dx, dw, db = F.maxout_backward(dout, cache)
    xt, wt, bt = t(x), t(w), t(b)
    ot = (torch.einsum("nd,kdm->knm", xt, wt) + bt[:, None, :]).max(dim=0).values
    ot.backward(t(dout, False))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12)
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_maxout_of_x_and_minus_x_is_abs():
    w = np.stack([np.eye(3), -np.eye(3)])
    x = np.array([[-2.0, 0.5, 3.0]])
    out, _ = F.maxout_forward(x, w, np.zeros((2, 3)))
    np.testing.assert_array_equal(out, np.abs(x))


def test_maxout_rejects_weight_with_wrong_input_size():
    with pytest.raises(ValueError, match=r"w must have shape \(k, 3, M\), got \(2, 4, 5\)"):
        F.maxout_forward(np.zeros((2, 3)), np.zeros((2, 4, 5)), np.zeros((2, 5)))
