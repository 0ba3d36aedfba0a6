"""Optimizers: CS231n-style update rules, torch-style optimizer classes, gradient clipping.

The contract (stated once, shared by everything in this module)
---------------------------------------------------------------

**Update rules** are pure functions with the CS231n signature::

    next_w, config = rule(w, dw, config=None)

``w`` is the current parameter array, ``dw`` its gradient (same shape), and ``config`` a
dict of hyperparameters *and* per-parameter state (velocity, moment estimates, step
count). Missing entries get defaults; the returned ``config`` must be passed back in on the
next call for the same parameter. ``w`` is not modified; ``next_w`` is a new array.

**Optimizer classes** (:class:`SGD`, :class:`Adagrad`, :class:`RMSprop`, :class:`Adam`,
:class:`AdamW`) work on a :class:`~i2dl_lab.nn.module.Module` (through its live
``params`` and ``grads`` dicts) or on a plain ``params`` dict plus a ``grads`` dict with the
same keys. They follow ``torch.optim`` step for step (same defaults, same formulas,
including where weight decay enters), and update parameter arrays **in place**::

    opt = Adam(model, lr=1e-3)
    model.zero_grad()               # or opt.zero_grad()
    loss = ...; model.backward(dscores)
    opt.step()

Per-parameter state lives in ``opt.state[name]`` (a dict of arrays and the step count), the
current learning rate in ``opt.lr`` (schedulers in :mod:`i2dl_lab.nn.lr_scheduler` write it)
and ``opt.state_dict()`` / ``opt.load_state_dict()`` copy everything out and back.

Rules and classes side by side (``g`` is the gradient, ``lr`` the learning rate):

=================  ===========================================  =================================
method             CS231n rule (``config`` keys)                torch-style class
=================  ===========================================  =================================
plain SGD          ``w -= lr g``                                ``SGD(lr)``
momentum           ``v = mu v - lr g; w += v``                  ``SGD(lr, momentum=mu)``:
                                                                ``b = mu b + g; w -= lr b``
Nesterov           ``v = mu v - lr g; w += -mu v_old + (1+mu)v``  ``SGD(lr, momentum, nesterov)``
Adagrad            ``c += g^2; w -= lr g / (sqrt(c) + eps)``    ``Adagrad(lr, eps)``
RMSprop            ``c = rho c + (1-rho) g^2; w -= lr g/(sqrt(c)+eps)``  ``RMSprop(lr, alpha=rho)``
Adam               bias-corrected ``m``, ``v`` (``t`` counts steps)  ``Adam(lr, betas, eps)``
=================  ===========================================  =================================

Where the formulas differ they are still the same algorithm: CS231n's velocity is
``v = -lr * b`` (torch's buffer ``b`` holds gradients, CS231n's ``v`` holds displacements),
so the two agree exactly while ``lr`` is constant; when a schedule changes ``lr`` the torch
form applies the *new* rate to the whole buffer. The classes use the torch form so that they
behave like ``torch.optim`` under every schedule. ``tests/nn/test_optim.py`` checks each
rule and class against ``torch.optim`` for 20 steps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._checks import check_positive, check_range

__all__ = [
    # CS231n update rules
    "sgd",
    "sgd_momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    # optimizer classes
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "RuleOptimizer",
    # gradient clipping
    "clip_grad_value",
    "clip_grad_norm",
]


# ====================================================================== CS231n update rules
def _check_rule_inputs(w, dw) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w)
    dw = np.asarray(dw)
    if not np.issubdtype(w.dtype, np.floating):
        raise TypeError(f"w must be a float array, got dtype {w.dtype}")
    if dw.shape != w.shape:
        raise ValueError(f"dw must have the shape of w {tuple(w.shape)}, got {tuple(dw.shape)}")
    return w, dw


def _rule_config(config: dict | None, **defaults: Any) -> dict:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict or None, got {type(config).__name__}")
    for key, value in defaults.items():
        config.setdefault(key, value)
    check_positive("learning_rate", config["learning_rate"])
    return config


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``w <- w - learning_rate * dw``.

    Args:
        w: parameter array, any shape.
        dw: gradient of the loss with respect to ``w``, same shape.
        config: dict with ``learning_rate`` (default 1e-2).

    Returns:
        ``(next_w, config)``.

    Example:
        >>> next_w, _ = sgd(np.ones(2), np.array([1.0, -1.0]), {"learning_rate": 0.5})
        >>> next_w
        array([0.5, 1.5])
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: ``v <- momentum * v - learning_rate * dw;  w <- w + v``.

    ``v`` (the velocity) is a running, decaying sum of past steps; along directions where
    successive gradients agree it grows, where they oscillate it cancels.

    Args:
        w: parameter array, any shape.
        dw: gradient, same shape.
        config: dict with ``learning_rate`` (1e-2), ``momentum`` (0.9) and ``velocity``
            (zeros like ``w``; updated and returned).

    Returns:
        ``(next_w, config)``.

    Equivalent to ``torch.optim.SGD(lr, momentum)`` for a constant learning rate, whose
    buffer ``b = momentum * b + dw`` equals ``-v / learning_rate``.
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-2, momentum=0.9)
    check_range("momentum", config["momentum"], 0.0, 1.0)
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov(w, dw, config=None):
    """Nesterov momentum in the "look-ahead variable" form used by CS231n.

    The lecture form evaluates the gradient at the look-ahead point ``w + mu v``. Tracking
    ``w_ahead = w + mu v`` instead of ``w`` lets the gradient be taken at the stored
    parameters, which gives the update implemented here::

        v_prev = v
        v = mu * v - learning_rate * dw
        w = w - mu * v_prev + (1 + mu) * v

    Args:
        w: parameter array, any shape.
        dw: gradient, same shape.
        config: dict with ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity``.

    Returns:
        ``(next_w, config)``.

    Equivalent to ``torch.optim.SGD(lr, momentum, nesterov=True)`` for a constant rate.
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-2, momentum=0.9)
    check_range("momentum", config["momentum"], 0.0, 1.0)
    mu = config["momentum"]
    v_prev = config.get("velocity")
    if v_prev is None:
        v_prev = np.zeros_like(w)
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1 + mu) * v, config


