"""Initialisers: gains and fans as torch.nn.init computes them, spreads checked statistically."""

import math

import numpy as np
import pytest
import torch

from i2dl_lab.nn import init

DENSE = (400, 300)  # (D, M): torch stores this weight as (300, 400)
CONV = (32, 16, 3, 3)  # (F, C, kh, kw): same layout as torch


def torch_weight(shape):
    """An empty torch tensor in torch's layout for the weight this library stores as ``shape``."""
    torch_shape = shape[::-1] if len(shape) == 2 else shape
    return torch.empty(torch_shape, dtype=torch.float64)


@pytest.mark.parametrize(
    "nonlinearity,param",
    [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
     ("leaky_relu", 0.2), ("conv2d", None), ("selu", None)],
)
def test_gain_equals_torch_calculate_gain(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


def test_unknown_nonlinearity_is_rejected_with_the_known_list():
    with pytest.raises(ValueError, match=r"unknown nonlinearity 'gelu'; expected one of .*relu"):
        init.calculate_gain("gelu")


def test_dense_fan_in_is_the_input_dimension():
    assert init.calculate_fan((784, 100)) == (784, 100)
    # torch reads its transposed layout (out, in) and must agree
    assert init.calculate_fan(DENSE) == torch.nn.init._calculate_fan_in_and_fan_out(torch_weight(DENSE))


def test_conv_fans_match_torch():
    assert init.calculate_fan(CONV) == (16 * 9, 32 * 9)
    assert init.calculate_fan(CONV) == torch.nn.init._calculate_fan_in_and_fan_out(torch_weight(CONV))


def test_fan_of_a_vector_is_rejected():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.calculate_fan((5,))


def torch_std(fn, shape, **kw):
    w = torch_weight(shape)
    torch.manual_seed(0)
    fn(w, **kw)
    return float(w.std())


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize(
    "ours,theirs,kw",
    [
        (init.xavier_normal, torch.nn.init.xavier_normal_, {"gain": 1.0}),
        (init.xavier_uniform, torch.nn.init.xavier_uniform_, {"gain": 5.0 / 3.0}),
        (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"mode": "fan_in", "nonlinearity": "relu"}),
        (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}),
        (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"mode": "fan_in", "nonlinearity": "relu"}),
        (init.kaiming_uniform, torch.nn.init.kaiming_uniform_,
         {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"}),
        (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"mode": "fan_in", "nonlinearity": "tanh"}),
    ],
)
def test_spread_matches_torch_init(ours, theirs, kw, shape):
    w = ours(shape, rng=0, **kw)
    assert w.shape == shape and w.dtype == np.float64
    assert abs(w.mean()) < 0.02 * w.std()
    # >= 73k samples each: the sample std is within ~0.3% of the truth, so 3% leaves ample margin
    assert w.std() == pytest.approx(torch_std(theirs, shape, **kw), rel=0.03)


def test_kaiming_uniform_bound_is_sqrt_6_over_fan_in():
    D, M = DENSE
    w = init.kaiming_uniform(DENSE, rng=1)
    bound = math.sqrt(6.0 / D)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used


def test_xavier_uniform_bound_uses_both_fans():
    D, M = DENSE
    w = init.xavier_uniform(DENSE, rng=1)
    bound = math.sqrt(6.0 / (D + M))
    assert bound * 0.99 < np.abs(w).max() <= bound


def test_kaiming_normal_std_formula():
    w = init.kaiming_normal(CONV, rng=2)
    assert w.std() == pytest.approx(math.sqrt(2.0 / (16 * 9)), rel=0.03)


def test_small_normal_std_and_zeros():
    w = init.small_normal((300, 300), std=0.01, rng=0)
    assert w.std() == pytest.approx(0.01, rel=0.02)
    assert not init.zeros((3, 2)).any() and init.zeros(4).shape == (4,)


def test_same_seed_gives_same_weights_and_generator_is_accepted():
    a = init.kaiming_normal((5, 4), rng=7)
    b = init.kaiming_normal((5, 4), rng=np.random.default_rng(7))
    c = init.kaiming_normal((5, 4), rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dtype_is_respected():
    assert init.xavier_normal((4, 3), rng=0, dtype=np.float32).dtype == np.float32


def test_bad_rng_and_mode_are_rejected():
    with pytest.raises(TypeError, match="rng must be a np.random.Generator, an int seed or None, got str"):
        init.kaiming_normal((3, 3), rng="seed")
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal((3, 3), mode="fan_avg")


def test_get_initializer_by_name_or_callable():
    assert init.get_initializer("xavier_uniform") is init.xavier_uniform

    def custom(shape, rng=None):
        return np.ones(shape)

    assert init.get_initializer(custom) is custom
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        init.get_initializer("glorot")


@pytest.mark.parametrize("alias,canonical", [
    ("glorot_normal", "xavier_normal"), ("glorot_uniform", "xavier_uniform"),
    ("he_normal", "kaiming_normal"), ("he_uniform", "kaiming_uniform"),
])
def test_glorot_and_he_names_give_the_xavier_and_kaiming_initialisers(alias, canonical):
    np.testing.assert_array_equal(init.get_initializer(alias)((6, 4), rng=3),
                                  init.get_initializer(canonical)((6, 4), rng=3))


@pytest.mark.parametrize("name,value", [("zeros", 0.0), ("ones", 1.0)])
def test_constant_initialisers_work_by_name_in_a_linear_layer(name, value):
    from i2dl_lab import nn

    layer = nn.Linear(3, 2, init=name, seed=0)
    np.testing.assert_array_equal(layer.W, np.full((3, 2), value))
