"""Weight initialisers (the formulas of ``torch.nn.init``, in this library's weight layout).

Layout matters for fan-in/fan-out:

* dense weights are ``(D, M)`` = (in_features, out_features), as in CS231n:
  ``fan_in = D``, ``fan_out = M`` (torch stores the transpose, ``(M, D)``);
* conv weights are ``(F, C, kh, kw)`` (as torch): ``fan_in = C*kh*kw``, ``fan_out = F*kh*kw``;
  any weight with more than two axes is read as ``(out, in, *kernel)``.

Every random initialiser takes ``rng``: a ``np.random.Generator``, an int seed, or ``None``
(fresh entropy), and a ``dtype`` (float64 by default).

==================  =====================================  ========================================
function            distribution                           scale
==================  =====================================  ========================================
``small_normal``    N(0, std^2)                            ``std=0.01`` (CS231n ``weight_scale``)
``xavier_normal``   N(0, s^2)                              s = gain * sqrt(2 / (fan_in + fan_out))
``xavier_uniform``  U(-a, a)                               a = gain * sqrt(6 / (fan_in + fan_out))
``kaiming_normal``  N(0, s^2)                              s = gain / sqrt(fan)
``kaiming_uniform`` U(-a, a)                               a = gain * sqrt(3 / fan)
==================  =====================================  ========================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_rng",
    "calculate_fan",
    "calculate_gain",
    "zeros",
    "ones",
    "small_normal",
    "xavier_normal",
    "xavier_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "get_initializer",
]


def as_rng(rng=None) -> np.random.Generator:
    """Return a ``np.random.Generator`` from a Generator, an int seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, got {type(rng).__name__}")


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from exc
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not contain negative sizes, got {shape}")
    return shape


def calculate_fan(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a weight of this shape.

    Args:
        shape: ``(D, M)`` for a dense weight, ``(F, C, kh, kw)`` (or ``(F, C, k)``) for a conv.

    Example:
        >>> calculate_fan((784, 100))
        (784, 100)
        >>> calculate_fan((16, 3, 5, 5))
        (75, 400)
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dimensions, got shape {shape}")
    if len(shape) == 2:
        D, M = shape  # dense (in_features, out_features)
        return D, M
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str = "relu", param: float | None = None) -> float:
    """Recommended gain for a nonlinearity (the values of ``torch.nn.init.calculate_gain``).

    ``linear``/``sigmoid``/``conv*``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + slope^2)) with ``param`` the slope (default 0.01);
    ``selu``: 3/4.

    Example:
        >>> round(calculate_gain("relu"), 4)
        1.4142
    """
    linear = {"linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"leaky_relu gain needs a numeric negative slope, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 0.75
    known = sorted(linear | {"tanh", "relu", "leaky_relu", "selu"})
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {known}")


def zeros(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """All zeros (biases). ``rng`` is accepted and ignored, so every initialiser shares one signature."""
    return np.zeros(_shape(shape), dtype=dtype)


def ones(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """All ones (batch-norm scale). ``rng`` is accepted and ignored, as in :func:`zeros`."""
    return np.ones(_shape(shape), dtype=dtype)


def small_normal(shape, std: float = 0.01, rng=None, dtype=np.float64) -> np.ndarray:
    """Normal with mean 0 and a small fixed ``std`` (CS231n's ``weight_scale * randn``).

    Example:
        >>> small_normal((3, 2), std=0.01, rng=0).shape
        (3, 2)
    """
    if not std >= 0:
        raise ValueError(f"std must be non-negative, got {std!r}")
    return (std * as_rng(rng).standard_normal(_shape(shape))).astype(dtype)


def xavier_normal(shape, gain: float = 1.0, rng=None, dtype=np.float64) -> np.ndarray:
    """Glorot/Xavier normal: std = ``gain * sqrt(2 / (fan_in + fan_out))`` (for tanh/sigmoid nets).

    Args:
        shape: weight shape, ``(D, M)`` dense or ``(F, C, kh, kw)`` conv (see the module docstring).
        gain: scale factor, e.g. ``calculate_gain("tanh")``.
        rng: Generator, int seed or ``None``.
        dtype: float dtype of the result.

    Returns:
        Array of ``shape``.

    Example:
        >>> w = xavier_normal((300, 200), rng=0)
        >>> bool(abs(w.std() - np.sqrt(2 / 500)) < 0.002)
        True
    """
    fan_in, fan_out = calculate_fan(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (std * as_rng(rng).standard_normal(_shape(shape))).astype(dtype)


def xavier_uniform(shape, gain: float = 1.0, rng=None, dtype=np.float64) -> np.ndarray:
    """Glorot/Xavier uniform on ``[-a, a]`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Args and Returns as :func:`xavier_normal`; the variance is the same.

    Example:
        >>> bool(np.abs(xavier_uniform((30, 20), rng=0)).max() <= np.sqrt(6 / 50))
        True
    """
    fan_in, fan_out = calculate_fan(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return as_rng(rng).uniform(-bound, bound, size=_shape(shape)).astype(dtype)


def _kaiming_std(shape, a, mode, nonlinearity) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"cannot initialise a weight with zero {mode}: shape {tuple(shape)}")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_normal(
    shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu", rng=None, dtype=np.float64
) -> np.ndarray:
    """He/Kaiming normal: std = ``gain / sqrt(fan)`` (keeps activation variance through ReLUs).

    Args:
        shape: weight shape (see the module docstring for the layout).
        a: negative slope, used only with ``nonlinearity='leaky_relu'``.
        mode: ``'fan_in'`` preserves forward variance, ``'fan_out'`` backward variance.
        nonlinearity: name passed to :func:`calculate_gain`.
        rng: Generator, int seed or ``None``.
        dtype: float dtype of the result.

    Returns:
        Array of ``shape``.

    Example:
        >>> w = kaiming_normal((400, 100), rng=0)   # fan_in = 400
        >>> bool(abs(w.std() - np.sqrt(2 / 400)) < 0.002)
        True
    """
    std = _kaiming_std(shape, a, mode, nonlinearity)
    return (std * as_rng(rng).standard_normal(_shape(shape))).astype(dtype)


def kaiming_uniform(
    shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu", rng=None, dtype=np.float64
) -> np.ndarray:
    """He/Kaiming uniform on ``[-b, b]`` with ``b = gain * sqrt(3 / fan)`` (same variance as the normal).

    Example:
        >>> w = kaiming_uniform((100, 10), rng=0)
        >>> bool(np.abs(w).max() <= np.sqrt(6 / 100))
        True
    """
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return as_rng(rng).uniform(-bound, bound, size=_shape(shape)).astype(dtype)


_BY_NAME = {
    "zeros": zeros,
    "ones": ones,
    "small_normal": small_normal,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
    # the same initialisers under the names other libraries use (Glorot = Xavier, He = Kaiming)
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "he_normal": kaiming_normal,
    "he_uniform": kaiming_uniform,
}


def get_initializer(init):
    """Look up an initialiser by name, or pass a callable ``f(shape, rng=..., dtype=...)`` through.

    Names: ``zeros``, ``ones``, ``small_normal``, ``xavier_normal``/``glorot_normal``,
    ``xavier_uniform``/``glorot_uniform``, ``kaiming_normal``/``he_normal``,
    ``kaiming_uniform``/``he_uniform``.

    Example:
        >>> get_initializer("he_normal") is kaiming_normal
        True
    """
    if callable(init):
        return init
    if isinstance(init, str) and init in _BY_NAME:
        return _BY_NAME[init]
    raise ValueError(f"unknown initialiser {init!r}; expected a callable or one of {sorted(_BY_NAME)}")
