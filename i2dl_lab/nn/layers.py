"""Module classes for dense layers, activations, containers and losses.

Each class holds state (parameters, gradients, the forward cache) and delegates the maths
to :mod:`i2dl_lab.nn.functional` (layers) and :mod:`i2dl_lab.nn.losses` (losses). See
:mod:`i2dl_lab.nn.module` for the shared contract: ``forward(x) -> out``,
``backward(dout) -> dx`` that *accumulates* into ``grads``, ``zero_grad()``, ``train()``,
``eval()``, ``state_dict()``.

Example:
    >>> import numpy as np
    >>> from i2dl_lab.nn.layers import Linear, ReLU, Sequential, CrossEntropyLoss
    >>> model = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 3, seed=1))
    >>> x, y = np.ones((2, 4)), np.array([0, 2])
    >>> loss, dscores = CrossEntropyLoss()(model(x), y)
    >>> model.zero_grad(); dx = model.backward(dscores)
    >>> sorted(model.grads)
    ['0.W', '0.b', '2.W', '2.b']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from . import init as _init
from . import losses as _losses
from ._checks import as_float_array, check_positive
from .functional import core as _core
from .module import Module

__all__ = [
    "Linear",
    "Affine",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "ELU",
    "Softplus",
    "Hardtanh",
    "PReLU",
    "Maxout",
    "Identity",
    "Sequential",
    "MSELoss",
    "L1Loss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "SVMLoss",
    "MultiMarginLoss",
]


def _positive_int(cls: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{cls}: {name} must be a positive int, got {value!r}")
    return int(value)


def _generator(cls: str, rng, seed) -> np.random.Generator:
    if rng is not None and seed is not None:
        raise ValueError(f"{cls}: pass either rng or seed, not both")
    return _init.as_rng(rng if rng is not None else seed)


def _need_cache(module: Module, cache):
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return cache


def _make_weight(shape, init, weight_scale, rng, dtype) -> np.ndarray:
    if weight_scale is not None:
        return _init.small_normal(shape, std=weight_scale, rng=rng, dtype=dtype)
    w = np.asarray(_init.get_initializer(init)(shape, rng=rng))
    if w.shape != tuple(shape):
        raise ValueError(f"initialiser {init!r} returned shape {w.shape}, expected {tuple(shape)}")
    return w.astype(dtype)


# ----------------------------------------------------------------------------- dense
class Linear(Module):
    """Fully connected layer ``out = x @ W + b`` (alias :data:`Affine`).

    Args:
        in_features: D, features per sample (inputs of shape (N, d1, ..., dk) are flattened
            to (N, D), as CS231n's affine layer does).
        out_features: M.
        bias: learn a bias ``b`` of shape (M,) (initialised to zero).
        init: initialiser name from :mod:`i2dl_lab.nn.init` (default He/Kaiming uniform,
            suited to ReLU networks) or a callable ``f(shape, rng=...)``.
        weight_scale: if given, ignore ``init`` and draw ``W ~ weight_scale * N(0, 1)``
            (the CS231n convention).
        rng, seed: a ``np.random.Generator`` or an int seed (``seed`` is a synonym).
        dtype: parameter dtype; inputs are cast to it.

    Parameters:
        ``W``: (D, M), ``b``: (M,).

    Shape:
        input (N, D) -> output (N, M).

    Example:
        >>> layer = Linear(3, 2, seed=0)
        >>> layer(np.ones((4, 3))).shape, layer.W.shape
        ((4, 2), (3, 2))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init="kaiming_uniform",
        weight_scale: float | None = None,
        rng=None,
        seed: int | None = None,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        gen = _generator("Linear", rng, seed)
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self.use_bias = bool(bias)
        self.add_param("W", _make_weight((self.in_features, self.out_features), init, weight_scale, gen, dtype))
        if self.use_bias:
            self.add_param("b", np.zeros(self.out_features, dtype=dtype))
        self._cache = None

    def forward(self, x):
        x = as_float_array("x", x)
        if x.ndim < 2:
            raise ValueError(f"Linear expects a batch of shape (N, {self.in_features}), got shape {x.shape}")
        D = int(np.prod(x.shape[1:]))
        if D != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}): expected {self.in_features} input features per sample, "
                f"got {D} (x of shape {x.shape})"
            )
        x = x.astype(self.W.dtype, copy=False)
        b = self.b if self.use_bias else np.zeros(self.out_features, dtype=self.W.dtype)
        out, self._cache = _core.affine_forward(x, self.W, b)
        return out

    def backward(self, dout):
        dx, dW, db = _core.affine_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("W", dW)
        if self.use_bias:
            self.accumulate_grad("b", db)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.use_bias}"


