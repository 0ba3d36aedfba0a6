"""Module classes for normalisation and dropout.

Thin stateful wrappers over :mod:`i2dl_lab.nn.functional.norm`. Batch norm keeps its running
statistics as buffers (saved by ``state_dict``, not trained); ``train()`` / ``eval()`` switch
batch norm between batch and running statistics and dropout between dropping and identity.

Momentum convention (batch norm): ``running = momentum * running + (1 - momentum) * batch``
with ``momentum=0.9``, as in the lecture and CS231n. torch's ``BatchNorm(momentum=0.1)`` is
the same update written with ``1 - momentum``; torch also stores the unbiased variance in
``running_var`` where this library stores the biased one.

Example:
    >>> import numpy as np
    >>> bn = BatchNorm1d(3)
    >>> out = bn(np.random.default_rng(0).normal(5.0, 2.0, size=(64, 3)))
    >>> bool(np.allclose(out.mean(axis=0), 0.0) and np.allclose(bn.running_mean, 0.1 * 5.0, atol=0.1))
    True
"""

from __future__ import annotations

import numpy as np

from . import init as _init
from ._checks import as_float_array, check_positive, check_range
from .functional import norm as _norm
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "LocalResponseNorm", "Dropout"]


def _need_cache(module: Module, cache):
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return cache


