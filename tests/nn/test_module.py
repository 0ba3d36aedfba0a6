"""Module.params / grads / buffers are live views: CS231n's Solver update line must work."""

import numpy as np
import pytest

from i2dl_lab.nn import BatchNorm1d, Linear, ReLU, Sequential
from i2dl_lab.nn.losses import softmax_loss
from i2dl_lab.nn.optim import adam, sgd_momentum


def _net(seed=0):
    return Sequential(Linear(4, 16, seed=seed), ReLU(), Linear(16, 3, seed=seed + 1))


def test_assignment_changes_the_model():
    model = _net()
    x = np.random.default_rng(0).normal(size=(5, 4))
    before = model(x)
    w = model.params["2.W"]
    model.params["2.W"] = np.zeros_like(w)
    assert np.all(model[2].W == 0.0)
    assert model.params["2.W"] is w  # written into the array the layer holds, not rebound
    model.params["2.b"] = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(model(x), np.tile([1.0, 2.0, 3.0], (5, 1)))
    assert not np.allclose(model(x), before)


def test_augmented_assignment_changes_the_model():
    model = _net()
    old = model[0].W.copy()
    g = np.full_like(old, 0.5)
    model.params["0.W"] -= 0.1 * g
    np.testing.assert_allclose(model[0].W, old - 0.05)


def test_grads_and_buffers_are_live_too():
    model = Sequential(Linear(3, 2, seed=0), BatchNorm1d(2))
    model.grads["0.b"] = np.array([1.0, -1.0])
    np.testing.assert_array_equal(model[0].grads["b"], [1.0, -1.0])
    model.buffers["1.running_mean"] = np.array([0.25, 0.5])
    np.testing.assert_array_equal(model[1].running_mean, [0.25, 0.5])
    model.zero_grad()
    assert not model.grads["0.b"].any()


def test_view_rejects_unknown_keys_shape_changes_and_deletion():
    model = _net()
    with pytest.raises(KeyError, match="3.W"):
        model.params["3.W"] = np.zeros((16, 3))
    with pytest.raises(KeyError, match="0.gamma"):
        _ = model.params["0.gamma"]
    with pytest.raises(ValueError, match=r"\(4, 16\).*\(16, 4\)"):
        model.params["0.W"] = np.zeros((16, 4))
    with pytest.raises(TypeError, match="cannot delete"):
        del model.params["0.W"]
    assert "0.W" in model.params and "0.x" not in model.params
    assert list(model.params) == ["0.W", "0.b", "2.W", "2.b"] == list(model.grads)
    assert len(model.params) == 4


class _SolverModel:
    """CS231n's model interface: ``params`` dict and ``loss(X, y) -> (loss, grads)``."""

    def __init__(self, net):
        self.net = net
        self.params = net.params

    def loss(self, X, y):
        self.net.zero_grad()
        loss, dscores = softmax_loss(self.net(X), y)
        self.net.backward(dscores)
        return loss, dict(self.net.grads.items())


def _solver_step(model, X, y, update_rule, optim_configs):
    # The body of cs231n/solver.py ``Solver._step``: the rules return new arrays.
    loss, grads = model.loss(X, y)
    for p, w in model.params.items():
        dw = grads[p]
        next_w, next_config = update_rule(w, dw, optim_configs[p])
        model.params[p] = next_w
        optim_configs[p] = next_config
    return loss


@pytest.mark.parametrize("update_rule", [sgd_momentum, adam])
def test_cs231n_solver_step_trains_a_sequential(update_rule):
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=3.0, size=(3, 4))
    y = rng.integers(0, 3, size=120)
    X = centres[y] + rng.normal(size=(120, 4))
    model = _SolverModel(_net(seed=2))
    lr = 5e-2 if update_rule is sgd_momentum else 1e-2
    configs = {p: {"learning_rate": lr} for p in model.params}
    first = _solver_step(model, X, y, update_rule, configs)
    for _ in range(60):
        last = _solver_step(model, X, y, update_rule, configs)
    assert last < 0.5 * first, (first, last)
    accuracy = np.mean(np.argmax(model.net(X), axis=1) == y)
    assert accuracy > 0.9
