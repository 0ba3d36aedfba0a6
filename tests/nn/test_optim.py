"""Optimizers: CS231n rules and torch-style classes against torch.optim, clipping against torch."""

import math

import numpy as np
import pytest
import torch

from i2dl_lab.nn import optim
from i2dl_lab.nn.module import Module

STEPS = 20
TOL = 1e-6


def grad_fn(w, k):
    """A gradient that depends on the parameters and the step: trajectories must agree to match."""
    return np.sin(3.0 * w) + 0.5 * w + 0.1 * np.cos(k + w.size * w)


def torch_trajectory(w0, make_opt, steps=STEPS, lrs=None):
    p = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    out = []
    for k in range(steps):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[k]
        p.grad = torch.from_numpy(grad_fn(p.detach().numpy().copy(), k))
        opt.step()
        out.append(p.detach().numpy().copy())
    return out, opt


def rule_trajectory(w0, rule, config, steps=STEPS):
    w = w0.copy()
    out = []
    for k in range(steps):
        w, config = rule(w, grad_fn(w, k), config)
        out.append(w.copy())
    return out, config


# ------------------------------------------------------------------ CS231n rules vs torch
RULE_CASES = [
    ("sgd", optim.sgd, {"learning_rate": 0.05}, lambda ps: torch.optim.SGD(ps, lr=0.05)),
    ("sgd_momentum", optim.sgd_momentum, {"learning_rate": 0.05, "momentum": 0.9},
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    ("nesterov", optim.nesterov, {"learning_rate": 0.05, "momentum": 0.8},
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    ("adagrad", optim.adagrad, {"learning_rate": 0.1, "epsilon": 1e-10},
     lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-10)),
    ("rmsprop", optim.rmsprop, {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8},
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8)),
    ("adam", optim.adam, {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8},
     lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-8)),
]


@pytest.mark.parametrize("name,rule,config,make_torch", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule_matches_torch_for_20_steps(name, rule, config, make_torch, rng):
    w0 = rng.standard_normal((4, 3))
    ours, _ = rule_trajectory(w0, rule, dict(config))
    theirs, _ = torch_trajectory(w0, make_torch)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"{name} step {k + 1}")
    assert not np.allclose(ours[-1], w0), "the parameters must actually move"


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.nesterov, optim.adagrad,
                                  optim.rmsprop, optim.adam])
def test_rule_defaults_match_cs231n_and_do_not_modify_w(rule, rng):
    w = rng.standard_normal(5)
    w_before = w.copy()
    next_w, config = rule(w, np.ones(5))
    np.testing.assert_array_equal(w, w_before)
    assert next_w is not w
    expected_lr = 1e-3 if rule is optim.adam else 1e-2
    assert config["learning_rate"] == expected_lr


def test_cs231n_velocity_is_minus_lr_times_torch_momentum_buffer(rng):
    """The two momentum formulas are the same algorithm at a constant rate: v == -lr * b."""
    lr, mu = 0.03, 0.9
    w0 = rng.standard_normal(6)
    config = {"learning_rate": lr, "momentum": mu}
    w = w0.copy()
    p = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=mu)
    for k in range(STEPS):
        w, config = optim.sgd_momentum(w, grad_fn(w, k), config)
        p.grad = torch.from_numpy(grad_fn(p.detach().numpy().copy(), k))
        opt.step()
        buf = opt.state[p]["momentum_buffer"].numpy()
        np.testing.assert_allclose(config["velocity"], -lr * buf, rtol=TOL, atol=1e-12)


def test_cs231n_momentum_differs_from_torch_when_lr_changes(rng):
    """Documented difference: torch applies a new rate to the whole buffer, CS231n only to new steps."""
    w0 = rng.standard_normal(6)
    lrs = [0.05] * 10 + [0.005] * 10
    w, config = w0.copy(), {"momentum": 0.9}
    for k in range(STEPS):
        config["learning_rate"] = lrs[k]
        w, config = optim.sgd_momentum(w, grad_fn(w, k), config)
    theirs, _ = torch_trajectory(w0, lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), lrs=lrs)
    assert np.max(np.abs(w - theirs[-1])) > 1e-3
    # ...while our class uses the torch form and matches it under the same change of rate.
    params = {"w": w0.copy()}
    grads = {"w": np.zeros_like(w0)}
    opt = optim.SGD(params, lr=0.05, momentum=0.9, grads=grads)
    for k in range(STEPS):
        opt.lr = lrs[k]
        grads["w"][...] = grad_fn(params["w"], k)
        opt.step()
    np.testing.assert_allclose(params["w"], theirs[-1], rtol=TOL, atol=TOL)


