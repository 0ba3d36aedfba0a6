"""Graded exercises of lab 04 (optimizers): the CS231n update rules.

Each rule has the signature ``next_w, config = rule(w, dw, config)``. The driver runs a rule
for several steps on a fixed sequence of gradients, threading ``config`` through, and
returns the parameters after every step, so the per-parameter state (velocity, caches,
Adam's step count) is graded as well as a single update.
"""

from __future__ import annotations

import copy

import numpy as np

from ...nn import optim
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

EXERCISES = [
    Exercise("sgd_momentum", "sgd_momentum", 2, optim.sgd_momentum, _momentum_cases, driver=run_rule,
             compare=_CMP, title="SGD with momentum"),
    Exercise("nesterov", "nesterov", 2, optim.nesterov, _momentum_cases, driver=run_rule, compare=_CMP,
             title="Nesterov momentum"),
    Exercise("adagrad", "adagrad", 1, optim.adagrad, _adagrad_cases, driver=run_rule, compare=_CMP, title="AdaGrad"),
    Exercise("rmsprop", "rmsprop", 2, optim.rmsprop, _rmsprop_cases, driver=run_rule, compare=_CMP, title="RMSProp"),
    Exercise("adam", "adam", 3, optim.adam, _adam_cases, driver=run_rule, compare=_CMP,
             title="Adam with bias correction"),
]
