"""Module classes: gradients through check_module, torch agreement, state, modes, repr, errors."""

import numpy as np
import pytest
import torch

from i2dl_lab import nn
from i2dl_lab.gradcheck import check_module
from i2dl_lab.nn import losses


def small_mlp(seed=0):
    return nn.Sequential(
        nn.Linear(6, 5, seed=seed),
        nn.Tanh(),
        nn.Linear(5, 4, seed=seed + 1),
        nn.PReLU(4, init=0.2),
        nn.Maxout(4, 3, pieces=2, seed=seed + 2),
        nn.ELU(alpha=0.7),
        nn.Linear(3, 3, seed=seed + 3),
    )


# ----------------------------------------------------------------------------- gradients
def test_sequential_gradients_match_centred_differences(rng):
    model = small_mlp()
    for p in model.params.values():  # non-zero biases so every parameter is exercised
        p += 0.1 * rng.standard_normal(p.shape)
    report = check_module(model, rng.standard_normal((4, 6)))
    assert set(report) == {"dx", "0.W", "0.b", "2.W", "2.b", "3.alpha", "4.W", "4.b", "6.W", "6.b"}
    report.assert_ok(1e-7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Linear(4, 3, seed=0),
        lambda: nn.Linear(4, 3, bias=False, seed=0),
        lambda: nn.ReLU(),
        lambda: nn.LeakyReLU(0.2),
        lambda: nn.Sigmoid(),
        lambda: nn.Tanh(),
        lambda: nn.ELU(),
        lambda: nn.Softplus(beta=2.0),
        lambda: nn.Hardtanh(-2.0, 2.0),
        lambda: nn.PReLU(),
        lambda: nn.Maxout(4, 2, pieces=3, seed=0),
        lambda: nn.Identity(),
    ],
    ids=["linear", "linear_nobias", "relu", "leaky_relu", "sigmoid", "tanh", "elu", "softplus", "hardtanh", "prelu",
         "maxout", "identity"],
)
def test_each_module_passes_check_module(make):
    x = np.random.default_rng(5).uniform(0.1, 1.5, size=(3, 4)) * np.array([1, -1, 1, -1])  # off the kinks
    check_module(make(), x).assert_ok(1e-7)


def test_linear_matches_torch_linear(rng):
    layer = nn.Linear(5, 3, seed=1)
    layer.b[...] = rng.standard_normal(3)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    tl = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(layer.W.T))  # torch stores (out, in)
        tl.bias.copy_(torch.tensor(layer.b))
    xt = torch.tensor(x, requires_grad=True)
    out_t = tl(xt)
    out_t.backward(torch.tensor(dout))
    layer.zero_grad()
    out = layer(x)
    dx = layer.backward(dout)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], tl.weight.grad.numpy().T, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], tl.bias.grad.numpy(), rtol=1e-12)


def test_linear_flattens_image_batches():
    layer = nn.Linear(2 * 3 * 3, 4, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3, 3))
    assert layer(x).shape == (5, 4)
    assert layer.backward(np.ones((5, 4))).shape == x.shape


def test_prelu_module_matches_torch_prelu(rng):
    layer = nn.PReLU(3, init=0.3)
    tl = torch.nn.PReLU(3).double()
    with torch.no_grad():
        tl.weight.fill_(0.3)  # set in float64: torch's init value is rounded to float32
    x = rng.standard_normal((4, 3, 2))
    xt = torch.tensor(x, requires_grad=True)
    tl(xt).sum().backward()
    layer(x)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["alpha"], tl.weight.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- gradient bookkeeping
def test_grads_accumulate_across_two_backward_calls_and_zero_grad_clears_them(rng):
    model = small_mlp()
    x, dout = rng.standard_normal((3, 6)), rng.standard_normal((3, 3))
    model.zero_grad()
    model(x)
    model.backward(dout)
    once = {k: g.copy() for k, g in model.grads.items()}
    model(x)
    model.backward(dout)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12)
    assert any(np.abs(g).sum() > 0 for g in once.values())
    model.zero_grad()
    assert all(not g.any() for g in model.grads.values())


def test_params_are_live_arrays_that_an_optimizer_can_update(rng):
    layer = nn.Linear(3, 2, seed=0)
    layer.params["W"] -= 1.0
    x = rng.standard_normal((1, 3))
    np.testing.assert_allclose(layer(x), x @ layer.W + layer.b)
    assert layer.params["W"] is layer.W


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        nn.Linear(2, 2, seed=0).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="ReLU.backward called before forward"):
        nn.ReLU().backward(np.ones(2))