Affine = Linear


class Maxout(Module):
    """Maxout layer: ``out = max_k (x @ W[k] + b[k])`` over ``pieces`` affine maps.

    Args:
        in_features: D; out_features: M; pieces: k (2 gives ``max(w1.x + b1, w2.x + b2)``).
        init, weight_scale, rng, seed, dtype: as :class:`Linear` (each piece initialised as a (D, M) weight).

    Parameters:
        ``W``: (k, D, M), ``b``: (k, M).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int = 2,
        init="kaiming_uniform",
        weight_scale: float | None = None,
        rng=None,
        seed: int | None = None,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        gen = _generator("Maxout", rng, seed)
        self.in_features = _positive_int("Maxout", "in_features", in_features)
        self.out_features = _positive_int("Maxout", "out_features", out_features)
        self.pieces = _positive_int("Maxout", "pieces", pieces)
        shape = (self.in_features, self.out_features)
        self.add_param("W", np.stack([_make_weight(shape, init, weight_scale, gen, dtype) for _ in range(self.pieces)]))
        self.add_param("b", np.zeros((self.pieces, self.out_features), dtype=dtype))
        self._cache = None

    def forward(self, x):
        x = as_float_array("x", x)
        out, self._cache = _core.maxout_forward(x.astype(self.W.dtype, copy=False), self.W, self.b)
        return out

    def backward(self, dout):
        dx, dW, db = _core.maxout_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("W", dW)
        self.accumulate_grad("b", db)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


# ----------------------------------------------------------------------------- activations
class _Activation(Module):
    """An elementwise layer without parameters: subclasses set ``_fwd``, ``_bwd`` and ``_kwargs()``."""

    _fwd = staticmethod(_core.relu_forward)
    _bwd = staticmethod(_core.relu_backward)

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def _kwargs(self) -> dict:
        return {}

    def forward(self, x):
        out, self._cache = type(self)._fwd(x, **self._kwargs())
        return out

    def backward(self, dout):
        return type(self)._bwd(dout, _need_cache(self, self._cache))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._kwargs().items())


class ReLU(_Activation):
    """``max(0, x)`` elementwise. Shape: any -> same."""

    _fwd = staticmethod(_core.relu_forward)
    _bwd = staticmethod(_core.relu_backward)


class LeakyReLU(_Activation):
    """``x`` if ``x > 0`` else ``negative_slope * x``. Shape: any -> same."""

    _fwd = staticmethod(_core.leaky_relu_forward)
    _bwd = staticmethod(_core.leaky_relu_backward)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _kwargs(self) -> dict:
        return {"negative_slope": self.negative_slope}


class Sigmoid(_Activation):
    """Logistic sigmoid, stable for large inputs. Shape: any -> same."""

    _fwd = staticmethod(_core.sigmoid_forward)
    _bwd = staticmethod(_core.sigmoid_backward)


class Tanh(_Activation):
    """Hyperbolic tangent. Shape: any -> same."""

    _fwd = staticmethod(_core.tanh_forward)
    _bwd = staticmethod(_core.tanh_backward)


class ELU(_Activation):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``. Shape: any -> same."""

    _fwd = staticmethod(_core.elu_forward)
    _bwd = staticmethod(_core.elu_backward)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def _kwargs(self) -> dict:
        return {"alpha": self.alpha}


class Softplus(_Activation):
    """``log(1 + exp(beta x)) / beta``; identity where ``beta x > threshold`` (as torch)."""

    _fwd = staticmethod(_core.softplus_forward)
    _bwd = staticmethod(_core.softplus_backward)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        check_positive("beta", beta)
        self.beta, self.threshold = float(beta), float(threshold)

    def _kwargs(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold}


