"""Gauss-Newton and Levenberg-Marquardt against closed forms and scipy's MINPACK implementation."""

import numpy as np
import pytest
from scipy.optimize import least_squares as scipy_least_squares

from i2dl_lab.least_squares import gauss_newton_step, levenberg_marquardt, levenberg_marquardt_step


def test_gauss_newton_solves_a_linear_problem_in_one_step(rng):
    A, b = rng.standard_normal((12, 4)), rng.standard_normal(12)
    x0 = rng.standard_normal(4)
    x1 = x0 + gauss_newton_step(A, A @ x0 - b)          # residual A x - b, Jacobian A
    np.testing.assert_allclose(x1, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-10, atol=1e-12)


def test_damping_interpolates_between_gauss_newton_and_gradient_descent(rng):
    J, r = rng.standard_normal((8, 3)), rng.standard_normal(8)
    np.testing.assert_allclose(levenberg_marquardt_step(J, r, 0.0), gauss_newton_step(J, r))
    lam = 1e8
    levenberg = levenberg_marquardt_step(J, r, lam, marquardt=False)
    np.testing.assert_allclose(levenberg, -J.T @ r / lam, rtol=1e-6)
    marquardt = levenberg_marquardt_step(J, r, lam, marquardt=True)
    np.testing.assert_allclose(marquardt, -J.T @ r / (lam * np.sum(J * J, axis=0)), rtol=1e-6)


def _curve(t, y):
    def residual(x):
        return x[0] * np.exp(x[1] * t) + x[2] - y

    def jacobian(x):
        e = np.exp(x[1] * t)
        return np.stack([e, x[0] * t * e, np.ones_like(t)], axis=1)

    return residual, jacobian


def test_levenberg_marquardt_finds_scipys_minimum(rng):
    t = np.linspace(0, 2, 30)
    y = 1.5 * np.exp(-1.2 * t) + 0.3 + 0.02 * rng.standard_normal(30)
    residual, jacobian = _curve(t, y)
    x0 = np.array([0.5, -4.0, 0.0])
    x, losses = levenberg_marquardt(residual, jacobian, x0, lam=1.0, steps=40)
    ref = scipy_least_squares(residual, x0, jac=jacobian, method="lm").x
    np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-8)
    assert len(losses) == 41 and np.all(np.diff(losses) <= 0), "accepted steps only ever lower the loss"
    assert losses[-1] == pytest.approx(0.5 * np.sum(residual(x) ** 2))


def test_a_rejected_trial_keeps_x_and_repeats_the_loss():
    t = np.linspace(0, 1, 5)
    x0 = np.array([1.0, -1.0, 0.5])
    residual, jacobian = _curve(t, np.exp(-t) + 0.5)   # x0 is the exact fit: no step can lower a zero loss
    x, losses = levenberg_marquardt(residual, jacobian, x0, lam=1.0, steps=3)
    np.testing.assert_array_equal(x, x0)
    assert losses == [0.0, 0.0, 0.0, 0.0]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"J of shape \(M, D\)"):
        gauss_newton_step(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="lam must be a non-negative"):
        levenberg_marquardt_step(np.ones((3, 2)), np.ones(3), -1.0)
