"""NumPy -> torch -> NumPy round trips preserve outputs and gradients (float64) for every layer.

Every NumPy module gets random (non-default) parameters and buffers first, so a converter
that dropped a transpose, a gate permutation or a bias would fail the comparison.
"""

import numpy as np
import pytest
import torch
from torch import nn

from i2dl_lab import nn as inn
from i2dl_lab.bridge import convert as conv_mod
from i2dl_lab.bridge.convert import UnsupportedLayerError, compare, from_torch, rel_error, supported_layers, to_torch

TOL = 1e-6


def randomize(module, seed=0):
    """Replace every parameter and buffer by random values (running variances positive)."""
    rng = np.random.default_rng(seed)
    for name, p in module.params.items():
        p[...] = rng.normal(scale=0.5, size=p.shape) + (1.0 if name.endswith("gamma") else 0.0)
    for name, b in module.buffers.items():
        b[...] = rng.uniform(0.5, 2.0, size=b.shape) if name.endswith("var") else rng.normal(size=b.shape)
    return module


def x_normal(*shape):
    return lambda rng: rng.normal(size=shape)


def ids(vocab, *shape):
    return lambda rng: rng.integers(0, vocab, size=shape)


L = inn
CASES = {
    "Linear": (lambda: L.Linear(6, 4, seed=0), x_normal(5, 6), {}),
    "Linear_nobias": (lambda: L.Linear(6, 4, bias=False, seed=0), x_normal(5, 6), {}),
    "ReLU": (lambda: L.ReLU(), x_normal(4, 7), {}),
    "LeakyReLU": (lambda: L.LeakyReLU(0.2), x_normal(4, 7), {}),
    "Sigmoid": (lambda: L.Sigmoid(), x_normal(4, 7), {}),
    "Tanh": (lambda: L.Tanh(), x_normal(4, 7), {}),
    "ELU": (lambda: L.ELU(0.7), x_normal(4, 7), {}),
    "Softplus": (lambda: L.Softplus(beta=2.0, threshold=3.0), x_normal(4, 7), {}),
    "Hardtanh": (lambda: L.Hardtanh(-0.5, 0.8), x_normal(4, 7), {}),
    "Identity": (lambda: L.Identity(), x_normal(4, 7), {}),
    "PReLU_shared": (lambda: L.PReLU(), x_normal(4, 7), {}),
    "PReLU_channels": (lambda: L.PReLU(3), x_normal(2, 3, 4, 4), {}),
    "MLP": (lambda: L.Sequential(L.Linear(6, 8, seed=0), L.ReLU(), L.Linear(8, 8, seed=1), L.Tanh(),
                                 L.Linear(8, 3, seed=2)), x_normal(5, 6), {}),
    "Conv2d": (lambda: L.Conv2d(3, 4, 3, stride=2, padding=1, seed=0), x_normal(2, 3, 7, 7), {}),
    "Conv2d_rect_nobias": (lambda: L.Conv2d(2, 3, (3, 2), bias=False, seed=0), x_normal(2, 2, 6, 5), {}),
    "MaxPool2d": (lambda: L.MaxPool2d(2), x_normal(2, 3, 6, 6), {}),
    "AvgPool2d": (lambda: L.AvgPool2d(3, stride=2), x_normal(2, 3, 7, 7), {}),
    "GlobalAvgPool2d": (lambda: L.GlobalAvgPool2d(), x_normal(2, 3, 5, 5), {}),
    "Flatten": (lambda: L.Flatten(), x_normal(2, 3, 4, 4), {}),
    "BatchNorm1d_train": (lambda: L.BatchNorm1d(5), x_normal(8, 5), {}),
    "BatchNorm1d_eval": (lambda: L.BatchNorm1d(5).eval(), x_normal(8, 5), {}),
    "BatchNorm2d_train": (lambda: L.BatchNorm2d(3), x_normal(4, 3, 5, 5), {}),
    "BatchNorm2d_eval": (lambda: L.BatchNorm2d(3).eval(), x_normal(4, 3, 5, 5), {}),
    "LayerNorm": (lambda: L.LayerNorm(6), x_normal(3, 4, 6), {}),
    "GroupNorm": (lambda: L.GroupNorm(2, 4), x_normal(3, 4, 3, 3), {}),
    "LocalResponseNorm": (lambda: L.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0), x_normal(2, 5, 3, 3), {}),
    "Dropout_eval": (lambda: L.Dropout(0.5).eval(), x_normal(4, 6), {}),
    "Dropout_p0_train": (lambda: L.Dropout(0.0), x_normal(4, 6), {}),
    "CNN": (lambda: L.Sequential(L.Conv2d(1, 4, 3, padding=1, seed=0), L.BatchNorm2d(4), L.ReLU(), L.MaxPool2d(2),
                                 L.Flatten(), L.Linear(4 * 4 * 4, 10, seed=1)), x_normal(3, 1, 8, 8), {}),
    "Embedding": (lambda: L.Embedding(11, 5, seed=0), ids(11, 3, 4), {}),
    "RNN": (lambda: L.RNN(4, 5, seed=0), x_normal(3, 6, 4), {}),
    "LSTM": (lambda: L.LSTM(4, 5, seed=0), x_normal(3, 6, 4), {}),
    "GRU": (lambda: L.GRU(4, 5, seed=0), x_normal(3, 6, 4), {}),
    "TemporalAffine": (lambda: L.TemporalAffine(4, 3, seed=0), x_normal(2, 5, 4), {}),
    "MultiHeadAttention": (lambda: L.MultiHeadAttention(8, 2, seed=0), x_normal(2, 5, 8), {}),
    "MultiHeadAttention_causal": (lambda: L.MultiHeadAttention(8, 4, seed=0), x_normal(2, 5, 8), {"is_causal": True}),
    "MultiHeadAttention_padding": (lambda: L.MultiHeadAttention(8, 2, seed=0), x_normal(2, 5, 8),
                                   {"key_padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)}),
    "TransformerBlock_postnorm": (lambda: L.TransformerBlock(8, 2, 16, seed=0), x_normal(2, 5, 8), {}),
    "TransformerBlock_prenorm": (lambda: L.TransformerBlock(8, 2, 16, norm_first=True, seed=0), x_normal(2, 5, 8),
                                 {"is_causal": True}),
    "PositionalEncoding": (lambda: L.PositionalEncoding(6, max_len=20), x_normal(2, 7, 6), {}),
    "SequenceModel": (lambda: L.Sequential(L.Embedding(9, 6, seed=0), L.LSTM(6, 8, seed=1), L.LayerNorm(8),
                                           L.TemporalAffine(8, 9, seed=2)), ids(9, 2, 5), {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_preserves_outputs_and_gradients(name):
    make, make_x, kw = CASES[name]
    rng = np.random.default_rng(1)
    np_mod = randomize(make())
    x = make_x(rng)
    t_mod = to_torch(np_mod)
    assert all(p.dtype == torch.float64 for p in t_mod.parameters())
    # ... and back: the same arrays, buffers included (read before a training forward
    # updates the running statistics, which torch does with the unbiased variance).
    back = from_torch(t_mod)
    assert type(back) is type(np_mod)
    assert back.training == np_mod.training
    assert list(back.params) == list(np_mod.params)
    for k, v in np_mod.params.items():
        np.testing.assert_array_equal(back.params[k], v, err_msg=k)
    for k, v in np_mod.buffers.items():
        np.testing.assert_array_equal(back.buffers[k], v, err_msg=k)
    res = compare(np_mod, t_mod, x, forward_kwargs=kw)
    assert res["max"] < TOL, res
    res_back = compare(back, t_mod, x, forward_kwargs=kw)
    assert res_back["max"] < TOL, res_back


def test_every_registered_layer_has_a_round_trip_case():
    covered = {type(make()).__name__ for make, _, _ in CASES.values()}
    for make, _, _ in CASES.values():
        m = make()
        covered |= {type(sub).__name__ for _, sub in m.named_modules()}
    assert set(supported_layers()) <= covered, set(supported_layers()) - covered


def test_compare_detects_a_wrong_weight():
    np_mod = randomize(inn.Linear(4, 3, seed=0))
    t_mod = to_torch(np_mod)
    with torch.no_grad():
        t_mod.weight[0, 0] += 1e-3
    res = compare(np_mod, t_mod, np.random.default_rng(0).normal(size=(5, 4)))
    assert res["out"] > 1e-5 and res["dx"] > 1e-5 and res["max"] > 1e-5


def test_lstm_gate_order_is_permuted_not_copied():
    np_mod = randomize(inn.LSTM(3, 4, seed=0))
    t_mod = to_torch(np_mod)
    H = 4
    # torch's g block (rows 2H:3H) must be NumPy's g block (columns 3H:4H).
    np.testing.assert_array_equal(t_mod.weight_ih_l0.detach().numpy()[2 * H:3 * H], np_mod.Wx[:, 3 * H:].T)
    np.testing.assert_array_equal(t_mod.bias_hh_l0.detach().numpy(), 0.0)


def test_batchnorm_momentum_maps_to_torch_convention():
    np_mod = randomize(inn.BatchNorm1d(3, momentum=0.8))
    t_mod = to_torch(np_mod)
    assert t_mod.momentum == pytest.approx(0.2)
    x = np.random.default_rng(0).normal(size=(16, 3))
    np_mod.forward(x)
    t_mod(torch.from_numpy(x))
    # Same mean update; the variance update differs only by torch's unbiased estimate.
    np.testing.assert_allclose(t_mod.running_mean.numpy(), np_mod.running_mean, rtol=1e-12)


def test_plain_torch_layers_convert_from_torch():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    np_lstm = from_torch(lstm)
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    out_t, _ = lstm(torch.from_numpy(x))
    assert rel_error(np_lstm.forward(x), out_t.detach().numpy()) < 1e-12
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    np_seq = from_torch(seq)
    assert compare(np_seq, seq, x[:, 0])["max"] < TOL


def test_float32_modules_convert_in_float32():
    t = to_torch(inn.Linear(3, 2, seed=0, dtype=np.float32))
    assert t.weight.dtype == torch.float32
    assert from_torch(t).W.dtype == np.float32


def test_unsupported_numpy_layer_is_named_with_its_position():
    net = inn.Sequential(inn.Linear(4, 6, seed=0), inn.Maxout(6, 3, pieces=2, seed=0))
    with pytest.raises(UnsupportedLayerError, match=r"Maxout at '1'"):
        to_torch(net)


def test_unsupported_torch_layer_is_named_with_its_position():
    with pytest.raises(UnsupportedLayerError, match=r"Conv1d at '0'"):
        from_torch(nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU()))
    with pytest.raises(UnsupportedLayerError, match="batch_first"):
        from_torch(nn.LSTM(3, 4))  # sequence-first layout has no NumPy counterpart
    with pytest.raises(UnsupportedLayerError, match="dilation"):
        from_torch(nn.Conv2d(2, 3, 3, dilation=2))


def test_to_torch_restores_the_default_dtype():
    before = torch.get_default_dtype()
    to_torch(inn.Linear(2, 2, seed=0))
    assert torch.get_default_dtype() == before


def test_rel_error_is_scale_relative_and_checks_shapes():
    assert rel_error(np.array([1.0, 0.0]), np.array([1.0, 1e-20])) < 1e-15
    assert rel_error(np.array([2.0]), np.array([1.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        rel_error(np.zeros(2), np.zeros(3))


def test_registering_a_new_layer_takes_a_few_lines():
    class Double(inn.Module):
        def forward(self, x):
            return 2 * x

        def backward(self, dout):
            return 2 * dout

    class TorchDouble(nn.Module):
        def forward(self, x):
            return 2 * x

    conv_mod._ensure_registered()
    conv_mod.register(Double, TorchDouble, lambda m, child: TorchDouble(), lambda t, src, child: Double())
    try:
        net = inn.Sequential(inn.Linear(3, 3, seed=0), Double())
        assert compare(net, to_torch(net), np.ones((2, 3)))["max"] < TOL
        assert isinstance(from_torch(to_torch(net))[1], Double)
    finally:
        conv_mod._BY_NP.pop(Double)
        conv_mod._BY_TORCH.pop(TorchDouble)
