"""The overfit-a-tiny-batch check: its step count is exactly the first step at 100 % training accuracy."""

import numpy as np

from i2dl_lab.nn import Linear, ReLU, Sequential
from i2dl_lab.nn.losses import softmax_loss
from i2dl_lab.nn.optim import RuleOptimizer, adam
from i2dl_lab.recipes import overfit_small_batch


def _net(seed):
    return Sequential(Linear(5, 32, seed=seed), ReLU(), Linear(32, 4, seed=seed + 1))


def _accuracy_after(steps, X, y, config):
    model = _net(0)
    opt = RuleOptimizer(model, adam, config)
    for _ in range(steps):
        model.zero_grad()
        _, dscores = softmax_loss(model.forward(X), y)
        model.backward(dscores)
        opt.step()
    return np.mean(np.argmax(model.forward(X), axis=1) == y)


def test_counts_the_first_step_at_full_training_accuracy(rng):
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 4, 12)
    config = {"learning_rate": 1e-2}
    initial, steps = overfit_small_batch(_net(0), softmax_loss, X, y, adam, config, max_steps=300)
    assert steps is not None and steps > 1
    assert abs(initial - np.log(4)) < 1.0, "small initial weights give a loss near log C"
    assert _accuracy_after(steps, X, y, config) == 1.0
    assert _accuracy_after(steps - 1, X, y, config) < 1.0
    assert initial == softmax_loss(_net(0).forward(X), y)[0]


def test_returns_none_when_the_budget_is_too_small(rng):
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 4, 12)
    _, steps = overfit_small_batch(_net(0), softmax_loss, X, y, adam, {"learning_rate": 1e-6}, max_steps=3)
    assert steps is None