def adagrad(w, dw, config=None):
    """Adagrad: divide each coordinate's step by the root of its summed squared gradients.

    ``cache <- cache + dw**2;  w <- w - learning_rate * dw / (sqrt(cache) + epsilon)``

    Args:
        w: parameter array, any shape.
        dw: gradient, same shape.
        config: dict with ``learning_rate`` (1e-2), ``epsilon`` (1e-10, torch's default),
            ``cache`` (zeros like ``w``).

    Returns:
        ``(next_w, config)``. Same as ``torch.optim.Adagrad(lr, eps=epsilon)``.
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-2, epsilon=1e-10)
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    cache = cache + dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def rmsprop(w, dw, config=None):
    """RMSprop: like Adagrad, but the squared-gradient sum decays (a moving average).

    ``cache <- decay_rate * cache + (1 - decay_rate) * dw**2``
    ``w <- w - learning_rate * dw / (sqrt(cache) + epsilon)``

    Args:
        w: parameter array, any shape.
        dw: gradient, same shape.
        config: dict with ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon``
            (1e-8), ``cache`` (zeros like ``w``).

    Returns:
        ``(next_w, config)``. Same as ``torch.optim.RMSprop(lr, alpha=decay_rate, eps)``.
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    check_range("decay_rate", config["decay_rate"], 0.0, 1.0)
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    rho = config["decay_rate"]
    cache = rho * cache + (1 - rho) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient (``m``) and RMSprop scaling (``v``), bias-corrected.

    With ``t`` the number of updates so far (after incrementing)::

        m = beta1 * m + (1 - beta1) * dw          # first moment (mean of gradients)
        v = beta2 * v + (1 - beta2) * dw**2       # second moment (uncentred variance)
        m_hat = m / (1 - beta1**t);  v_hat = v / (1 - beta2**t)   # undo the zero start
        w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        w: parameter array, any shape.
        dw: gradient, same shape.
        config: dict with ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999),
            ``epsilon`` (1e-8), ``m``, ``v`` (zeros like ``w``), ``t`` (0).

    Returns:
        ``(next_w, config)``. Same as ``torch.optim.Adam(lr, betas=(beta1, beta2), eps)``.
    """
    w, dw = _check_rule_inputs(w, dw)
    config = _rule_config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    b1, b2 = config["beta1"], config["beta2"]
    check_range("beta1", b1, 0.0, 1.0)
    check_range("beta2", b2, 0.0, 1.0)
    m = config.get("m")
    v = config.get("v")
    if m is None:
        m = np.zeros_like(w)
    if v is None:
        v = np.zeros_like(w)
    t = config["t"] + 1
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw * dw
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


# ====================================================================== parameter access
def _resolve(params, grads=None) -> tuple[Any, Any]:
    """Return ``(params_source, grads_source)``: callables giving live dicts each step.

    Accepts a Module (anything with ``params`` and ``grads`` mappings), a mapping
    ``{"params": {...}, "grads": {...}}`` or a params mapping plus ``grads``.
    """
    if hasattr(params, "params") and hasattr(params, "grads") and not isinstance(params, Mapping):
        if grads is not None:
            raise TypeError("pass either a Module or a params dict with grads=..., not a Module and grads")
        module = params
        return (lambda: module.params), (lambda: module.grads)
    if isinstance(params, Mapping) and grads is None and set(params) == {"params", "grads"}:
        p, g = params["params"], params["grads"]
        if isinstance(p, Mapping) and isinstance(g, Mapping):
            return (lambda: p), (lambda: g)
    if isinstance(params, Mapping):
        if grads is None:
            raise TypeError(
                "a params dict needs its gradients: pass grads=<dict with the same keys>, "
                "a Module, or {'params': ..., 'grads': ...}"
            )
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict of arrays, got {type(grads).__name__}")
        return (lambda: params), (lambda: grads)
    raise TypeError(
        "an optimizer needs a Module, a dict {'params': ..., 'grads': ...} or a params dict with "
        f"grads=..., got {type(params).__name__}"
    )


def _check_pairs(params: Mapping, grads: Mapping) -> None:
    missing = [k for k in params if k not in grads]
    unexpected = [k for k in grads if k not in params]
    if missing or unexpected:
        raise ValueError(
            f"params and grads must have the same keys: no gradient for {missing}, "
            f"gradients without a parameter {unexpected}"
        )
    for k, p in params.items():
        g = grads[k]
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise TypeError(f"parameter {k!r} must be a float ndarray (updated in place), got {type(p).__name__}"
                            + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""))
        if np.shape(g) != p.shape:
            raise ValueError(f"gradient of {k!r} must have shape {p.shape}, got {np.shape(g)}")


# ====================================================================== optimizer classes
class Optimizer:
    """Base class: holds the parameter source, ``lr``, hyperparameters and ``state``.

    Subclasses set ``self.defaults`` (their hyperparameters) and implement
    :meth:`_update` for one parameter.

    Args:
        params: a Module, ``{"params": {...}, "grads": {...}}``, or a params dict.
        lr: learning rate, > 0.
        grads: gradients dict (only with a plain params dict).
    """

    def __init__(self, params, lr: float, grads=None) -> None:
        check_positive("lr", lr)
        self._get_params, self._get_grads = _resolve(params, grads)
        _check_pairs(self._get_params(), self._get_grads())
        self.lr = float(lr)
        self.initial_lr = float(lr)
        self.defaults: dict[str, Any] = {}
        self.state: dict[str, dict[str, Any]] = {}

    @property
    def params(self):
        return self._get_params()

    @property
    def grads(self):
        return self._get_grads()

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        for g in self._get_grads().values():
            g[...] = 0.0

    def step(self) -> None:
        """Apply one update to every parameter, in place, using the current gradients."""
        params, grads = self._get_params(), self._get_grads()
        _check_pairs(params, grads)
        for name, p in params.items():
            state = self.state.setdefault(name, {"step": 0})
            state["step"] += 1
            self._update(p, np.asarray(grads[name], dtype=p.dtype), state)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Deep copy of ``lr``, hyperparameters and the per-parameter state."""
        return {"lr": self.lr, "initial_lr": self.initial_lr, "defaults": dict(self.defaults),
                "state": copy.deepcopy(self.state)}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (arrays are copied)."""
        missing = [k for k in ("lr", "defaults", "state") if k not in state_dict]
        if missing:
            raise KeyError(f"optimizer state_dict lacks {missing}")
        unknown = [k for k in state_dict["state"] if k not in self._get_params()]
        if unknown:
            raise ValueError(f"state for unknown parameters {unknown}")
        self.lr = float(state_dict["lr"])
        self.initial_lr = float(state_dict.get("initial_lr", self.lr))
        for key, value in state_dict["defaults"].items():
            setattr(self, key, value)
            self.defaults[key] = value
        self.state = copy.deepcopy(dict(state_dict["state"]))

    def extra_repr(self) -> str:
        items = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"lr={self.lr:g}" + (f", {items}" if items else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _with_weight_decay(p: np.ndarray, g: np.ndarray, weight_decay: float) -> np.ndarray:
    # L2 regularisation folded into the gradient (as torch does); never touches the grads dict.
    return g + weight_decay * p if weight_decay else g


def _check_nonneg(name: str, value: float) -> None:
    if not np.isscalar(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and weight decay.

    Same update as ``torch.optim.SGD``::

        g = grad + weight_decay * w
        b = g                                  (first step)
        b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b if nesterov else b
        w -= lr * g

    Args:
        params: Module, ``{"params", "grads"}`` dict, or params dict with ``grads=``.
        lr: learning rate (> 0).
        momentum: in [0, 1).
        dampening: in [0, 1]; 0 unless you know why (Nesterov needs 0).
        nesterov: look-ahead momentum (needs momentum > 0, dampening 0).
        weight_decay: L2 coefficient (>= 0), added to the gradient.

    Example:
        >>> p = {"w": np.ones(2)}; g = {"w": np.array([1.0, 2.0])}
        >>> SGD(p, lr=0.1, grads=g).step(); p["w"]
        array([0.9, 0.8])
    """

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, grads=None) -> None:
        super().__init__(params, lr, grads)
        check_range("momentum", momentum, 0.0, 1.0)
        check_range("dampening", dampening, 0.0, 1.0, high_inclusive=True)
        _check_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov needs momentum > 0 and dampening 0, got momentum={momentum}, "
                             f"dampening={dampening}")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.nesterov, self.weight_decay = bool(nesterov), float(weight_decay)
        self.defaults = {"momentum": self.momentum, "dampening": self.dampening,
                         "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _update(self, p, g, state):
        g = _with_weight_decay(p, g, self.weight_decay)
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class Adagrad(Optimizer):
    """Adagrad as in ``torch.optim.Adagrad``.

    ``sum += g**2;  w -= clr * g / (sqrt(sum) + eps)`` with ``clr = lr / (1 + (t-1) lr_decay)``.

    Args:
        params: Module, ``{"params", "grads"}`` dict, or params dict with ``grads=``.
        lr: learning rate (> 0).
        lr_decay: inverse-time decay of the rate per step (>= 0).
        weight_decay: L2 coefficient (>= 0).
        initial_accumulator_value: starting value of ``sum`` (>= 0).
        eps: added to the root for stability (> 0).
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, grads=None) -> None:
        super().__init__(params, lr, grads)
        _check_nonneg("lr_decay", lr_decay)
        _check_nonneg("weight_decay", weight_decay)
        _check_nonneg("initial_accumulator_value", initial_accumulator_value)
        check_positive("eps", eps)
        self.lr_decay, self.weight_decay = float(lr_decay), float(weight_decay)
        self.initial_accumulator_value, self.eps = float(initial_accumulator_value), float(eps)
        self.defaults = {"lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                         "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}

    def _update(self, p, g, state):
        g = _with_weight_decay(p, g, self.weight_decay)
        if "sum" not in state:
            state["sum"] = np.full_like(p, self.initial_accumulator_value)
        state["sum"] += g * g
        clr = self.lr / (1 + (state["step"] - 1) * self.lr_decay)
        p -= clr * g / (np.sqrt(state["sum"]) + self.eps)


class RMSprop(Optimizer):
    """RMSprop as in ``torch.optim.RMSprop``.

    ``s = alpha s + (1 - alpha) g**2``; the step is ``g / (sqrt(s) + eps)`` (with
    ``centered``, ``s`` minus the squared running mean of ``g``), optionally through a
    momentum buffer ``b = momentum b + step``; ``w -= lr * (b or step)``.

    Args:
        params: Module, ``{"params", "grads"}`` dict, or params dict with ``grads=``.
        lr: learning rate (> 0).
        alpha: decay of the squared-gradient average, in [0, 1).
        eps: stability term (> 0).
        weight_decay: L2 coefficient (>= 0).
        momentum: in [0, 1).
        centered: normalise by the estimated variance instead of the second moment.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, grads=None) -> None:
        super().__init__(params, lr, grads)
        check_range("alpha", alpha, 0.0, 1.0)
        check_positive("eps", eps)
        _check_nonneg("weight_decay", weight_decay)
        check_range("momentum", momentum, 0.0, 1.0)
        self.alpha, self.eps, self.weight_decay = float(alpha), float(eps), float(weight_decay)
        self.momentum, self.centered = float(momentum), bool(centered)
        self.defaults = {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                         "momentum": self.momentum, "centered": self.centered}

    def _update(self, p, g, state):
        g = _with_weight_decay(p, g, self.weight_decay)
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(p)
            if self.momentum:
                state["momentum_buffer"] = np.zeros_like(p)
            if self.centered:
                state["grad_avg"] = np.zeros_like(p)
        sq = state["square_avg"]
        sq *= self.alpha
        sq += (1 - self.alpha) * g * g
        if self.centered:
            ga = state["grad_avg"]
            ga *= self.alpha
            ga += (1 - self.alpha) * g
            avg = np.sqrt(sq - ga * ga) + self.eps
        else:
            avg = np.sqrt(sq) + self.eps
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * g / avg