# ----------------------------------------------------------------------------- Linear construction
def test_linear_default_init_is_kaiming_uniform_for_relu():
    layer = nn.Linear(500, 200, seed=0)
    bound = np.sqrt(6 / 500)
    assert layer.W.shape == (500, 200) and layer.b.shape == (200,)
    assert 0.99 * bound < np.abs(layer.W).max() <= bound
    assert not layer.b.any()


def test_linear_weight_scale_is_cs231n_small_normal():
    layer = nn.Linear(400, 300, weight_scale=1e-3, seed=0)
    assert layer.W.std() == pytest.approx(1e-3, rel=0.02)


def test_linear_accepts_an_init_callable_and_named_init():
    layer = nn.Linear(3, 2, init=lambda shape, rng: np.full(shape, 0.5))
    np.testing.assert_array_equal(layer.W, np.full((3, 2), 0.5))
    a, b = nn.Linear(30, 20, init="xavier_normal", seed=4), nn.Linear(30, 20, init="xavier_normal", seed=4)
    np.testing.assert_array_equal(a.W, b.W)


def test_linear_float32_stays_float32():
    layer = nn.Linear(3, 2, seed=0, dtype=np.float32)
    out = layer(np.ones((2, 3)))
    assert layer.W.dtype == np.float32 and out.dtype == np.float32
    assert layer.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32


def test_linear_wrong_feature_count_says_expected_and_got():
    with pytest.raises(ValueError, match=r"expected 4 input features per sample, got 5 \(x of shape \(2, 5\)\)"):
        nn.Linear(4, 3, seed=0)(np.ones((2, 5)))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Linear(bad, 3)


def test_affine_is_an_alias_of_linear():
    assert nn.Affine is nn.Linear


# ----------------------------------------------------------------------------- Sequential
def test_sequential_indexing_len_iteration_append_and_slices():
    a, b, c = nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1)
    model = nn.Sequential(a, b)
    model.append(c)
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[0] is a and model[-1] is c
    assert list(model[1:]) == [b, c]
    assert list(model.params) == ["0.W", "0.b", "2.W", "2.b"]
    with pytest.raises(IndexError, match="index 3 out of range for Sequential of length 3"):
        model[3]
    with pytest.raises(TypeError, match="Sequential takes Module instances, got ufunc"):
        model.append(np.tanh)
    with pytest.raises(TypeError, match=r"got the class ReLU; did you mean ReLU\(\)"):
        nn.Sequential(nn.Linear(2, 2, seed=0), nn.ReLU)


def test_sequential_backward_runs_children_in_reverse_order():
    calls = []

    class Tap(nn.Identity):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def backward(self, dout):
            calls.append(self.name)
            return dout

    model = nn.Sequential(Tap("first"), Tap("second"), Tap("third"))
    model.backward(model(np.ones((1, 2))))
    assert calls == ["third", "second", "first"]


def test_state_dict_save_and_load_round_trip(tmp_path, rng):
    model, other = small_mlp(seed=0), small_mlp(seed=10)
    x = rng.standard_normal((2, 6))
    assert not np.allclose(model(x), other(x))
    path = tmp_path / "mlp.npz"
    model.save(path)
    other.load(path)
    np.testing.assert_array_equal(model(x), other(x))
    assert set(np.load(path).files) == set(model.params)
    state = model.state_dict()
    state["0.W"] += 1  # a copy: the model must not change
    assert not np.array_equal(state["0.W"], model.params["0.W"])


def test_load_state_dict_names_missing_keys():
    with pytest.raises(KeyError, match=r"missing keys \['2.W', '2.b'\]"):
        nn.Sequential(nn.Linear(2, 2, seed=0), nn.ReLU(), nn.Linear(2, 2, seed=0)).load_state_dict(
            nn.Sequential(nn.Linear(2, 2, seed=0)).state_dict()
        )


def test_train_and_eval_switch_every_child():
    model = small_mlp()
    assert all(m.training for _, m in model.named_modules())
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_repr_shows_hyperparameters():
    text = repr(small_mlp())
    for part in ("(0): Linear(in_features=6, out_features=5, bias=True)", "(1): Tanh()",
                 "PReLU(num_parameters=4, init=0.2)", "Maxout(in_features=4, out_features=3, pieces=2)",
                 "ELU(alpha=0.7)"):
        assert part in text
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.Softplus(2.0, 10)) == "Softplus(beta=2.0, threshold=10.0)"
    assert repr(nn.Hardtanh(-2, 3)) == "Hardtanh(min_val=-2.0, max_val=3.0)"


def test_hardtanh_rejects_empty_range_at_construction():
    with pytest.raises(ValueError, match="min_val must be below max_val, got min_val=1, max_val=0"):
        nn.Hardtanh(1, 0)