# ------------------------------------------------------------------ classes vs torch
CLASS_CASES = [
    ("sgd", lambda s, lr: optim.SGD(s, lr=lr), lambda ps, lr: torch.optim.SGD(ps, lr=lr)),
    ("sgd_momentum_wd", lambda s, lr: optim.SGD(s, lr=lr, momentum=0.9, weight_decay=0.01),
     lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=0.01)),
    ("sgd_dampening", lambda s, lr: optim.SGD(s, lr=lr, momentum=0.7, dampening=0.3),
     lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.7, dampening=0.3)),
    ("sgd_nesterov", lambda s, lr: optim.SGD(s, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-3),
     lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("adagrad", lambda s, lr: optim.Adagrad(s, lr=lr, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
     lambda ps, lr: torch.optim.Adagrad(ps, lr=lr, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("rmsprop", lambda s, lr: optim.RMSprop(s, lr=lr), lambda ps, lr: torch.optim.RMSprop(ps, lr=lr)),
    ("rmsprop_momentum_centered", lambda s, lr: optim.RMSprop(s, lr=lr, alpha=0.9, momentum=0.5, centered=True,
                                                              weight_decay=0.01),
     lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("adam", lambda s, lr: optim.Adam(s, lr=lr), lambda ps, lr: torch.optim.Adam(ps, lr=lr)),
    ("adam_wd_amsgrad", lambda s, lr: optim.Adam(s, lr=lr, betas=(0.8, 0.95), weight_decay=0.05, amsgrad=True),
     lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.8, 0.95), weight_decay=0.05, amsgrad=True)),
    ("adamw", lambda s, lr: optim.AdamW(s, lr=lr, weight_decay=0.1),
     lambda ps, lr: torch.optim.AdamW(ps, lr=lr, weight_decay=0.1)),
    ("adamw_amsgrad", lambda s, lr: optim.AdamW(s, lr=lr, amsgrad=True),
     lambda ps, lr: torch.optim.AdamW(ps, lr=lr, amsgrad=True)),
]


class TwoParams(Module):
    """A minimal Module: two parameters whose gradients the test sets by hand."""

    def __init__(self, a, b):
        super().__init__()
        self.add_param("a", a.copy())
        self.add_param("b", b.copy())


@pytest.mark.parametrize("name,make_ours,make_torch", CLASS_CASES, ids=[c[0] for c in CLASS_CASES])
def test_class_matches_torch_for_20_steps_on_a_module(name, make_ours, make_torch, rng):
    a0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    lr = 0.03
    model = TwoParams(a0, b0)
    a_live = model.params["a"]
    opt = make_ours(model, lr)
    ta = torch.tensor(a0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    topt = make_torch([ta, tb], lr)
    for k in range(STEPS):
        opt.zero_grad()
        model.accumulate_grad("a", grad_fn(model.params["a"], k))
        model.accumulate_grad("b", grad_fn(model.params["b"], k + 7))
        opt.step()
        ta.grad = torch.from_numpy(grad_fn(ta.detach().numpy().copy(), k))
        tb.grad = torch.from_numpy(grad_fn(tb.detach().numpy().copy(), k + 7))
        topt.step()
        np.testing.assert_allclose(model.params["a"], ta.detach().numpy(), rtol=TOL, atol=TOL,
                                   err_msg=f"{name} step {k + 1}")
        np.testing.assert_allclose(model.params["b"], tb.detach().numpy(), rtol=TOL, atol=TOL)
    assert model.params["a"] is a_live, "parameters must be updated in place"
    assert not np.allclose(a_live, a0)
    assert set(opt.state) == {"a", "b"} and opt.state["a"]["step"] == STEPS


def test_optimizer_accepts_params_grads_dict_and_updates_in_place():
    w = np.array([1.0, -2.0])
    params, grads = {"w": w}, {"w": np.array([0.5, 0.5])}
    opt = optim.SGD({"params": params, "grads": grads}, lr=0.1)
    opt.step()
    assert params["w"] is w
    np.testing.assert_allclose(w, [0.95, -2.05])
    opt.zero_grad()
    np.testing.assert_array_equal(grads["w"], [0.0, 0.0])


def test_adam_state_dict_round_trip_continues_identically(rng):
    p1, g1 = {"w": rng.standard_normal(5)}, {"w": np.zeros(5)}
    p2, g2 = {"w": p1["w"].copy()}, {"w": np.zeros(5)}
    opt1 = optim.Adam(p1, lr=0.01, grads=g1)
    for k in range(5):
        g1["w"][...] = grad_fn(p1["w"], k)
        opt1.step()
    saved = opt1.state_dict()
    p2["w"][...] = p1["w"]
    opt2 = optim.Adam(p2, lr=0.5, grads=g2)
    opt2.load_state_dict(saved)
    assert opt2.lr == 0.01 and opt2.state["w"]["step"] == 5
    saved["state"]["w"]["exp_avg"][...] = 123.0  # the copy must be independent of the optimizer
    assert not np.any(opt1.state["w"]["exp_avg"] == 123.0)
    for k in range(5, 10):
        g1["w"][...] = grad_fn(p1["w"], k)
        g2["w"][...] = grad_fn(p2["w"], k)
        opt1.step()
        opt2.step()
    np.testing.assert_array_equal(p1["w"], p2["w"])


def test_repr_shows_hyperparameters():
    opt = optim.Adam({"w": np.zeros(2)}, lr=0.002, grads={"w": np.zeros(2)})
    assert "lr=0.002" in repr(opt) and "betas=(0.9, 0.999)" in repr(opt)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.AdamW])
@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_nonpositive_lr_raises_value_error_naming_it(cls, lr):
    with pytest.raises(ValueError, match=rf"lr must be a positive number, got {lr}"):
        cls({"w": np.zeros(2)}, lr=lr, grads={"w": np.zeros(2)})


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.adam])
def test_rule_with_nonpositive_learning_rate_raises(rule):
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1"):
        rule(np.zeros(2), np.zeros(2), {"learning_rate": -1})