class Adam(Optimizer):
    """Adam (and AMSGrad) as in ``torch.optim.Adam``, with bias correction.

    With ``t`` the step count::

        g = grad + weight_decay * w                      (L2; see AdamW for decoupled)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g**2
        v_max = max(v_max, v)                            (amsgrad only; used instead of v)
        w -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: Module, ``{"params", "grads"}`` dict, or params dict with ``grads=``.
        lr: learning rate (> 0).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: stability term (> 0).
        weight_decay: L2 coefficient (>= 0) added to the gradient.
        amsgrad: use the running maximum of ``v`` (never lets the effective rate grow).
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, grads=None) -> None:
        super().__init__(params, lr, grads)
        if not isinstance(betas, Iterable) or len(tuple(betas)) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        b1, b2 = (float(b) for b in betas)
        check_range("betas[0]", b1, 0.0, 1.0)
        check_range("betas[1]", b2, 0.0, 1.0)
        check_positive("eps", eps)
        _check_nonneg("weight_decay", weight_decay)
        self.betas, self.eps, self.weight_decay, self.amsgrad = (b1, b2), float(eps), float(weight_decay), bool(amsgrad)
        self.defaults = {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay,
                         "amsgrad": self.amsgrad}

    def _update(self, p, g, state):
        b1, b2 = self.betas
        if self._decoupled:
            # AdamW: shrink the weights directly, outside the adaptive scaling.
            p *= 1 - self.lr * self.weight_decay
        else:
            g = _with_weight_decay(p, g, self.weight_decay)
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        t = state["step"]
        step_size = self.lr / (1 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps
        p -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    Before the Adam step ``w *= 1 - lr * weight_decay``; the gradient itself is left alone,
    so the decay is not rescaled by the adaptive denominator. Default ``weight_decay`` 1e-2.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, grads=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, grads)


class RuleOptimizer(Optimizer):
    """Drive a Module (or a params dict) with a CS231n update rule, one ``config`` per parameter.

    This is CS231n's Solver update written as an optimizer, so a rule such as :func:`adam` (or
    one a student wrote) can train any Module with the :class:`~i2dl_lab.train.Trainer` and a
    schedule::

        config = state[name]["config"]           (a copy of ``config`` the first time)
        config["learning_rate"] = lr             (what a scheduler wrote)
        next_w, config = rule(w, grad, config);  w[...] = next_w

    Args:
        params: Module, ``{"params", "grads"}`` dict, or params dict with ``grads=``.
        rule: ``next_w, config = rule(w, dw, config)``.
        config: the rule's hyperparameters; its ``learning_rate`` (default 1e-2) becomes ``lr``.
        grads: gradients dict (only with a plain params dict).

    Example:
        >>> p = {"w": np.ones(2)}; g = {"w": np.array([1.0, 2.0])}
        >>> opt = RuleOptimizer(p, sgd_momentum, {"learning_rate": 0.1, "momentum": 0.9}, grads=g)
        >>> opt.step(); opt.step(); p["w"]
        array([0.71, 0.42])
    """

    def __init__(self, params, rule, config: Mapping | None = None, grads=None) -> None:
        if not callable(rule):
            raise TypeError(f"rule must be callable as next_w, config = rule(w, dw, config), got {rule!r}")
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict of the rule's hyperparameters, got {type(config).__name__}")
        config = dict(config or {})
        super().__init__(params, config.pop("learning_rate", 1e-2), grads)
        self.rule = rule
        self.defaults = config

    def _update(self, p, g, state):
        config = state.setdefault("config", copy.deepcopy(self.defaults))
        config["learning_rate"] = self.lr
        out = self.rule(p, g, config)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"an update rule must return (next_w, config), got {type(out).__name__}")
        next_w, state["config"] = out
        next_w = np.asarray(next_w)
        if next_w.shape != p.shape:
            raise ValueError(f"the update rule returned next_w of shape {next_w.shape} for a parameter of "
                             f"shape {p.shape}")
        p[...] = next_w

    def extra_repr(self) -> str:
        return f"rule={getattr(self.rule, '__name__', self.rule)}, " + super().extra_repr()


# ====================================================================== gradient clipping
def _grad_arrays(grads) -> list[np.ndarray]:
    if hasattr(grads, "grads") and not isinstance(grads, Mapping):
        grads = grads.grads
    if isinstance(grads, np.ndarray):
        arrays = [grads]
    elif isinstance(grads, Mapping):
        arrays = list(grads.values())
    elif isinstance(grads, Iterable):
        arrays = list(grads)
    else:
        raise TypeError(f"grads must be a dict/list of arrays or a Module, got {type(grads).__name__}")
    for a in arrays:
        if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.floating):
            raise TypeError("gradients must be float ndarrays (they are modified in place), got "
                            f"{type(a).__name__}" + (f" of dtype {a.dtype}" if isinstance(a, np.ndarray) else ""))
    return arrays


def clip_grad_value(grads, clip_value: float):
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    Same as ``torch.nn.utils.clip_grad_value_``.

    Args:
        grads: dict of gradient arrays, a list of arrays, or a Module (its ``grads``).
        clip_value: positive bound.

    Returns:
        ``grads`` (modified in place).

    Example:
        >>> g = {"w": np.array([-3.0, 0.5, 7.0])}
        >>> clip_grad_value(g, 1.0)["w"]
        array([-1. ,  0.5,  1. ])
    """
    check_positive("clip_value", clip_value)
    for a in _grad_arrays(grads):
        np.clip(a, -clip_value, clip_value, out=a)
    return grads


