"""Graded exercises of lab 05 (training neural networks).

Layers follow the CS231n contract. The backward exercises are graded on caches the drivers
build in the documented layout (batch and layer norm: ``(x_hat, inv_std, gamma)``; dropout:
``(dropout_param, mask)``), so a wrong forward pass cannot sink a backward one. The
``FullyConnectedNet`` is a Module; its driver sets the parameters, runs one training step's
forward and backward pass and one test-mode forward pass, and compares everything.
"""

from __future__ import annotations

import math

import numpy as np

from ...nn import functional as F  # noqa: N812 - the documented alias
from ...nn.module import Module
from ..spec import Exercise, allclose


def reference_init_std(fan_in, fan_out, scheme):
    """Standard deviation of Xavier (Glorot) or Kaiming (He, ReLU) normal initialisation."""
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"scheme must be 'xavier' or 'kaiming', got {scheme!r}")


# The library's layers, wrapped: a wrapper names only the layer, so grading disarms that layer alone and
# not the input checks it shares with affine_forward (which the FullyConnectedNet may take from the library).
def reference_batchnorm_forward(x, gamma, beta, bn_param):
    return F.batchnorm_forward(x, gamma, beta, bn_param)


def reference_layernorm_forward(x, gamma, beta, ln_param):
    return F.layernorm_forward(x, gamma, beta, ln_param)


def reference_layernorm_backward(dout, cache):
    """Layer-norm backward for the lab's cache ``(x_hat, inv_std, gamma)``.

    The library's cache is ``(x, mean, inv_std, gamma)``; ``x = x_hat / inv_std`` with mean 0
    normalises back to ``x_hat``.
    """
    x_hat, inv_std, gamma = cache
    return F.layernorm_backward(dout, (x_hat / inv_std, np.zeros_like(inv_std), inv_std, gamma))


def reference_dropout_forward(x, dropout_param):
    return F.dropout_forward(x, dropout_param)


def reference_dropout_backward(dout, cache):
    return F.dropout_backward(dout, cache)


def reference_batchnorm_backward(dout, cache):
    """Simplified batch-norm backward for the lab's cache ``(x_hat, inv_std, gamma)``."""
    x_hat, inv_std, gamma = cache
    N, D = x_hat.shape
    library_cache = ("train", x_hat, None, gamma, inv_std, None, None, (0,), (1, D), N)
    return F.batchnorm_backward_alt(dout, library_cache)


def run_batchnorm(fn, x1, x2, x3, gamma, beta, eps, momentum):
    """Two training-mode calls then one test-mode call with the same ``bn_param``.

    Returns the three outputs and the running mean and variance left in ``bn_param``.
    """
    bn_param = {"mode": "train", "eps": eps, "momentum": momentum}
    outs = []
    for x, mode in [(x1, "train"), (x2, "train"), (x3, "test")]:
        bn_param["mode"] = mode
        result = fn(x, gamma, beta, bn_param)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"batchnorm_forward must return (out, cache), got {type(result).__name__}")
        outs.append(result[0])
    return (*outs, bn_param.get("running_mean"), bn_param.get("running_var"))


def _norm_cache(x, gamma, eps, axis):
    """``(x_hat, inv_std, gamma)`` of x normalised over ``axis`` (0: batch norm, 1: layer norm)."""
    mu = x.mean(axis=axis, keepdims=True)
    inv_std = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=axis, keepdims=True) + eps)
    x_hat = (x - mu) * inv_std
    return x_hat, (inv_std.reshape(-1) if axis == 0 else inv_std), gamma


def bn_backward_driver(fn, dout, x, gamma, eps):
    return fn(dout, _norm_cache(x, gamma, eps, 0))


def ln_backward_driver(fn, dout, x, gamma, eps):
    return fn(dout, _norm_cache(x, gamma, eps, 1))


def forward_out(fn, *args):
    result = fn(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"a forward pass must return (out, cache), got {type(result).__name__}")
    return result[0]


def run_dropout(fn, x, p, seed):
    """Training mode with ``seed``, then test mode: both outputs."""
    train = forward_out(fn, x, {"mode": "train", "p": p, "seed": seed})
    test = forward_out(fn, x, {"mode": "test", "p": p, "seed": seed})
    return train, test


def dropout_backward_driver(fn, dout, x, p, seed, mode):
    """The documented cache ``(dropout_param, mask)``: mask of 0 and 1/(1-p), None in test mode."""
    dropout_param = {"mode": mode, "p": p, "seed": seed}
    mask = None
    if mode == "train" and p > 0:
        mask = (np.random.default_rng(seed).random(x.shape) >= p) / (1.0 - p)
    return fn(dout, (dropout_param, mask))