def test_rule_with_mismatched_gradient_shape_raises():
    with pytest.raises(ValueError, match=r"dw must have the shape of w \(2, 3\), got \(3, 2\)"):
        optim.adam(np.zeros((2, 3)), np.zeros((3, 2)))


def test_params_grads_key_mismatch_names_the_keys():
    with pytest.raises(ValueError, match=r"no gradient for \['b'\].*without a parameter \['c'\]"):
        optim.SGD({"w": np.zeros(2), "b": np.zeros(1)}, lr=0.1, grads={"w": np.zeros(2), "c": np.zeros(1)})


def test_key_mismatch_appearing_after_construction_is_caught_at_step():
    params, grads = {"w": np.zeros(2)}, {"w": np.zeros(2)}
    opt = optim.Adam(params, lr=0.1, grads=grads)
    params["extra"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"no gradient for \['extra'\]"):
        opt.step()


def test_gradient_shape_mismatch_names_parameter():
    with pytest.raises(ValueError, match=r"gradient of 'w' must have shape \(2,\), got \(3,\)"):
        optim.SGD({"w": np.zeros(2)}, lr=0.1, grads={"w": np.zeros(3)})


def test_params_dict_without_grads_is_a_type_error():
    with pytest.raises(TypeError, match="grads="):
        optim.SGD({"w": np.zeros(2)}, lr=0.1)


def test_integer_parameter_cannot_be_updated_in_place():
    with pytest.raises(TypeError, match="float ndarray"):
        optim.SGD({"w": np.zeros(2, dtype=int)}, lr=0.1, grads={"w": np.zeros(2)})


@pytest.mark.parametrize("kwargs,match", [
    ({"momentum": 1.5}, r"momentum must be in \[0.0, 1.0\), got 1.5"),
    ({"nesterov": True}, "nesterov needs momentum > 0"),
    ({"weight_decay": -1.0}, "weight_decay must be a non-negative number, got -1.0"),
])
def test_sgd_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.SGD({"w": np.zeros(2)}, lr=0.1, grads={"w": np.zeros(2)}, **kwargs)


