"""Second-order steps for least-squares problems: Gauss-Newton and Levenberg(-Marquardt).

The loss is a sum of squared residuals, ``f(x) = 1/2 ||r(x)||^2`` with ``r: R^D -> R^M`` and
Jacobian ``J = dr/dx`` of shape (M, D). Then ``grad f = J^T r`` and the Hessian is
``J^T J + sum_i r_i Hess(r_i)``; Gauss-Newton drops the second term, which needs no second
derivatives and is exact when the residuals are small or linear. Every step solves a D x D
linear system (never an explicit inverse):

* Gauss-Newton:        ``(J^T J) delta = -J^T r``
* Levenberg:           ``(J^T J + lam I) delta = -J^T r``
* Levenberg-Marquardt: ``(J^T J + lam diag(J^T J)) delta = -J^T r``

A small ``lam`` gives the Gauss-Newton step; a large one a short step along the (for
Marquardt: curvature-scaled) negative gradient. :func:`levenberg_marquardt` adapts ``lam``
after every trial: a step that lowers ``f`` is taken and ``lam`` shrinks; otherwise it is
rejected and ``lam`` grows (a trust region in all but name). The factor 1/2 in ``f`` is a
convention: with ``f = ||r||^2`` both sides of each system double and the step is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["gauss_newton_step", "levenberg_marquardt_step", "levenberg_marquardt"]


def _check(J, r) -> tuple[np.ndarray, np.ndarray]:
    J = np.asarray(J, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    if J.ndim != 2 or r.ndim != 1 or J.shape[0] != r.shape[0]:
        raise ValueError(f"expected J of shape (M, D) and r of shape (M,), got J {J.shape} and r {r.shape}")
    return J, r


def gauss_newton_step(J, r) -> np.ndarray:
    """The Gauss-Newton step ``delta`` (x_next = x + delta).

    Args:
        J: (M, D) Jacobian of the residuals at x.
        r: (M,) residuals at x.

    Returns:
        delta: (D,), the solution of ``(J^T J) delta = -J^T r``.

    Example:
        >>> gauss_newton_step(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 4.0]))
        array([-1., -2.])
    """
    J, r = _check(J, r)
    return np.linalg.solve(J.T @ J, -J.T @ r)


def levenberg_marquardt_step(J, r, lam: float, marquardt: bool = True) -> np.ndarray:
    """A damped Gauss-Newton step.

    Args:
        J: (M, D) Jacobian of the residuals at x.
        r: (M,) residuals at x.
        lam: damping, >= 0 (0 gives the Gauss-Newton step).
        marquardt: damp with ``diag(J^T J)`` (Levenberg-Marquardt) instead of the identity
            (Levenberg).

    Returns:
        delta: (D,), the solution of ``(J^T J + lam D) delta = -J^T r``.
    """
    J, r = _check(J, r)
    if not np.isscalar(lam) or not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a non-negative number, got {lam!r}")
    A = J.T @ J
    damping = np.diag(np.diag(A)) if marquardt else np.eye(A.shape[0])
    return np.linalg.solve(A + lam * damping, -J.T @ r)


def levenberg_marquardt(residual: Callable, jacobian: Callable, x0, lam: float = 1e-2, steps: int = 50,
                        factor: float = 10.0, marquardt: bool = True) -> tuple[np.ndarray, list[float]]:
    """Minimise ``1/2 ||residual(x)||^2`` with adaptive damping.

    Each of the ``steps`` trials computes a step with the current ``lam``; if the loss at
    ``x + delta`` is strictly lower, the step is taken and ``lam /= factor``, otherwise ``x``
    stays and ``lam *= factor``.

    Args:
        residual: ``r = residual(x)``, (M,).
        jacobian: ``J = jacobian(x)``, (M, D).
        x0: (D,) start.
        lam: initial damping (> 0).
        steps: number of trials.
        factor: how much ``lam`` shrinks or grows (> 1).
        marquardt: as in :func:`levenberg_marquardt_step`.

    Returns:
        ``(x, losses)``: the final point and the loss ``1/2 ||r||^2`` at the start and after
        every trial (``steps + 1`` numbers; a rejected trial repeats the previous loss).
    """
    if not factor > 1:
        raise ValueError(f"factor must be > 1, got {factor!r}")
    x = np.array(x0, dtype=np.float64, copy=True)
    r = np.asarray(residual(x), dtype=np.float64)
    loss = 0.5 * float(r @ r)
    losses = [loss]
    for _ in range(int(steps)):
        delta = levenberg_marquardt_step(jacobian(x), r, lam, marquardt)
        r_new = np.asarray(residual(x + delta), dtype=np.float64)
        new_loss = 0.5 * float(r_new @ r_new)
        if new_loss < loss:
            x, r, loss = x + delta, r_new, new_loss
            lam /= factor
        else:
            lam *= factor
        losses.append(loss)
    return x, losses