class ReferenceFullyConnectedNet(Module):
    """Lab 05's FullyConnectedNet contract, built from the library's functional layers."""

    def __init__(self, input_dim, hidden_dims, num_classes, normalization=None, dropout=0.0, seed=0):
        super().__init__()
        self.normalization, self.dropout = normalization, dropout
        self.num_layers = len(hidden_dims) + 1
        self.rng = np.random.default_rng(seed)
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = dims[i - 1], dims[i]
            self.add_param(f"W{i}", self.rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in))
            self.add_param(f"b{i}", np.zeros(fan_out))
            if normalization is not None and i < self.num_layers:
                self.add_param(f"gamma{i}", np.ones(fan_out))
                self.add_param(f"beta{i}", np.zeros(fan_out))
                if normalization == "batchnorm":
                    self.add_buffer(f"running_mean{i}", np.zeros(fan_out))
                    self.add_buffer(f"running_var{i}", np.ones(fan_out))

    def forward(self, x):
        self._caches = []
        h = x.reshape(x.shape[0], -1)
        mode = "train" if self.training else "test"
        for i in range(1, self.num_layers):
            h, c_aff = F.affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            c_norm = None
            if self.normalization == "batchnorm":
                bn_param = {"mode": mode, "running_mean": self.buffers[f"running_mean{i}"],
                            "running_var": self.buffers[f"running_var{i}"]}
                h, c_norm = F.batchnorm_forward(h, self.params[f"gamma{i}"], self.params[f"beta{i}"], bn_param)
                self.set_buffer(f"running_mean{i}", bn_param["running_mean"])
                self.set_buffer(f"running_var{i}", bn_param["running_var"])
            elif self.normalization == "layernorm":
                h, c_norm = F.layernorm_forward(h, self.params[f"gamma{i}"], self.params[f"beta{i}"], {})
            h, c_relu = F.relu_forward(h)
            c_drop = None
            if self.dropout > 0:
                h, c_drop = F.dropout_forward(h, {"mode": mode, "p": self.dropout, "seed": self.rng})
            self._caches.append((c_aff, c_norm, c_relu, c_drop))
        L = self.num_layers
        scores, self._last = F.affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        return scores

    def backward(self, dout):
        L = self.num_layers
        dh, dW, db = F.affine_backward(dout, self._last)
        self.accumulate_grad(f"W{L}", dW)
        self.accumulate_grad(f"b{L}", db)
        for i in range(L - 1, 0, -1):
            c_aff, c_norm, c_relu, c_drop = self._caches[i - 1]
            if c_drop is not None:
                dh = F.dropout_backward(dh, c_drop)
            dh = F.relu_backward(dh, c_relu)
            if self.normalization is not None:
                backward = F.batchnorm_backward_alt if self.normalization == "batchnorm" else F.layernorm_backward
                dh, dgamma, dbeta = backward(dh, c_norm)
                self.accumulate_grad(f"gamma{i}", dgamma)
                self.accumulate_grad(f"beta{i}", dbeta)
            dh, dW, db = F.affine_backward(dh, c_aff)
            self.accumulate_grad(f"W{i}", dW)
            self.accumulate_grad(f"b{i}", db)
        return dh


def run_fc_net(cls, params, hidden_dims, normalization, dropout, seed, X, dout):
    """Build the net, set its parameters, run one training forward/backward and one test forward.

    Returns the training scores, dx, every gradient, the buffers after the training pass and
    the test-mode scores.
    """
    N, D = X.shape
    model = cls(D, list(hidden_dims), dout.shape[1], normalization=normalization, dropout=dropout, seed=seed)
    if set(model.params) != set(params):
        raise ValueError(f"expected parameters {sorted(params)}, got {sorted(model.params)}")
    for name, value in params.items():
        model.params[name][...] = value
    model.train()
    model.zero_grad()
    scores = model.forward(X)
    dx = model.backward(dout)
    buffers = {k: np.array(v) for k, v in model.buffers.items()}
    grads = {k: np.array(v) for k, v in model.grads.items()}
    model.eval()
    return scores, dx, grads, buffers, model.forward(X)


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
    out = []
    for n, d, eps, momentum in [(8, 5, 1e-5, 0.9), (3, 2, 1e-5, 0.5), (6, 4, 1e-3, 0.99)]:
        xs = [float(rng.uniform(-2, 3)) + float(rng.uniform(0.5, 3)) * rng.standard_normal((n, d)) for _ in range(3)]
        out.append((*xs, rng.standard_normal(d), rng.standard_normal(d), eps, momentum))
    return out


def _norm_backward_cases(rng):
    out = []
    for n, d in [(6, 4), (10, 3), (3, 5)]:
        out.append((rng.standard_normal((n, d)), 2.0 + rng.standard_normal((n, d)), rng.standard_normal(d), 1e-5))
    return out


