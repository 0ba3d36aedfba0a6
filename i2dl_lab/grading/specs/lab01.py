"""Graded exercises of lab 01 (linear regression)."""

from __future__ import annotations

import numpy as np

from ...classic import gd_fit, mse_loss_and_grad, normal_equation
from ..spec import Exercise, allclose


def _regression_problem(rng, n, p):
    X = np.hstack([np.ones((n, 1)), rng.standard_normal((n, p - 1))])
    theta = rng.standard_normal(p)
    y = X @ theta + 0.3 * rng.standard_normal(n)
    return X, y


def _normal_cases(rng):
    return [_regression_problem(rng, 20, 2), _regression_problem(rng, 50, 4), _regression_problem(rng, 7, 7)]


def _mse_cases(rng):
    out = []
    for n, p in [(10, 2), (30, 3), (5, 5)]:
        X, y = _regression_problem(rng, n, p)
        out.append((rng.standard_normal(p), X, y))
    return out


def _gd_cases(rng):
    X1, y1 = _regression_problem(rng, 40, 2)
    X2, y2 = _regression_problem(rng, 25, 3)
    X2[:, 1:] *= 0.5  # keeps lr=0.2 stable while still far from converged after 15 steps
    return [(X1, y1, 0.05, 30), (X2, y2, 0.2, 15), (X1, y1, 0.01, 1)]


def reference_gaussian_nll(y, y_pred, sigma):
    """Mean negative log-likelihood of ``y`` under N(y_pred, sigma^2)."""
    r = np.asarray(y, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(0.5 * np.log(2 * np.pi * sigma ** 2) + r ** 2 / (2 * sigma ** 2)))


def _nll_cases(rng):
    return [(rng.standard_normal(12), rng.standard_normal(12), 1.0),
            (rng.standard_normal(30), rng.standard_normal(30), 0.25),
            (np.arange(4.0), np.arange(4.0), 3.0)]


def reference_l1_loss_and_grad(theta, X, y):
    """Mean absolute error of ``X @ theta`` against ``y`` and its subgradient (0 where a residual is 0)."""
    r = X @ theta - y
    return float(np.mean(np.abs(r))), X.T @ np.sign(r) / len(y)


def _l1_cases(rng):
    out = []
    for n, p in [(10, 2), (30, 3), (6, 4)]:
        X, y = _regression_problem(rng, n, p)
        out.append((rng.standard_normal(p), X, y))
    X, y = _regression_problem(rng, 5, 2)
    theta = np.linalg.lstsq(X[:2], y[:2], rcond=None)[0]      # two residuals exactly 0: subgradient 0 there
    out.append((theta, X, X @ theta + np.array([0.0, 0.0, 1.0, -2.0, 0.5])))
    return out


EXERCISES = [
    Exercise("normal_equation", "normal_equation", 2, normal_equation, _normal_cases,
             compare=allclose(rtol=1e-6, atol=1e-8), title="least squares by the normal equation"),
    Exercise("mse_loss_and_grad", "mse_loss_and_grad", 2, mse_loss_and_grad, _mse_cases,
             title="MSE loss and its gradient"),
    Exercise("gradient_descent", "gradient_descent", 3, gd_fit, _gd_cases,
             compare=allclose(rtol=1e-6, atol=1e-9), title="full-batch gradient descent"),
    Exercise("gaussian_nll", "gaussian_nll", 1, reference_gaussian_nll, _nll_cases,
             title="Gaussian negative log-likelihood"),
    Exercise("l1_loss_and_grad", "l1_loss_and_grad", 2, reference_l1_loss_and_grad, _l1_cases,
             compare=allclose(rtol=1e-6, atol=1e-10), title="mean absolute error and its subgradient"),
]