def test_adam_bad_betas():
    with pytest.raises(ValueError, match=r"betas\[1\] must be in"):
        optim.Adam({"w": np.zeros(2)}, grads={"w": np.zeros(2)}, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.Adam({"w": np.zeros(2)}, grads={"w": np.zeros(2)}, betas=(0.9,))


# ------------------------------------------------------------------ clipping vs torch
def _grads(rng, scale):
    return {"a": scale * rng.standard_normal((3, 4)), "b": scale * rng.standard_normal(5)}


@pytest.mark.parametrize("scale,max_norm,norm_type", [
    (10.0, 1.0, 2.0),      # clipped
    (0.01, 1.0, 2.0),      # already small: untouched
    (5.0, 2.0, 1.0),       # L1
    (5.0, 0.5, math.inf),  # max norm
])
def test_clip_grad_norm_matches_torch(rng, scale, max_norm, norm_type):
    grads = _grads(rng, scale)
    tgrads = [torch.tensor(g) for g in grads.values()]
    params = [torch.zeros_like(t, requires_grad=True) for t in tgrads]
    for p, g in zip(params, tgrads, strict=True):
        p.grad = g.clone()
    expected_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    before = {k: v.copy() for k, v in grads.items()}
    total = optim.clip_grad_norm(grads, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(expected_total), rel=1e-12)
    for g, p in zip(grads.values(), params, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=1e-15)
    if scale > 1:
        assert not np.allclose(grads["a"], before["a"])
        flat = np.concatenate([g.ravel() for g in grads.values()])
        if norm_type == math.inf:
            new_norm = np.max(np.abs(flat))
        else:
            new_norm = np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
        assert new_norm <= max_norm * (1 + 1e-9)
    else:
        np.testing.assert_array_equal(grads["a"], before["a"])


def test_clip_grad_value_matches_torch_and_works_on_module(rng):
    grads = _grads(rng, 3.0)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()]
    for p, g in zip(params, grads.values(), strict=True):
        p.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(params, 1.5)
    model = TwoParams(np.zeros((3, 4)), np.zeros(5))
    model.accumulate_grad("a", grads["a"])
    model.accumulate_grad("b", grads["b"])
    optim.clip_grad_value(model, 1.5)
    np.testing.assert_array_equal(model.grads["a"], params[0].grad.numpy())
    np.testing.assert_array_equal(model.grads["b"], params[1].grad.numpy())
    assert np.max(np.abs(model.grads["a"])) == 1.5


def test_clip_grad_norm_returns_nonfinite_norm_and_leaves_grads():
    grads = {"a": np.array([np.inf, 1.0])}
    assert optim.clip_grad_norm(grads, 1.0) == math.inf
    np.testing.assert_array_equal(grads["a"], [np.inf, 1.0])


def test_clipping_bad_input():
    with pytest.raises(ValueError, match="max_norm must be a positive number, got 0"):
        optim.clip_grad_norm({"a": np.ones(2)}, 0)
    with pytest.raises(ValueError, match="clip_value must be a positive number, got -1"):
        optim.clip_grad_value({"a": np.ones(2)}, -1)
    with pytest.raises(TypeError, match="float ndarrays"):
        optim.clip_grad_norm({"a": [1.0, 2.0]}, 1.0)


# ------------------------------------------------------------------ RuleOptimizer
def test_rule_optimizer_with_a_schedule_matches_torch_adam(rng):
    """An update rule driven through RuleOptimizer follows torch.optim.Adam, learning-rate changes included."""
    w0 = rng.standard_normal((3, 2))
    lrs = [0.05 * 0.8 ** (k // 5) for k in range(STEPS)]
    params = {"w": w0.copy()}
    grads = {"w": np.zeros_like(w0)}
    opt = optim.RuleOptimizer(params, optim.adam, {"learning_rate": 0.05, "beta1": 0.8, "beta2": 0.99}, grads=grads)
    ours = []
    for k in range(STEPS):
        opt.lr = lrs[k]
        grads["w"][...] = grad_fn(params["w"], k)
        opt.step()
        ours.append(params["w"].copy())
    theirs, _ = torch_trajectory(w0, lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99)), lrs=lrs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"step {k + 1}")
    assert opt.state["w"]["config"]["t"] == STEPS, "each parameter keeps its own rule state"


def test_rule_optimizer_keeps_one_config_per_parameter(rng):
    params = {"a": np.ones(2), "b": np.ones(3)}
    grads = {"a": np.array([1.0, -1.0]), "b": np.array([2.0, 0.0, -2.0])}
    opt = optim.RuleOptimizer(params, optim.sgd_momentum, {"learning_rate": 0.1, "momentum": 0.5}, grads=grads)
    opt.step()
    opt.step()
    for name in params:
        v = -0.1 * grads[name]
        expected = np.ones_like(params[name]) + v + (0.5 * v - 0.1 * grads[name])
        np.testing.assert_allclose(params[name], expected)
        assert opt.state[name]["config"]["velocity"].shape == params[name].shape


def test_rule_optimizer_rejects_bad_rules():
    params, grads = {"w": np.ones(2)}, {"w": np.ones(2)}
    with pytest.raises(TypeError, match="rule must be callable"):
        optim.RuleOptimizer(params, "adam", grads=grads)
    opt = optim.RuleOptimizer(params, lambda w, dw, config: w - dw, grads=grads)
    with pytest.raises(TypeError, match=r"must return \(next_w, config\)"):
        opt.step()
    opt = optim.RuleOptimizer(params, lambda w, dw, config: (np.zeros(3), config), grads=grads)
    with pytest.raises(ValueError, match="shape"):
        opt.step()