def _ln_forward_cases(rng):
    return [(3.0 + 2.0 * rng.standard_normal((5, 6)), rng.standard_normal(6), rng.standard_normal(6), {"eps": 1e-5}),
            (rng.standard_normal((1, 4)), np.ones(4), np.zeros(4), {}),
            (np.ones((3, 3)), rng.standard_normal(3), rng.standard_normal(3), {"eps": 1e-3})]  # zero variance


def _dropout_cases(rng):
    return [(rng.standard_normal((6, 5)), 0.5, int(rng.integers(0, 2**31))),
            (rng.standard_normal((3, 4, 2)), 0.2, int(rng.integers(0, 2**31))),
            (rng.standard_normal(10), 0.0, 7)]


def _dropout_backward_cases(rng):
    return [(rng.standard_normal((6, 5)), rng.standard_normal((6, 5)), 0.5, int(rng.integers(0, 2**31)), "train"),
            (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), 0.3, int(rng.integers(0, 2**31)), "test"),
            (rng.standard_normal(7), rng.standard_normal(7), 0.8, int(rng.integers(0, 2**31)), "train")]


def _fc_case(rng, N, D, hidden, C, normalization, dropout):
    dims = [D, *hidden, C]
    params = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) / np.sqrt(dims[i - 1])
        params[f"b{i}"] = 0.1 * rng.standard_normal(dims[i])
        if normalization is not None and i < len(dims) - 1:
            params[f"gamma{i}"] = 1.0 + 0.2 * rng.standard_normal(dims[i])
            params[f"beta{i}"] = 0.1 * rng.standard_normal(dims[i])
    X = rng.standard_normal((N, D))
    return params, tuple(hidden), normalization, dropout, int(rng.integers(0, 1000)), X, rng.standard_normal((N, C))


def _fc_cases(rng):
    return [_fc_case(rng, 5, 4, [6, 5], 3, None, 0.0),
            _fc_case(rng, 8, 3, [7, 6, 5], 4, "batchnorm", 0.0),
            _fc_case(rng, 6, 5, [8], 3, "layernorm", 0.3),
            _fc_case(rng, 7, 4, [6, 6], 2, "batchnorm", 0.5),
            _fc_case(rng, 4, 3, [], 2, None, 0.0)]


def _early_cases(rng):
    noisy = [float(v) for v in np.round(np.minimum(0.99, 0.5 + 0.4 * (1 - np.exp(-np.arange(1, 21) / 4))
                                     + 0.02 * rng.standard_normal(20)), 4)]
    return [([0.5, 0.6, 0.7, 0.65, 0.66, 0.69, 0.68], 3), (noisy, 4), ([0.9, 0.9, 0.9, 0.9], 2),
            ([0.1, 0.2, 0.3], 5)]


_TIGHT = allclose(rtol=1e-6, atol=1e-8)

EXERCISES = [
    Exercise("init_std", "init_std", 1, reference_init_std, _init_cases, title="Xavier and Kaiming scales"),
    Exercise("batchnorm_forward", "batchnorm_forward", 3, reference_batchnorm_forward, _bn_forward_cases,
             driver=run_batchnorm, compare=allclose(rtol=1e-6, atol=1e-7),
             title="batch normalisation: forward, train and test mode, running averages"),
    Exercise("batchnorm_backward", "batchnorm_backward", 3, reference_batchnorm_backward, _norm_backward_cases,
             driver=bn_backward_driver, compare=allclose(rtol=1e-5, atol=1e-8),
             title="batch normalisation: simplified backward"),
    Exercise("layernorm_forward", "layernorm_forward", 2, reference_layernorm_forward, _ln_forward_cases,
             driver=forward_out, compare=allclose(rtol=1e-6, atol=1e-7), title="layer normalisation: forward"),
    Exercise("layernorm_backward", "layernorm_backward", 2, reference_layernorm_backward, _norm_backward_cases,
             driver=ln_backward_driver, compare=allclose(rtol=1e-5, atol=1e-8), title="layer normalisation: backward"),
    Exercise("dropout_forward", "dropout_forward", 2, reference_dropout_forward, _dropout_cases, driver=run_dropout,
             compare=_TIGHT, title="inverted dropout: train and test mode"),
    Exercise("dropout_backward", "dropout_backward", 1, reference_dropout_backward, _dropout_backward_cases,
             driver=dropout_backward_driver, compare=_TIGHT, title="inverted dropout: backward"),
    Exercise("early_stopping", "early_stopping", 1, reference_early_stopping, _early_cases,
             title="early stopping: best and stopping epoch"),
    Exercise("fc_net", "FullyConnectedNet", 6, ReferenceFullyConnectedNet, _fc_cases, driver=run_fc_net,
             compare=allclose(rtol=1e-5, atol=1e-8),
             title="FullyConnectedNet: any depth, batch/layer norm, dropout, forward and backward"),
]
