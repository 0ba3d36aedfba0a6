"""Graded exercises of lab 04 (optimizers): update rules, a Solver, the debugging recipe, Levenberg-Marquardt.

Each rule has the signature ``next_w, config = rule(w, dw, config)``. The driver runs a rule
for several steps on a fixed sequence of gradients, threading ``config`` through, and
returns the parameters after every step, so the per-parameter state (velocity, caches,
Adam's step count) is graded as well as a single update.

The Solver and the overfitting check train a small MLP built by the driver from given weights,
with an update rule defined here (the library's rules are graded references, unavailable
while grading), and return the whole run: every loss, every validation accuracy, the best
epoch and the final parameters. The Solver's reference is the library's ``Trainer`` driven by
a ``RuleOptimizer`` and an ``ExponentialLR`` schedule, which is the contract the lab states.
"""

from __future__ import annotations

import copy

import numpy as np

from ... import least_squares, recipes
from ...nn import optim
from ...nn.layers import Linear, ReLU, Sequential
from ...nn.losses import softmax_loss
from ...nn.lr_scheduler import ExponentialLR
from ...train import Trainer
from ..spec import Exercise, allclose


def run_rule(fn, w, grads, config):
    """Apply ``fn`` once per gradient in ``grads`` (S, ...) and stack the parameters: (S, ...)."""
    config = copy.deepcopy(config)
    w = np.array(w, dtype=np.float64, copy=True)
    out = []
    for g in grads:
        result = fn(w, np.array(g, copy=True), config)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"an update rule must return (next_w, config), got {type(result).__name__}")
        w, config = result
        out.append(np.array(w, dtype=np.float64, copy=True))
    return np.stack(out)


def _cases(rng, make_config):
    out = []
    for shape, steps in [((3, 4), 5), ((6,), 12), ((2, 2), 1)]:
        w = rng.standard_normal(shape)
        grads = rng.standard_normal((steps, *shape))
        out.append((w, grads, make_config(rng)))
    return out


def _momentum_cases(rng):
    return _cases(rng, lambda r: {"learning_rate": float(r.uniform(0.01, 0.2)),
                                  "momentum": float(r.uniform(0.5, 0.95))})


def _adagrad_cases(rng):
    return _cases(rng, lambda r: {"learning_rate": float(r.uniform(0.01, 0.5)), "epsilon": 1e-8})


def _rmsprop_cases(rng):
    return _cases(rng, lambda r: {"learning_rate": float(r.uniform(0.001, 0.05)),
                                  "decay_rate": float(r.uniform(0.8, 0.99)), "epsilon": 1e-8})


def _adam_cases(rng):
    return _cases(rng, lambda r: {"learning_rate": float(r.uniform(0.001, 0.05)), "beta1": float(r.uniform(0.5, 0.95)),
                                  "beta2": float(r.uniform(0.9, 0.999)), "epsilon": 1e-8})


_CMP = allclose(rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- training a model


def grading_momentum(w, dw, config):
    """SGD with momentum, CS231n form; the rule the training exercises are driven with."""
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def _mlp(weights):
    """affine - ReLU - affine with the given weights ``{"0.W", "0.b", "2.W", "2.b"}``."""
    D, H = weights["0.W"].shape
    model = Sequential(Linear(D, H), ReLU(), Linear(H, weights["2.W"].shape[1]))
    for name, value in weights.items():
        model.params[name][...] = value
    return model


class ReferenceSolver:
    """Lab 04's Solver contract, computed by the library's Trainer with a RuleOptimizer."""

    def __init__(self, model, loss_fn, train_data, val_data, update_rule, optim_config, lr_decay=1.0,
                 batch_size=100, epochs=10, seed=0):
        opt = optim.RuleOptimizer(model, update_rule, optim_config)
        self.trainer = Trainer(model, loss_fn, opt, train_data, val_data, batch_size=batch_size, epochs=epochs,
                               scheduler=ExponentialLR(opt, gamma=lr_decay), restore_best=True, seed=seed,
                               num_train_samples=None, progress=False)

    def train(self):
        # the student's Solver keeps CS231n's history keys; the library's History spells them out
        h = self.trainer.fit()
        return {"loss": h["loss"], "val_acc": h["val_accuracy"], "best_epoch": h.best_epoch}


def run_solver(cls, weights, X, y, X_val, y_val, optim_config, lr_decay, batch_size, epochs, seed):
    """Train the MLP with ``cls`` and return its losses, validation accuracies, best epoch and weights."""
    model = _mlp(weights)
    solver = cls(model, softmax_loss, (X, y), (X_val, y_val), update_rule=grading_momentum,
                 optim_config=dict(optim_config), lr_decay=lr_decay, batch_size=batch_size, epochs=epochs, seed=seed)
    history = solver.train()
    if not isinstance(history, dict):
        raise TypeError(f"Solver.train() must return the history dict, got {type(history).__name__}")
    return {"loss": np.asarray(history["loss"], dtype=np.float64),
            "val_acc": np.asarray(history["val_acc"], dtype=np.float64),
            "best_epoch": int(history["best_epoch"]),
            "params": {k: np.array(v) for k, v in model.params.items()}}


def _weights(rng, D, H, C):
    return {"0.W": rng.standard_normal((D, H)) / np.sqrt(D), "0.b": np.zeros(H),
            "2.W": rng.standard_normal((H, C)) / np.sqrt(H), "2.b": np.zeros(C)}


def _solver_cases(rng):
    out = []
    sizes = [(37, 3, 8, 3, 8, 4, 0.9), (50, 4, 6, 2, 50, 3, 1.0), (23, 2, 10, 4, 5, 5, 0.5)]
    for N, D, H, C, bs, epochs, decay in sizes:
        X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
        Xv, yv = rng.standard_normal((11, D)), rng.integers(0, C, 11)
        config = {"learning_rate": float(rng.uniform(0.05, 0.3)), "momentum": float(rng.uniform(0.5, 0.9))}
        out.append((_weights(rng, D, H, C), X, y, Xv, yv, config, decay, bs, epochs, int(rng.integers(0, 1000))))
    return out


def run_overfit(fn, weights, X, y, optim_config, max_steps):
    """``fn(model, softmax_loss, X, y, rule, config, max_steps) -> (initial_loss, steps)``; None steps as -1."""
    result = fn(_mlp(weights), softmax_loss, X, y, grading_momentum, dict(optim_config), max_steps)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"overfit_small_batch must return (initial_loss, steps), got {type(result).__name__}")
    loss, steps = result
    return float(loss), -1 if steps is None else int(steps)


