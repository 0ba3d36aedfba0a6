"""Input validation shared by the functional layers, Modules, losses and optimizers.

Every helper raises ``ValueError`` or ``TypeError`` with a message that names the argument,
what was expected and what came, so that a student's first mistake reads like a hint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_float_array(name: str, x) -> np.ndarray:
    """Return ``x`` as a floating ndarray, or raise TypeError naming its dtype."""
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
                return x.astype(np.float64)
            raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
        return x
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {type(x).__name__}") from exc
    return arr


def check_ndim(name: str, x: np.ndarray, ndim: int | Sequence[int], what: str = "") -> None:
    """Raise ValueError unless ``x.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        hint = f" {what}" if what else ""
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions{hint}, got shape {tuple(x.shape)}")


def check_shape(name: str, x: np.ndarray, expected: Sequence[int | None], what: str = "") -> None:
    """Raise ValueError unless ``x.shape`` matches ``expected`` (``None`` matches any size).

    >>> check_shape("w", np.zeros((3, 4)), (3, None))
    """
    shape = tuple(x.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    if not ok:
        dims = ", ".join("*" if e is None else str(e) for e in expected)
        want = f"({dims},)" if len(expected) == 1 else f"({dims})"
        hint = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape {want}{hint}, got {shape}")


def check_labels(name: str, y, n: int, num_classes: int) -> np.ndarray:
    """Validate integer class labels: shape (n,), values in [0, num_classes)."""
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.integer) or (y.dtype == np.bool_)):
        if np.issubdtype(y.dtype, np.floating) and y.size and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    check_shape(name, y, (n,), "(one label per row of the scores)")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}) for {num_classes} classes, "
            f"got values in [{y.min()}, {y.max()}]"
        )
    return y.astype(np.int64, copy=False)


def check_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value > 0`` (learning rates, epsilons, sizes)."""
    if not np.isscalar(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_range(name: str, value: float, low: float, high: float, *, high_inclusive: bool = False) -> None:
    """Raise ValueError unless ``low <= value < high`` (or ``<= high``)."""
    ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an ``int``, or raise ValueError unless it is an integer >= ``minimum``.

    Booleans are refused (``True`` is not a batch size).

    >>> check_int("epochs", 3)
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
