"""Graded exercises of lab 05 (training neural networks).

The batch-norm and dropout exercises are self-contained functions (no cache contract): the
backward exercise recomputes what it needs from ``x``, so it is graded independently of the
forward one.
"""

from __future__ import annotations

import math

import numpy as np

from ...nn import functional as F  # noqa: N812 - the documented alias
from ..spec import Exercise, allclose


def reference_init_std(fan_in, fan_out, scheme):
    """Standard deviation of Xavier (Glorot) or Kaiming (He, ReLU) normal initialisation."""
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"scheme must be 'xavier' or 'kaiming', got {scheme!r}")


def reference_batchnorm_forward(x, gamma, beta, eps):
    """Training-mode batch normalisation of (N, D) features with batch statistics."""
    out, _ = F.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
    return out


def reference_batchnorm_backward(dout, x, gamma, eps):
    """(dx, dgamma, dbeta) of training-mode batch normalisation, recomputed from x."""
    _, cache = F.batchnorm_forward(x, gamma, np.zeros_like(gamma), {"mode": "train", "eps": eps})
    return F.batchnorm_backward(dout, cache)


def reference_dropout_forward(x, p, seed):
    """Inverted dropout in training mode; keep mask ``default_rng(seed).random(x.shape) >= p``."""
    out, _ = F.dropout_forward(x, {"p": p, "mode": "train", "seed": seed})
    return out


def reference_early_stopping(val_scores, patience):
    """(best_epoch, stop_epoch), 1-based, for higher-is-better scores and the given patience."""
    best, best_epoch = -math.inf, 0
    for epoch, s in enumerate(val_scores, 1):
        if s > best:
            best, best_epoch = s, epoch
        elif epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, len(val_scores)


def _init_cases(rng):
    return [(64, 32, "xavier"), (int(rng.integers(10, 500)), int(rng.integers(10, 500)), "kaiming"),
            (int(rng.integers(10, 500)), int(rng.integers(10, 500)), "xavier"), (1, 1, "kaiming")]


def _bn_forward_cases(rng):
    return [(3.0 + 2.0 * rng.standard_normal((8, 5)), rng.standard_normal(5), rng.standard_normal(5), 1e-5),
            (rng.standard_normal((2, 3)), np.ones(3), np.zeros(3), 1e-5),
            (np.ones((4, 2)), rng.standard_normal(2), rng.standard_normal(2), 1e-3)]  # zero variance


def _bn_backward_cases(rng):
    out = []
    for n, d in [(6, 4), (10, 3), (3, 5)]:
        out.append((rng.standard_normal((n, d)), 2.0 + rng.standard_normal((n, d)), rng.standard_normal(d), 1e-5))
    return out


def _dropout_cases(rng):
    return [(rng.standard_normal((6, 5)), 0.5, int(rng.integers(0, 2**31))),
            (rng.standard_normal((3, 4, 2)), 0.2, int(rng.integers(0, 2**31))),
            (rng.standard_normal(10), 0.0, 7)]


def _early_cases(rng):
    noisy = [float(v) for v in np.round(np.minimum(0.99, 0.5 + 0.4 * (1 - np.exp(-np.arange(1, 21) / 4))
                                     + 0.02 * rng.standard_normal(20)), 4)]
    return [([0.5, 0.6, 0.7, 0.65, 0.66, 0.69, 0.68], 3), (noisy, 4), ([0.9, 0.9, 0.9, 0.9], 2),
            ([0.1, 0.2, 0.3], 5)]


EXERCISES = [
    Exercise("init_std", "init_std", 1, reference_init_std, _init_cases, title="Xavier and Kaiming scales"),
    Exercise("batchnorm_forward", "batchnorm_forward", 2, reference_batchnorm_forward, _bn_forward_cases,
             compare=allclose(rtol=1e-6, atol=1e-7), title="batch normalisation: forward (train mode)"),
    Exercise("batchnorm_backward", "batchnorm_backward", 3, reference_batchnorm_backward, _bn_backward_cases,
             compare=allclose(rtol=1e-5, atol=1e-8), title="batch normalisation: backward"),
    Exercise("dropout_forward", "dropout_forward", 2, reference_dropout_forward, _dropout_cases,
             title="inverted dropout (train mode)"),
    Exercise("early_stopping", "early_stopping", 1, reference_early_stopping, _early_cases,
             title="early stopping: best and stopping epoch"),
]
