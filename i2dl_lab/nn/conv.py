"""Module classes for convolutional networks: Conv2d, pooling, global pooling and Flatten.

Thin stateful wrappers over :mod:`i2dl_lab.nn.functional.conv` (the maths lives there).
Inputs are channels-first ``(N, C, H, W)`` as in torch.

Example:
    >>> import numpy as np
    >>> from i2dl_lab.nn import Sequential, ReLU, Linear
    >>> model = Sequential(Conv2d(1, 4, 3, padding=1, seed=0), ReLU(), MaxPool2d(2), Flatten(),
    ...                    Linear(4 * 4 * 4, 10, seed=1))
    >>> model(np.zeros((2, 1, 8, 8))).shape
    (2, 10)
"""

from __future__ import annotations

import numpy as np

from . import init as _init
from ._checks import as_float_array
from .functional import conv as _conv
from .module import Module

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten"]


def _pair(name: str, value) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; anything else is a ValueError."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        a, b = value
    else:
        a = b = value
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(a), int(b)


def _need_cache(module: Module, cache):
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return cache


class Conv2d(Module):
    """2-D convolution (cross-correlation) layer with zero padding and stride.

    Args:
        in_channels: C, channels of the input.
        out_channels: F, number of filters.
        kernel_size: HH = WW (int) or ``(HH, WW)``.
        stride: step between receptive fields (int).
        padding: zeros added on each side of H and W (int). ``padding = (k - 1) // 2`` with
            stride 1 keeps the spatial size ("same" padding for odd k).
        bias: learn one bias per filter (initialised to zero).
        init: initialiser from :mod:`i2dl_lab.nn.init` (default Kaiming uniform with
            ``fan_in = C*HH*WW``) or a callable ``f(shape, rng=...)``.
        weight_scale: if given, ``W ~ weight_scale * N(0, 1)`` instead (CS231n convention).
        rng, seed: ``np.random.Generator`` or int seed (synonyms).
        dtype: parameter dtype; inputs are cast to it.

    Parameters:
        ``W``: ``(F, C, HH, WW)``, ``b``: ``(F,)``.

    Shape:
        ``(N, C, H, W) -> (N, F, Ho, Wo)``, ``Ho = (H + 2*padding - HH) / stride + 1``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding: int = 0,
                 bias: bool = True, init="kaiming_uniform", weight_scale: float | None = None, rng=None,
                 seed: int | None = None, dtype=np.float64) -> None:
        super().__init__()
        for name, v, low in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                             ("stride", stride, 1), ("padding", padding, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"Conv2d: {name} must be an int >= {low}, got {v!r}")
        if rng is not None and seed is not None:
            raise ValueError("Conv2d: pass either rng or seed, not both")
        kh, kw = _pair("Conv2d: kernel_size", kernel_size)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.use_bias = (kh, kw), int(stride), int(padding), bool(bias)
        gen = _init.as_rng(rng if rng is not None else seed)
        shape = (self.out_channels, self.in_channels, kh, kw)
        if weight_scale is not None:
            W = _init.small_normal(shape, std=weight_scale, rng=gen, dtype=dtype)
        else:
            W = np.asarray(_init.get_initializer(init)(shape, rng=gen)).astype(dtype)
        self.add_param("W", W)
        if self.use_bias:
            self.add_param("b", np.zeros(self.out_channels, dtype=dtype))
        self._cache = None

    @property
    def conv_param(self) -> dict:
        return {"stride": self.stride, "pad": self.padding}

    def forward(self, x):
        x = as_float_array("x", x).astype(self.W.dtype, copy=False)
        b = self.b if self.use_bias else np.zeros(self.out_channels, dtype=self.W.dtype)
        out, self._cache = _conv.conv_forward(x, self.W, b, self.conv_param)
        return out

    def backward(self, dout):
        dx, dW, db = _conv.conv_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("W", dW)
        if self.use_bias:
            self.accumulate_grad("b", db)
        return dx

    def extra_repr(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={k}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.use_bias}")


class _Pool2d(Module):
    _fwd = staticmethod(_conv.max_pool_forward)
    _bwd = staticmethod(_conv.max_pool_backward)

    def __init__(self, kernel_size=2, stride=None) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair(f"{name}: kernel_size", kernel_size)
        if stride is None:
            if self.kernel_size[0] != self.kernel_size[1]:
                raise ValueError(f"{name}: give a stride for a non-square window {self.kernel_size}")
            stride = self.kernel_size[0]
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ValueError(f"{name}: stride must be a positive int, got {stride!r}")
        self.stride = int(stride)
        self._cache = None

    @property
    def pool_param(self) -> dict:
        return {"pool_height": self.kernel_size[0], "pool_width": self.kernel_size[1], "stride": self.stride}

    def forward(self, x):
        out, self._cache = self._fwd(x, self.pool_param)
        return out

    def backward(self, dout):
        return self._bwd(dout, _need_cache(self, self._cache))

    def extra_repr(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"kernel_size={k}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max pooling over ``kernel_size`` windows every ``stride`` pixels (default: the window).

    No parameters. Windows that do not fit at the bottom/right edge are dropped (torch's
    ``ceil_mode=False``). Shape: ``(N, C, H, W) -> (N, C, floor((H - kh) / stride) + 1, ...)``.
    """

    _fwd = staticmethod(_conv.max_pool_forward)
    _bwd = staticmethod(_conv.max_pool_backward)


class AvgPool2d(_Pool2d):
    """Average pooling; windows and shapes as :class:`MaxPool2d`."""

    _fwd = staticmethod(_conv.avg_pool_forward)
    _bwd = staticmethod(_conv.avg_pool_backward)


class GlobalAvgPool2d(Module):
    """Average each channel over all positions: ``(N, C, H, W) -> (N, C)`` (no parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def forward(self, x):
        out, self._cache = _conv.global_avg_pool_forward(x)
        return out

    def backward(self, dout):
        return _conv.global_avg_pool_backward(dout, _need_cache(self, self._cache))


class Flatten(Module):
    """Flatten everything but the batch axis: ``(N, C, H, W) -> (N, C*H*W)`` (no parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def forward(self, x):
        out, self._cache = _conv.flatten_forward(x)
        return out

    def backward(self, dout):
        return _conv.flatten_backward(dout, _need_cache(self, self._cache))