class Hardtanh(_Activation):
    """``x`` clipped to ``[min_val, max_val]``. Shape: any -> same."""

    _fwd = staticmethod(_core.hard_tanh_forward)
    _bwd = staticmethod(_core.hard_tanh_backward)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        if not min_val < max_val:
            raise ValueError(f"Hardtanh: min_val must be below max_val, got min_val={min_val}, max_val={max_val}")
        self.min_val, self.max_val = float(min_val), float(max_val)

    def _kwargs(self) -> dict:
        return {"min_val": self.min_val, "max_val": self.max_val}


class Identity(_Activation):
    """Passes its input through unchanged (a placeholder layer)."""

    _fwd = staticmethod(lambda x: (x, True))
    _bwd = staticmethod(lambda dout, cache: dout)


class PReLU(Module):
    """Leaky ReLU with a learned negative slope.

    Args:
        num_parameters: 1 (one shared slope) or C (one per channel, axis 1 of the input).
        init: initial slope (torch default 0.25).
        dtype: parameter dtype.

    Parameters:
        ``alpha``: (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=np.float64) -> None:
        super().__init__()
        self.num_parameters, self.init = _positive_int("PReLU", "num_parameters", num_parameters), float(init)
        self.add_param("alpha", np.full(self.num_parameters, init, dtype=dtype))
        self._cache = None

    def forward(self, x):
        out, self._cache = _core.prelu_forward(x, self.alpha)
        return out

    def backward(self, dout):
        dx, dalpha = _core.prelu_backward(dout, _need_cache(self, self._cache))
        self.accumulate_grad("alpha", dalpha)
        return dx

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, init={self.init}"


# ----------------------------------------------------------------------------- container
class Sequential(Module):
    """Run modules one after another; ``backward`` runs them in reverse order.

    Children are named ``"0"``, ``"1"``, ... so parameters appear as ``"0.W"``, ``"2.b"``.
    Supports ``len``, iteration, integer indexing, slicing (a new Sequential sharing the
    same modules) and :meth:`append`. Sequentials nest: keys then read ``"0.1.running_mean"``.

    Example:
        >>> model = Sequential(Linear(2, 3, seed=0), Tanh(), Sequential(Linear(3, 1, seed=1)))
        >>> list(model.params)
        ['0.W', '0.b', '2.0.W', '2.0.b']
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> Sequential:
        if isinstance(module, type) and issubclass(module, Module):
            raise TypeError(f"Sequential takes Module instances, got the class {module.__name__}; "
                            f"did you mean {module.__name__}()?")
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Module instances, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"Sequential indices must be int or slice, got {type(idx).__name__}")
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} out of range for Sequential of length {len(mods)}")
        return mods[idx]

    def forward(self, x):
        for m in self._modules.values():
            x = m.forward(x)
        return x

    def backward(self, dout):
        for m in reversed(list(self._modules.values())):
            dout = m.backward(dout)
        return dout


# ----------------------------------------------------------------------------- losses
class _Loss(Module):
    """``loss, dscores = loss_fn(scores, target)``; ``backward(dloss=1.0)`` returns the cached ``dscores``."""

    _fn = staticmethod(_losses.softmax_loss)

    def __init__(self) -> None:
        super().__init__()
        self._dx = None

    def forward(self, scores, target):
        loss, self._dx = type(self)._fn(scores, target)
        return loss, self._dx

    def backward(self, dout: float = 1.0):
        return dout * _need_cache(self, self._dx)


class MSELoss(_Loss):
    """Mean squared error over all elements (:func:`i2dl_lab.nn.losses.mse_loss`)."""

    _fn = staticmethod(_losses.mse_loss)


class L1Loss(_Loss):
    """Mean absolute error over all elements (:func:`i2dl_lab.nn.losses.l1_loss`)."""

    _fn = staticmethod(_losses.l1_loss)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from logits, mean (:func:`i2dl_lab.nn.losses.bce_loss`)."""

    _fn = staticmethod(_losses.bce_loss)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy over (N, C) scores and (N,) labels (:func:`i2dl_lab.nn.losses.softmax_loss`)."""

    _fn = staticmethod(_losses.softmax_loss)


class SVMLoss(_Loss):
    """Multiclass hinge loss (:func:`i2dl_lab.nn.losses.svm_loss`), alias ``MultiMarginLoss``.

    Note: torch's ``MultiMarginLoss`` additionally divides by the number of classes C;
    this one sums over the wrong classes as the lecture's SVM loss does.
    """

    _fn = staticmethod(_losses.svm_loss)


MultiMarginLoss = SVMLoss
