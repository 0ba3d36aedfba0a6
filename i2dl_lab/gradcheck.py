"""Numerical gradients by centred differences, and checks of analytic backward passes.

The idea (lecture: "gradient checking"): for a scalar function ``f``,

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2 h)

with error O(h^2). Compare it with the analytic gradient through the relative error
``|a - n| / max(1e-8, |a| + |n|)``: in float64 with ``h = 1e-5`` a correct backward pass
gives about 1e-9 or less at smooth points; 1e-7 is the usual pass mark.

Checking a layer (any ``*_forward`` / ``*_backward`` pair of :mod:`i2dl_lab.nn.functional`)::

    >>> import numpy as np
    >>> from i2dl_lab.nn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    >>> report = check_layer(F.affine_forward, F.affine_backward, x, w, b)
    >>> sorted(report)
    ['db', 'dw', 'dx']
    >>> report.assert_ok()

The numerical gradients here cost two forward passes per input element: use small inputs.

Why :func:`check_layer` and :func:`check_module` use :func:`gradient_error` rather than the
bare :func:`rel_error`: a centred difference carries rounding noise of about
``eps * |f| / h`` (roughly 1e-11 |f| in float64). An entry of a weight gradient that is a
thousand times smaller than the largest entry (a sum over the batch that nearly cancels)
sits at that noise floor, and its bare relative error says more about the seed than about
the backward pass. Those entries are therefore measured against a thousandth of the
gradient's largest magnitude; every other entry keeps the plain relative error.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np

__all__ = [
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "rel_error",
    "gradient_error",
    "GradReport",
    "check_layer",
    "check_module",
]


def _check_perturbable(x) -> None:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a float ndarray (it is perturbed in place), got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    if x.dtype != np.float64:
        # float32 carries ~7 digits: a 1e-5 step leaves ~2 digits in f(x+h) - f(x-h)
        warnings.warn(f"numerical gradient of a {x.dtype} array: expect relative errors near 1e-2; "
                      "use x.astype(np.float64) (and float64 everywhere f computes) for a 1e-7 check",
                      stacklevel=3)


def eval_numerical_gradient(f, x: np.ndarray, h: float = 1e-5, verbose: bool = False) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    ``x`` is perturbed *in place*, one element at a time, and restored afterwards, so ``f``
    may read ``x`` from a closure.

    Args:
        f: callable ``f(x) -> float``.
        x: float array, any shape; float64 (other float dtypes work but warn: too few digits).
        h: step size.
        verbose: print each element's numerical derivative.

    Returns:
        grad: array shaped like ``x``.

    Example:
        >>> g = eval_numerical_gradient(lambda v: float(np.sum(v ** 2)), np.array([1.0, -2.0]))
        >>> np.round(g, 6)
        array([ 2., -4.])
    """
    _check_perturbable(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = float(f(x))
        x[i] = old - h
        fm = float(f(x))
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
        if verbose:
            print(i, grad[i])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x: np.ndarray, df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numerical gradient of ``sum(f(x) * df)`` w.r.t. ``x``, for array-valued ``f``.

    This is what a backward pass computes when ``df`` is the upstream gradient.

    Args:
        f: callable ``f(x) -> array`` (shape of ``df``).
        x: float array, perturbed in place and restored.
        df: upstream gradient, shape of ``f(x)``.
        h: step size.

    Returns:
        grad: array shaped like ``x``.
    """
    _check_perturbable(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.array(f(x), copy=True)
        x[i] = old - h
        neg = np.array(f(x), copy=True)
        x[i] = old
        grad[i] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x, y) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Example:
        >>> round(rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 2e-6])), 9)
        5e-07
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, got {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def gradient_error(analytic, numerical, scale_floor: float = 1e-3) -> float:
    """Relative error of a gradient, with tiny entries compared at the gradient's scale.

    ``max |a - n| / max(1e-8, |a| + |n|, scale_floor * max(|a|, |n|))`` over the entries:
    the same as :func:`rel_error` for every entry within a factor ``1 / scale_floor`` of
    the largest one (see the module docstring for why smaller ones are floored).

    Example:
        >>> a = np.array([1.0, 1e-6])
        >>> rel_error(a, a + [0.0, 1e-12]) > 1e-7, gradient_error(a, a + [0.0, 1e-12]) < 1e-7
        (True, True)
    """
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient_error: shapes differ, got {a.shape} and {n.shape}")
    if a.size == 0:
        return 0.0
    floor = max(1e-8, scale_floor * float(max(np.abs(a).max(), np.abs(n).max())))
    return float(np.max(np.abs(a - n) / np.maximum(floor, np.abs(a) + np.abs(n))))


class GradReport(dict):
    """``{gradient name: relative error}`` with a pass/fail helper.

    Attributes:
        max_error: the largest relative error (0.0 when empty).
        worst: the name with the largest error (``None`` when empty).
    """

    @property
    def max_error(self) -> float:
        return max(self.values(), default=0.0)

    @property
    def worst(self):
        return max(self, key=self.get) if self else None

    def assert_ok(self, tol: float = 1e-7) -> None:
        """Raise ``AssertionError`` naming the worst gradient when any error exceeds ``tol``."""
        bad = {k: v for k, v in self.items() if not v <= tol}  # `not <=` also catches NaN
        if bad:
            worst = max(bad, key=lambda k: (np.nan_to_num(bad[k], nan=np.inf)))
            others = ", ".join(f"{k}={v:.2e}" for k, v in self.items())
            raise AssertionError(
                f"gradient check failed: {worst} has relative error {bad[worst]:.3e} > tol {tol:.0e} "
                f"(all: {others})"
            )

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v:.2e}" for k, v in self.items())
        return f"GradReport({{{body}}}, max_error={self.max_error:.2e})"


def _input_names(forward, n: int) -> list[str]:
    """Names of the first ``n`` positional parameters of ``forward`` (``input0``... if unknown)."""
    try:
        params = list(inspect.signature(forward).parameters.values())[:n]
    except (TypeError, ValueError):
        params = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) < n or any(p.kind not in positional for p in params):
        return [f"input{i}" for i in range(n)]
    return [p.name for p in params]


def _split(result):
    """Return ``(outputs, cache)`` from a forward result ``(out, cache)`` or ``(out1, out2, ..., cache)``."""
    if not isinstance(result, tuple) or len(result) < 2:
        raise TypeError("forward must return (out, cache) or (out1, ..., outK, cache)")
    return list(result[:-1]), result[-1]


def check_layer(forward, backward, *inputs, param=None, seed: int = 0, h: float = 1e-5) -> GradReport:
    """Check a functional layer's backward pass against centred differences, for every float input.

    Calls ``forward(*inputs[, param])`` (``param`` is appended when given: ``conv_param``,
    ``bn_param``...). Forwards returning several outputs before the cache (``next_h, next_c,
    cache``) are supported: each output gets its own random upstream gradient, and
    ``backward(dout1, ..., doutK, cache)`` is called. ``backward`` must return one gradient
    per floating-point array input, in order (integer arrays such as word indices are
    treated as constants and skipped).

    Inputs are copied to float64; ``param`` is deep-copied for every call so stateful
    dicts (running means) cannot drift between evaluations.

    Args:
        forward, backward: the functional pair.
        *inputs: the forward's positional inputs.
        param: optional trailing parameter dict.
        seed: seed of the random upstream gradient.
        h: finite-difference step.

    Returns:
        :class:`GradReport` ``{"d<name>": rel_error}`` with names from ``forward``'s signature.
    """
    args = [np.array(a, dtype=np.float64) if _is_float_array(a) else a for a in inputs]
    diff_idx = [i for i, a in enumerate(args) if _is_float_array(a)]
    if not diff_idx:
        raise ValueError("check_layer needs at least one floating-point array input")

    def run():
        extra = () if param is None else (copy.deepcopy(param),)
        return forward(*args, *extra)

    outs, cache = _split(run())
    rng = np.random.default_rng(seed)
    douts = [rng.standard_normal(np.shape(o)) for o in outs]
    grads = backward(*douts, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(diff_idx):
        raise ValueError(
            f"backward returned {len(grads)} gradients but forward has {len(diff_idx)} float array inputs"
        )

    def objective(_):
        o, _c = _split(run())
        return sum(float(np.sum(np.asarray(oi, dtype=np.float64) * d)) for oi, d in zip(o, douts, strict=True))

    names = _input_names(forward, len(args))
    report = GradReport()
    for i, g in zip(diff_idx, grads, strict=True):
        num = eval_numerical_gradient(objective, args[i], h=h)
        if np.shape(g) != num.shape:
            raise ValueError(f"gradient d{names[i]} has shape {np.shape(g)}, but {names[i]} has shape {num.shape}")
        report[f"d{names[i]}"] = gradient_error(g, num)
    return report


def _is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


def check_module(module, x, seed: int = 0, h: float = 1e-5) -> GradReport:
    """Check a Module's ``backward`` (input gradient and every parameter gradient) numerically.

    Works on containers (``Sequential``): parameters are named by their dotted keys. The
    module's parameters, gradients and buffers (batch-norm running statistics, which every
    training-mode forward pass updates) are restored afterwards. Use float64 parameters and
    put stochastic layers (dropout) in ``eval()`` mode, or the check will fail.

    Args:
        module: a :class:`i2dl_lab.nn.Module`.
        x: input batch.
        seed: seed of the random upstream gradient.

    Returns:
        :class:`GradReport` ``{"dx": err, "<param name>": err, ...}``.
    """
    params = module.params
    for k, p in params.items():
        if p.dtype != np.float64:
            raise ValueError(f"check_module needs float64 parameters for a 1e-7 check; {k!r} has dtype {p.dtype}")
    x = np.array(x, dtype=np.float64)
    saved_params = {k: p.copy() for k, p in params.items()}
    saved_grads = {k: g.copy() for k, g in module.grads.items()}
    buffers = getattr(module, "buffers", {})
    saved_buffers = {k: np.copy(b) for k, b in buffers.items()}
    try:
        out = module.forward(x)
        dout = np.random.default_rng(seed).standard_normal(np.shape(out))
        module.zero_grad()
        dx = module.backward(dout)
        analytic = {k: g.copy() for k, g in module.grads.items()}

        def objective(_):
            return float(np.sum(module.forward(x) * dout))

        report = GradReport()
        report["dx"] = gradient_error(dx, eval_numerical_gradient(objective, x, h=h))
        for k, p in params.items():
            report[k] = gradient_error(analytic[k], eval_numerical_gradient(objective, p, h=h))
        return report
    finally:
        for k, p in params.items():
            p[...] = saved_params[k]
        for k, g in module.grads.items():
            g[...] = saved_grads[k]
        for k, b in buffers.items():
            b[...] = saved_buffers[k]
