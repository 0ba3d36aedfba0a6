"""Batch/spatial/layer/group/local-response normalisation and dropout: gradients, torch, modes, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812

from i2dl_lab import nn
from i2dl_lab.gradcheck import check_layer, check_module
from i2dl_lab.nn import functional as F  # noqa: N812

# The upstream gradient of the checks must not be drawn from the same seed as the input: with
# rng(0) for both, dout would be an affine function of x, a direction batch norm's dx removes.
UPSTREAM_SEED = 12345


def torch_grads(fn, *arrays, dout):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def assert_close(a, b, tol=1e-10):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("backward", [F.batchnorm_backward, F.batchnorm_backward_alt])
def test_batchnorm_train_mode_gradients_match_centred_differences(rng, backward):
    x = 3.0 * rng.standard_normal((6, 4)) + 1.0
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    report = check_layer(F.batchnorm_forward, backward, x, gamma, beta, param={"mode": "train"}, seed=UPSTREAM_SEED)
    assert set(report) == {"dx", "dgamma", "dbeta"}
    report.assert_ok(1e-7)


def test_batchnorm_test_mode_gradients_match_centred_differences(rng):
    x, gamma, beta = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    param = {"mode": "test", "running_mean": rng.standard_normal(3), "running_var": rng.random(3) + 0.5}
    for backward in (F.batchnorm_backward, F.batchnorm_backward_alt):
        check_layer(F.batchnorm_forward, backward, x, gamma, beta, param=param, seed=UPSTREAM_SEED).assert_ok(1e-7)


def test_spatial_batchnorm_gradients_match_centred_differences(rng):
    x = 2.0 * rng.standard_normal((3, 2, 3, 4)) - 1.0
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    check_layer(
        F.spatial_batchnorm_forward,
        F.spatial_batchnorm_backward,
        x,
        gamma,
        beta,
        param={"mode": "train"},
        seed=UPSTREAM_SEED,
    ).assert_ok(1e-7)


def test_graph_and_one_line_batchnorm_backward_agree(rng):
    x = rng.standard_normal((50, 7))
    out, cache = F.batchnorm_forward(x, rng.standard_normal(7), rng.standard_normal(7), {"mode": "train"})
    dout = rng.standard_normal(out.shape)
    for a, b in zip(F.batchnorm_backward(dout, cache), F.batchnorm_backward_alt(dout, cache)):
        assert_close(a, b, 1e-12)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 5, 6)])
def test_batchnorm_matches_torch_including_running_statistics(rng, shape):
    """Our momentum 0.9 is torch's 0.1; torch's running_var holds the unbiased variance."""
    C = shape[1]
    x = 2.0 * rng.standard_normal(shape) + 3.0
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    rm0, rv0 = rng.standard_normal(C), rng.random(C) + 0.5
    forward = F.batchnorm_forward if len(shape) == 2 else F.spatial_batchnorm_forward
    backward = F.batchnorm_backward_alt if len(shape) == 2 else F.spatial_batchnorm_backward
    param = {"mode": "train", "momentum": 0.9, "eps": 1e-5, "running_mean": rm0.copy(), "running_var": rv0.copy()}
    out, cache = forward(x, gamma, beta, param)
    dout = rng.standard_normal(shape)
    t_rm, t_rv = torch.tensor(rm0), torch.tensor(rv0)
    t_out, (tdx, tdg, tdb) = torch_grads(
        lambda a, g, b: TF.batch_norm(a, t_rm, t_rv, g, b, training=True, momentum=0.1, eps=1e-5),
        x,
        gamma,
        beta,
        dout=dout,
    )
    assert_close(out, t_out)
    for ours, theirs in zip(backward(dout, cache), (tdx, tdg, tdb)):
        assert_close(ours, theirs)
    assert_close(param["running_mean"], t_rm.numpy())
    # Convert: torch adds 0.1 * var * M / (M - 1); we add 0.1 * var.
    M = x.size // C
    batch_var = x.transpose(1, 0, *range(2, x.ndim)).reshape(C, -1).var(axis=1)
    assert_close(t_rv.numpy() - param["running_var"], 0.1 * batch_var * (M / (M - 1) - 1.0))
    # Test mode uses the running statistics exactly as torch's eval mode does.
    param["mode"] = "test"
    out_test, _ = forward(x, gamma, beta, param)
    ref = TF.batch_norm(
        torch.tensor(x),
        torch.tensor(param["running_mean"]),
        torch.tensor(param["running_var"]),
        torch.tensor(gamma),
        torch.tensor(beta),
        training=False,
        eps=1e-5,
    ).numpy()
    assert_close(out_test, ref)


@pytest.mark.parametrize("offset", [0.5, 1000.0])  # a mean small against the spread, and one dwarfing it
def test_spatial_batchnorm_float32_stays_float32_and_matches_float64(rng, offset):
    """The fast statistics (raw sums) must not lose float32 precision when the mean dwarfs the spread."""
    x = offset + rng.standard_normal((6, 3, 5, 7))
    gamma, beta, dout = 1 + 0.2 * rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(x.shape)
    x, gamma, beta, dout = (a.astype(np.float32) for a in (x, gamma, beta, dout))
    p32, p64 = {"mode": "train"}, {"mode": "train"}
    out32, cache32 = F.spatial_batchnorm_forward(x, gamma, beta, p32)
    out64, cache64 = F.spatial_batchnorm_forward(x.astype(np.float64), gamma.astype(np.float64),
                                                 beta.astype(np.float64), p64)
    ours = (out32, *F.spatial_batchnorm_backward(dout, cache32), p32["running_mean"], p32["running_var"])
    exact = (out64, *F.spatial_batchnorm_backward(dout.astype(np.float64), cache64), p64["running_mean"],
             p64["running_var"])
    for a, b in zip(ours, exact):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=3e-5 * np.abs(b).max())


def test_batchnorm_train_output_is_standardised_then_scaled(rng):
    x = 5.0 * rng.standard_normal((200, 3)) + 10.0
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    out, _ = F.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert_close(out.mean(axis=0), beta, 1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-5)


def test_batchnorm_running_averages_converge_to_data_statistics(rng):
    param = {"mode": "train", "momentum": 0.9}
    for _ in range(200):
        F.batchnorm_forward(rng.normal(4.0, 3.0, size=(100, 2)), np.ones(2), np.zeros(2), param)
    np.testing.assert_allclose(param["running_mean"], 4.0, atol=0.3)
    np.testing.assert_allclose(param["running_var"], 9.0, rtol=0.1)


def test_batchnorm_errors(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="gamma must have 3 entries"):
        F.batchnorm_forward(x, np.ones(2), np.zeros(3), {"mode": "train"})
    with pytest.raises(ValueError, match="'train' or 'test', got 'eval'"):
        F.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "eval"})
    with pytest.raises(ValueError, match="momentum"):
        F.batchnorm_forward(x, np.ones(3), np.zeros(3), {"momentum": 1.5})
    with pytest.raises(ValueError, match=r"x must have 2 dimensions.*spatial_batchnorm"):
        F.batchnorm_forward(rng.standard_normal((2, 3, 4, 4)), np.ones(3), np.zeros(3), {})
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        F.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {})
    with pytest.raises(TypeError, match="bn_param must be a dict"):
        F.batchnorm_forward(x, np.ones(3), np.zeros(3), "train")


# ----------------------------------------------------------------------------- layer / group norm
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 6)])
def test_layernorm_gradients_and_torch_agreement(rng, shape):
    D = shape[-1]
    x, gamma, beta = rng.standard_normal(shape), rng.standard_normal(D), rng.standard_normal(D)
    check_layer(
        F.layernorm_forward, F.layernorm_backward, x, gamma, beta, param={"eps": 1e-5}, seed=UPSTREAM_SEED
    ).assert_ok(1e-7)
    out, cache = F.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    dout = rng.standard_normal(shape)
    t_out, t_grads = torch_grads(lambda a, g, b: TF.layer_norm(a, (D,), g, b, eps=1e-5), x, gamma, beta, dout=dout)
    assert_close(out, t_out)
    for ours, theirs in zip(F.layernorm_backward(dout, cache), t_grads):
        assert_close(ours, theirs)


@pytest.mark.parametrize("offset", [0.0, 100.0])  # x - mean itself costs float32 ~offset * 3e-8
def test_layernorm_float32_stays_float32_and_matches_float64(rng, offset):
    x = offset + rng.standard_normal((300, 2, 24))  # more rows than one chunk of the library's loop
    gamma, beta, dout = 1 + 0.2 * rng.standard_normal(24), rng.standard_normal(24), rng.standard_normal(x.shape)
    x, gamma, beta, dout = (a.astype(np.float32) for a in (x, gamma, beta, dout))
    out32, cache32 = F.layernorm_forward(x, gamma, beta, {})
    out64, cache64 = F.layernorm_forward(x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64), {})
    ours = (out32, *F.layernorm_backward(dout, cache32))
    exact = (out64, *F.layernorm_backward(dout.astype(np.float64), cache64))
    for a, b in zip(ours, exact):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=3e-5 * np.abs(b).max())


def test_layernorm_errors(rng):
    with pytest.raises(ValueError, match=r"gamma must have 5 entries"):
        F.layernorm_forward(rng.standard_normal((2, 5)), np.ones(4), np.zeros(5), {})
    with pytest.raises(ValueError, match="eps"):
        F.layernorm_forward(rng.standard_normal((2, 5)), np.ones(5), np.zeros(5), {"eps": -1.0})


@pytest.mark.parametrize(
    "shape, G, pshape", [((2, 6, 3, 2), 3, (6,)), ((2, 4, 5), 2, (1, 4, 1)), ((3, 4, 2, 2), 4, (1, 4, 1, 1))]
)
def test_groupnorm_gradients_and_torch_agreement(rng, shape, G, pshape):
    C = shape[1]
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(pshape), rng.standard_normal(pshape)

    def fwd(x, gamma, beta, param):
        return F.groupnorm_forward(x, gamma, beta, G, param)

    check_layer(fwd, F.groupnorm_backward, x, gamma, beta, param={"eps": 1e-5}, seed=UPSTREAM_SEED).assert_ok(1e-7)
    out, cache = fwd(x, gamma, beta, {"eps": 1e-5})
    dout = rng.standard_normal(shape)
    t_out, (tdx, tdg, tdb) = torch_grads(
        lambda a, g, b: TF.group_norm(a, G, g.reshape(C), b.reshape(C), eps=1e-5), x, gamma, beta, dout=dout
    )
    dx, dg, db = F.groupnorm_backward(dout, cache)
    assert dg.shape == pshape and db.shape == pshape
    assert_close(out, t_out)
    assert_close(dx, tdx)
    assert_close(dg, tdg)
    assert_close(db, tdb)


def test_groupnorm_group_count_must_divide_channels(rng):
    with pytest.raises(ValueError, match="divides the channel count C=6, got 4"):
        F.groupnorm_forward(rng.standard_normal((1, 6, 2, 2)), np.ones(6), np.zeros(6), 4, {})


# ----------------------------------------------------------------------------- local response norm
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm_gradients_and_torch_agreement(rng, size):
    x = rng.standard_normal((2, 6, 3, 2))
    p = {"size": size, "alpha": 0.5, "beta": 0.75, "k": 2.0}
    check_layer(
        F.local_response_norm_forward, F.local_response_norm_backward, x, param=p, seed=UPSTREAM_SEED
    ).assert_ok(1e-7)
    out, cache = F.local_response_norm_forward(x, p)
    dout = rng.standard_normal(x.shape)
    t_out, (tdx,) = torch_grads(lambda a: TF.local_response_norm(a, size, alpha=0.5, beta=0.75, k=2.0), x, dout=dout)
    assert_close(out, t_out)
    assert_close(F.local_response_norm_backward(dout, cache), tdx)


def test_local_response_norm_defaults_match_torch(rng):
    x = 10.0 * rng.standard_normal((1, 8, 4, 4))  # large activations, where LRN actually damps
    out, _ = F.local_response_norm_forward(x)
    assert_close(out, TF.local_response_norm(torch.tensor(x), 5).numpy())
    assert np.all(np.abs(out) <= np.abs(x))


# ----------------------------------------------------------------------------- dropout
def test_dropout_gradient_with_fixed_mask_matches_centred_differences(rng):
    x = rng.standard_normal((5, 6))
    check_layer(
        F.dropout_forward, F.dropout_backward, x, param={"p": 0.3, "mode": "train", "seed": 7}, seed=UPSTREAM_SEED
    ).assert_ok(1e-7)


def test_dropout_drops_with_probability_p_and_rescales(rng):
    x = np.ones((500, 400))
    out, (_, mask) = F.dropout_forward(x, {"p": 0.3, "mode": "train", "seed": 0})
    dropped = np.mean(out == 0.0)
    assert abs(dropped - 0.3) < 0.01  # 200k draws: the standard error is 0.001
    np.testing.assert_allclose(np.unique(out), [0.0, 1.0 / 0.7])
    assert abs(out.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    np.testing.assert_array_equal(F.dropout_backward(x, (None, mask)), out)


def test_dropout_same_seed_same_mask_and_test_mode_identity(rng):
    x = rng.standard_normal((10, 10))
    a, _ = F.dropout_forward(x, {"p": 0.5, "seed": 3})
    b, _ = F.dropout_forward(x, {"p": 0.5, "seed": 3})
    c, _ = F.dropout_forward(x, {"p": 0.5, "seed": 4})
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    out, cache = F.dropout_forward(x, {"p": 0.5, "mode": "test"})
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(F.dropout_backward(x, cache), x)


def test_dropout_p_is_the_drop_probability_and_is_range_checked(rng):
    out, _ = F.dropout_forward(np.ones(10000), {"p": 0.9, "seed": 1})
    assert np.mean(out == 0.0) > 0.85  # p = 0.9 drops most units (CS231n's keep-prob would keep them)
    with pytest.raises(ValueError, match=r"drop probability\) must be in \[0.0, 1.0\), got 1.0"):
        F.dropout_forward(np.ones(3), {"p": 1.0})
    with pytest.raises(ValueError, match="'train' or 'test'"):
        F.dropout_forward(np.ones(3), {"p": 0.5, "mode": "eval"})


# ----------------------------------------------------------------------------- modules
def test_batchnorm1d_module_tracks_running_stats_like_torch(rng):
    bn = nn.BatchNorm1d(3)
    ref = torch.nn.BatchNorm1d(3, momentum=0.1).double()
    for _ in range(3):
        x = rng.normal(2.0, 3.0, size=(16, 3))
        out = bn(x)
        assert_close(out, ref(torch.tensor(x)).detach().numpy())
    assert_close(bn.running_mean, ref.running_mean.numpy())
    assert "running_mean" in bn.state_dict() and "running_var" in bn.buffers
    bn.eval()
    ref.eval()
    x = rng.normal(size=(4, 3))
    before = bn.running_mean.copy()
    out = bn(x)
    np.testing.assert_array_equal(bn.running_mean, before)  # eval mode does not update
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5)
    assert_close(out, expected)


def test_batchnorm_modules_gradients(rng):
    bn1 = nn.BatchNorm1d(4)
    bn1.gamma[...] = rng.standard_normal(4)
    bn1.beta[...] = rng.standard_normal(4)
    check_module(bn1, rng.standard_normal((5, 4)), seed=UPSTREAM_SEED).assert_ok(1e-7)
    bn2 = nn.BatchNorm2d(2)
    bn2.gamma[...] = rng.standard_normal(2)
    check_module(bn2, rng.standard_normal((3, 2, 3, 3)), seed=UPSTREAM_SEED).assert_ok(1e-7)
    check_module(bn2.eval(), rng.standard_normal((3, 2, 3, 3)), seed=UPSTREAM_SEED).assert_ok(1e-7)


def test_layer_group_lrn_modules(rng):
    ln = nn.LayerNorm(6)
    ln.gamma[...] = rng.standard_normal(6)
    check_module(ln, rng.standard_normal((2, 3, 6)), seed=UPSTREAM_SEED).assert_ok(1e-7)
    gn = nn.GroupNorm(2, 4)
    gn.beta[...] = rng.standard_normal(4)
    check_module(gn, rng.standard_normal((2, 4, 3, 3)), seed=UPSTREAM_SEED).assert_ok(1e-7)
    lrn = nn.LocalResponseNorm(3, alpha=0.3, beta=0.75, k=1.0)
    check_module(lrn, rng.standard_normal((2, 5, 2, 2)), seed=UPSTREAM_SEED).assert_ok(1e-7)
    assert repr(ln) == "LayerNorm(6, eps=1e-05)" and repr(gn) == "GroupNorm(2, 4, eps=1e-05)"
    assert repr(nn.BatchNorm2d(8)) == "BatchNorm2d(8, eps=1e-05, momentum=0.9)"
    with pytest.raises(ValueError, match=r"expected input \(N, 4, ...\)"):
        gn(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="num_groups=3 must divide num_channels=4"):
        nn.GroupNorm(3, 4)


def test_dropout_module_train_and_eval(rng):
    drop = nn.Dropout(0.5, seed=0)
    x = np.ones((40, 50))
    out1, out2 = drop(x), drop(x)
    assert np.any(out1 != out2)  # a fresh mask per call
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), out2)  # backward uses the last mask
    np.testing.assert_array_equal(nn.Dropout(0.5, seed=0)(x), out1)  # seeded: reproducible sequence
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    assert repr(drop) == "Dropout(p=0.5)"
    with pytest.raises(ValueError, match="drop probability"):
        nn.Dropout(1.0)


def test_norm_modules_switch_mode_inside_sequential(rng):
    model = nn.Sequential(nn.Linear(4, 6, seed=0), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5, seed=1))
    x = rng.standard_normal((8, 4))
    model.train()
    model(x)
    assert model[1].running_mean.any()
    model.eval()
    a, b = model(x), model(x)
    np.testing.assert_array_equal(a, b)  # deterministic in eval mode