def clip_grad_norm(grads, max_norm: float, norm_type: float = 2.0) -> float:
    """Rescale all gradients together so that their global norm is at most ``max_norm``.

    The norm is taken over every entry of every gradient as if they were one vector; when
    it exceeds ``max_norm`` every gradient is multiplied by ``max_norm / (norm + 1e-6)``
    (torch's formula, so the direction is kept). Same as ``torch.nn.utils.clip_grad_norm_``.

    Args:
        grads: dict of gradient arrays, a list of arrays, or a Module (its ``grads``).
        max_norm: positive bound on the global norm.
        norm_type: ``p`` of the p-norm (> 0) or ``float("inf")``.

    Returns:
        The global norm *before* clipping (a float; useful to log). If it is not finite the
        gradients are left unchanged, so the caller can notice and stop.

    Example:
        >>> g = {"a": np.array([3.0]), "b": np.array([4.0])}
        >>> clip_grad_norm(g, 1.0)
        5.0
        >>> np.round(g["a"], 4), np.round(g["b"], 4)
        (array([0.6]), array([0.8]))
    """
    check_positive("max_norm", max_norm)
    if not (norm_type == math.inf or (np.isscalar(norm_type) and norm_type > 0)):
        raise ValueError(f"norm_type must be positive or inf, got {norm_type!r}")
    arrays = _grad_arrays(grads)
    if not arrays:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    else:
        total = float(sum(float(np.sum(np.abs(a) ** norm_type)) for a in arrays) ** (1.0 / norm_type))
    if not math.isfinite(total):
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for a in arrays:
            a *= coef
    return total