def _positive_int(owner: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {v!r}")
    return int(v)


class _BatchNorm(Module):
    _fwd = staticmethod(_norm.batchnorm_forward)
    _bwd = staticmethod(_norm.batchnorm_backward_alt)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9, dtype=np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(name, "num_features", num_features)
        check_positive(f"{name}: eps", eps)
        check_range(f"{name}: momentum", momentum, 0.0, 1.0, high_inclusive=True)
        self.eps, self.momentum = float(eps), float(momentum)
        self.add_param("gamma", np.ones(self.num_features, dtype=dtype))
        self.add_param("beta", np.zeros(self.num_features, dtype=dtype))
        self.add_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.add_buffer("running_var", np.ones(self.num_features, dtype=dtype))
        self._cache = None

    def forward(self, x):
        x = as_float_array("x", x).astype(self.gamma.dtype, copy=False)
        bn_param = {"mode": "train" if self.training else "test", "eps": self.eps, "momentum": self.momentum,
                    "running_mean": self.running_mean, "running_var": self.running_var}
        out, self._cache = self._fwd(x, self.gamma, self.beta, bn_param)
        if self.training:
            self.set_buffer("running_mean", bn_param["running_mean"])
            self.set_buffer("running_var", bn_param["running_var"])
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = self._bwd(dout, _need_cache(self, self._cache))
        self.accumulate_grad("gamma", dgamma)
        self.accumulate_grad("beta", dbeta)
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, D)`` features.

    Args:
        num_features: D.
        eps: added to the variance.
        momentum: CS231n convention (0.9 keeps 90% of the old running value; torch's 0.1).
        dtype: parameter dtype.

    Parameters: ``gamma`` ``(D,)`` (ones), ``beta`` ``(D,)`` (zeros).
    Buffers: ``running_mean`` ``(D,)`` (zeros), ``running_var`` ``(D,)`` (ones, biased variance).
    Shape: ``(N, D) -> (N, D)``.
    """

    _fwd = staticmethod(_norm.batchnorm_forward)
    _bwd = staticmethod(_norm.batchnorm_backward_alt)


class BatchNorm2d(_BatchNorm):
    """Spatial batch normalisation: one mean/variance per channel over (N, H, W).

    Args: as :class:`BatchNorm1d` with ``num_features = C``.
    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    _fwd = staticmethod(_norm.spatial_batchnorm_forward)
    _bwd = staticmethod(_norm.spatial_batchnorm_backward)


class LayerNorm(Module):
    """Layer normalisation over the last axis (same at train and test time).

    Args:
        normalized_shape: D, size of the last axis.
        eps: added to the variance.
        dtype: parameter dtype.

    Parameters: ``gamma`` ``(D,)`` (ones), ``beta`` ``(D,)`` (zeros).
    Shape: ``(..., D) -> (..., D)``, e.g. ``(N, T, D)`` in a transformer.
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype=np.float64) -> None:
        super().__init__()
        self.normalized_shape = _positive_int("LayerNorm", "normalized_shape", normalized_shape)
        check_positive("LayerNorm: eps", eps)
        self.eps = float(eps)
        self.add_param("gamma", np.ones(self.normalized_shape, dtype=dtype))
        self.add_param("beta", np.zeros(self.normalized_shape, dtype=dtype))
        self._cache = None

    def forward(self, x):
        x = as_float_array("x", x).astype(self.gamma.dtype, copy=False)
        out, self._cache = _norm.layernorm_forward(x, self.gamma, self.beta, {"eps": self.eps})
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = _norm.layernorm_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("gamma", dgamma)
        self.accumulate_grad("beta", dbeta)
        return dx

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps:g}"


class GroupNorm(Module):
    """Group normalisation of ``(N, C, ...)``: ``num_groups`` groups of ``C // num_groups`` channels.

    Args:
        num_groups: G (must divide ``num_channels``).
        num_channels: C.
        eps: added to the variance.
        dtype: parameter dtype.

    Parameters: ``gamma`` ``(C,)`` (ones), ``beta`` ``(C,)`` (zeros).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, dtype=np.float64) -> None:
        super().__init__()
        self.num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide num_channels={num_channels}")
        check_positive("GroupNorm: eps", eps)
        self.eps = float(eps)
        self.add_param("gamma", np.ones(self.num_channels, dtype=dtype))
        self.add_param("beta", np.zeros(self.num_channels, dtype=dtype))
        self._cache = None

    def forward(self, x):
        x = as_float_array("x", x).astype(self.gamma.dtype, copy=False)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, ...), got shape {x.shape}")
        out, self._cache = _norm.groupnorm_forward(x, self.gamma, self.beta, self.num_groups, {"eps": self.eps})
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = _norm.groupnorm_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("gamma", dgamma)
        self.accumulate_grad("beta", dbeta)
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps:g}"


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels (no parameters).

    ``out_c = x_c / (k + alpha / size * sum_{c' near c} x_{c'}^2) ** beta`` (as torch).
    Shape: ``(N, C, ...) -> (N, C, ...)``.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = _positive_int("LocalResponseNorm", "size", size)
        check_positive("LocalResponseNorm: k", k)
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)
        self._cache = None

    def forward(self, x):
        p = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
        out, self._cache = _norm.local_response_norm_forward(x, p)
        return out

    def backward(self, dout):
        return _norm.local_response_norm_backward(dout, _need_cache(self, self._cache))

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}"


class Dropout(Module):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale by ``1/(1-p)``.

    Identity in ``eval()`` mode. ``p`` is the *drop* probability (torch's convention; CS231n's
    notebooks pass the keep probability ``1 - p``).

    Args:
        p: drop probability in ``[0, 1)``.
        rng, seed: ``np.random.Generator`` or int seed; each training forward draws a fresh mask
            from it, so a seeded Dropout gives the same sequence of masks every run.
    """

    def __init__(self, p: float = 0.5, rng=None, seed: int | None = None) -> None:
        super().__init__()
        check_range("Dropout: p (drop probability)", p, 0.0, 1.0)
        if rng is not None and seed is not None:
            raise ValueError("Dropout: pass either rng or seed, not both")
        self.p = float(p)
        self._rng = _init.as_rng(rng if rng is not None else seed)
        self._cache = None

    def forward(self, x):
        param = {"p": self.p, "mode": "train" if self.training else "test", "seed": self._rng}
        out, self._cache = _norm.dropout_forward(x, param)
        return out

    def backward(self, dout):
        return _norm.dropout_backward(dout, _need_cache(self, self._cache))

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
