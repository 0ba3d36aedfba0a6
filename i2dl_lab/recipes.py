"""The debugging recipe before a real training run: check the initial loss, overfit a tiny batch.

A network that cannot drive the loss of 10-20 examples to (near) zero and classify all of them
correctly has a bug (a wrong gradient, a wrong sign, an update that does nothing) or far too
little capacity; a long run on the full data will not fix that, only hide it. And with small
random weights and no regularisation the first loss of a C-class softmax classifier is about
``log C``: anything else points at the scale of the initialisation or at the loss itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

__all__ = ["overfit_small_batch"]


def overfit_small_batch(model, loss_fn: Callable, X, y, update_rule: Callable, optim_config: dict,
                        max_steps: int = 200) -> tuple[float, int | None]:
    """Train ``model`` on one small batch with full-batch steps until it classifies all of it.

    Every step: ``model.zero_grad()``, forward on all of ``X``, ``loss_fn``, backward, then for
    every parameter (in ``model.params`` order) ``next_w, config = update_rule(w, dw, config)``
    with its own copy of ``optim_config``, written into the parameter in place. After each
    step the training accuracy (argmax of the scores, in training mode) is checked.

    Args:
        model: a Module (``forward``, ``backward``, ``params``, ``grads``, ``zero_grad``).
        loss_fn: ``loss, dscores = loss_fn(scores, y)``.
        X: (N, ...) a small batch; y: (N,) integer labels.
        update_rule: a CS231n update rule.
        optim_config: the rule's hyperparameters.
        max_steps: give up after this many steps.

    Returns:
        ``(initial_loss, steps)``: the loss before any update, and the number of steps after
        which every example was classified correctly (``None`` if ``max_steps`` did not do it).
    """
    X, y = np.asarray(X), np.asarray(y)
    configs = {name: copy.deepcopy(dict(optim_config)) for name in model.params}
    initial_loss = None
    for step in range(1, int(max_steps) + 1):
        model.zero_grad()
        loss, dscores = loss_fn(model.forward(X), y)
        if initial_loss is None:
            initial_loss = float(loss)
        model.backward(dscores)
        for name, w in model.params.items():
            next_w, configs[name] = update_rule(w, model.grads[name], configs[name])
            w[...] = next_w
        if np.all(np.argmax(model.forward(X), axis=1) == y):
            return initial_loss, step
    return initial_loss, None