def _overfit_cases(rng):
    out = []
    for N, D, H, C, lr, max_steps in [(10, 5, 30, 3, 0.1, 300), (16, 8, 40, 5, 0.05, 300), (12, 4, 20, 4, 1e-4, 5)]:
        config = {"learning_rate": lr, "momentum": 0.9}
        out.append((_weights(rng, D, H, C), rng.standard_normal((N, D)), rng.integers(0, C, N), config, max_steps))
    return out


# ----------------------------------------------------------------------------- least squares


def _lm_step_cases(rng):
    out = []
    for M, D, lam, marquardt in [(6, 3, 0.0, True), (8, 2, 0.5, False), (5, 4, 2.0, True)]:
        out.append((rng.standard_normal((M, D)), rng.standard_normal(M), lam, marquardt))
    return out


def exp_residual(x, t, y):
    """Residuals of the curve ``a exp(b t) + c`` with ``x = (a, b, c)``."""
    return x[0] * np.exp(x[1] * t) + x[2] - y


def exp_jacobian(x, t, y):
    e = np.exp(x[1] * t)
    return np.stack([e, x[0] * t * e, np.ones_like(t)], axis=1)


def run_lm(fn, t, y, x0, lam, steps):
    """Fit ``a exp(b t) + c`` to ``(t, y)`` from ``x0``; returns ``(x, losses)``."""
    x, losses = fn(lambda x: exp_residual(x, t, y), lambda x: exp_jacobian(x, t, y), x0, lam, steps)
    return np.asarray(x, dtype=np.float64), np.asarray(losses, dtype=np.float64)


def _lm_cases(rng):
    out = []
    for n, steps, lam in [(20, 8, 1e-2), (30, 15, 10.0), (12, 5, 1e3)]:
        t = np.sort(rng.uniform(0, 2, n))
        truth = np.array([rng.uniform(0.5, 2), rng.uniform(-1.5, 1), rng.uniform(-1, 1)])
        y = exp_residual(truth, t, 0.0) + 0.05 * rng.standard_normal(n)
        out.append((t, y, truth + rng.uniform(-0.4, 0.4, 3), lam, steps))
    return out

EXERCISES = [
    Exercise("sgd_momentum", "sgd_momentum", 2, optim.sgd_momentum, _momentum_cases, driver=run_rule,
             compare=_CMP, title="SGD with momentum"),
    Exercise("nesterov", "nesterov", 2, optim.nesterov, _momentum_cases, driver=run_rule, compare=_CMP,
             title="Nesterov momentum"),
    Exercise("adagrad", "adagrad", 1, optim.adagrad, _adagrad_cases, driver=run_rule, compare=_CMP, title="AdaGrad"),
    Exercise("rmsprop", "rmsprop", 2, optim.rmsprop, _rmsprop_cases, driver=run_rule, compare=_CMP, title="RMSProp"),
    Exercise("adam", "adam", 3, optim.adam, _adam_cases, driver=run_rule, compare=_CMP,
             title="Adam with bias correction"),
    Exercise("solver", "Solver", 6, ReferenceSolver, _solver_cases, driver=run_solver,
             compare=allclose(rtol=1e-6, atol=1e-8), title="Solver: minibatches, update rules, decay, best parameters"),
    Exercise("overfit_small_batch", "overfit_small_batch", 2, recipes.overfit_small_batch, _overfit_cases,
             driver=run_overfit, compare=allclose(rtol=1e-6, atol=1e-9),
             title="debugging recipe: overfit a tiny batch"),
    Exercise("lm_step", "levenberg_marquardt_step", 2, least_squares.levenberg_marquardt_step, _lm_step_cases,
             compare=_CMP, title="Gauss-Newton / Levenberg / Levenberg-Marquardt step"),
    Exercise("levenberg_marquardt", "levenberg_marquardt", 3, least_squares.levenberg_marquardt, _lm_cases,
             driver=run_lm, compare=allclose(rtol=1e-6, atol=1e-9), title="Levenberg-Marquardt with adaptive damping"),
]