# ----------------------------------------------------------------------------- loss objects
@pytest.mark.parametrize(
    "cls,fn,target",
    [
        (nn.MSELoss, losses.mse_loss, lambda r: r.standard_normal((4, 3))),
        (nn.L1Loss, losses.l1_loss, lambda r: r.standard_normal((4, 3))),
        (nn.BCEWithLogitsLoss, losses.bce_loss, lambda r: r.uniform(size=(4, 3))),
        (nn.CrossEntropyLoss, losses.softmax_loss, lambda r: r.integers(0, 3, 4)),
        (nn.SVMLoss, losses.svm_loss, lambda r: r.integers(0, 3, 4)),
    ],
)
def test_loss_objects_wrap_the_functional_losses(cls, fn, target, rng):
    scores, y = rng.standard_normal((4, 3)), target(rng)
    loss_fn = cls()
    loss, dscores = loss_fn(scores, y)
    ref_loss, ref_d = fn(scores, y)
    assert loss == ref_loss
    np.testing.assert_array_equal(dscores, ref_d)
    np.testing.assert_array_equal(loss_fn.backward(2.0), 2.0 * ref_d)


def test_multi_margin_alias_and_training_step_reduces_loss(rng):
    assert nn.MultiMarginLoss is nn.SVMLoss
    model, loss_fn = small_mlp(), nn.CrossEntropyLoss()
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    first, _ = loss_fn(model(x), y)
    for _ in range(20):
        model.zero_grad()
        loss, d = loss_fn(model(x), y)
        model.backward(d)
        for p, g in zip(model.params.values(), model.grads.values(), strict=True):
            p -= 0.1 * g
    assert loss_fn(model(x), y)[0] < 0.8 * first


# ----------------------------------------------------------------------------- nested state and modes
def nested_model_with_buffers(seed=0):
    """Sequential inside Sequential, with batch-norm buffers and dropout: keys like '0.1.running_mean'."""
    block = nn.Sequential(nn.Linear(4, 6, seed=seed), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3, seed=seed))
    head = nn.Sequential(nn.Linear(6, 3, seed=seed + 1), nn.Tanh())
    return nn.Sequential(block, head, nn.Linear(3, 2, seed=seed + 2))


def test_nested_sequential_npz_round_trip_keeps_parameters_and_buffers(tmp_path, rng):
    model, other = nested_model_with_buffers(0), nested_model_with_buffers(10)
    model.train()
    for _ in range(3):  # move the running statistics away from their initial values
        model(rng.standard_normal((16, 4)) * 2 + 1)
    assert model.buffers["0.1.running_mean"].any()
    path = tmp_path / "nested.npz"
    model.save(path)
    with np.load(path) as data:
        assert set(data.files) == set(model.params) | set(model.buffers)
        assert {"0.0.W", "0.1.gamma", "0.1.running_mean", "0.1.running_var", "1.0.b", "2.W"} <= set(data.files)
    other.load(path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value, err_msg=key)
    x = rng.standard_normal((5, 4))
    model.eval()
    other.eval()
    np.testing.assert_array_equal(model(x), other(x))  # eval mode uses the loaded running statistics


def test_load_state_dict_rejects_a_wrong_shape_and_non_strict_skips_missing_keys():
    model = nested_model_with_buffers()
    state = model.state_dict()
    state["0.0.W"] = np.zeros((6, 4))
    with pytest.raises(ValueError, match=r"0.0.W: expected shape \(4, 6\), got \(6, 4\)"):
        model.load_state_dict(state)
    partial = {"2.W": np.ones((3, 2))}
    model.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(model.params["2.W"], np.ones((3, 2)))


def test_eval_switches_nested_dropout_and_batchnorm(rng):
    model = nested_model_with_buffers()
    x = rng.standard_normal((8, 4))
    model.train()
    assert not np.array_equal(model(x), model(x)), "dropout draws a new mask in training mode"
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    running = model.buffers["0.1.running_mean"].copy()
    np.testing.assert_array_equal(model(x), model(x))
    np.testing.assert_array_equal(model.buffers["0.1.running_mean"], running)  # eval does not update them


def test_maxout_rejects_both_rng_and_seed():
    with pytest.raises(ValueError, match="Maxout: pass either rng or seed, not both"):
        nn.Maxout(3, 2, rng=np.random.default_rng(0), seed=1)


@pytest.mark.parametrize("make,match", [
    (lambda: nn.Maxout(3, 2, pieces=0), "Maxout: pieces must be a positive int, got 0"),
    (lambda: nn.PReLU(num_parameters=0), "PReLU: num_parameters must be a positive int, got 0"),
    (lambda: nn.Linear(3, -1), "Linear: out_features must be a positive int, got -1"),
])
def test_layer_size_errors_name_the_layer_and_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()
