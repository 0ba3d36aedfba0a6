"""Lab 01 (linear regression): a learning-rate slider over gradient descent on a line fit.

The update function :func:`plot_gd_fit` redraws the loss curve and the fitted line for one
learning rate; :func:`gd_fit` and :func:`normal_equation` are the maths behind it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def make_line_data(n: int = 60, slope: float = 2.0, intercept: float = -1.0, noise: float = 0.5,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points ``y = slope * x + intercept + noise`` with ``x`` uniform in [-2, 2].

    Returns:
        x: (n,) inputs; y: (n,) noisy targets.
    """
    if n < 2:
        raise ValueError(f"need at least 2 points to fit a line, got n={n}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    return x, y


def design_matrix(x: np.ndarray) -> np.ndarray:
    """``[1, x]`` rows: (N,) or (N, D) inputs -> (N, D + 1) with the bias column first."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(len(x), -1)  # (N, D)
    return np.hstack([np.ones((len(x2), 1)), x2])


def normal_equation(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares ``theta`` solving ``X^T X theta = X^T y`` (X: (N, P), y: (N,)) -> (P,)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # lstsq instead of inv(X^T X): same minimiser, but stable when X^T X is ill-conditioned
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return theta


def mse_loss_and_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``L = mean((X theta - y)^2)`` and ``dL/dtheta = 2/N X^T (X theta - y)``."""
    r = X @ theta - y  # (N,)
    return float(np.mean(r ** 2)), 2.0 * X.T @ r / len(y)


def gd_fit(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch gradient descent on the MSE from ``theta = 0``.

    Returns:
        theta: (P,) final parameters; losses: (steps,) loss *before* each update.
        A diverging run stops early once the loss overflows; the rest of ``losses`` is inf.
    """
    theta = np.zeros(X.shape[1])
    losses = np.full(steps, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            loss, grad = mse_loss_and_grad(theta, X, y)
            if not np.isfinite(loss):
                break
            losses[t] = loss
            theta = theta - lr * grad
    return theta, losses


def plot_gd_fit(lr: float = 0.1, steps: int = 60, n: int = 60, noise: float = 0.5,
                seed: int = 0) -> tuple[Figure, dict]:
    """Loss curve and fitted line of gradient descent with learning rate ``lr``.

    Returns:
        (fig, data) where ``data`` has ``theta_gd``, ``theta_ne`` (normal equation),
        ``losses`` (per step) and ``diverged`` (loss grew over the run or overflowed).
    """
    x, y = make_line_data(n=n, noise=noise, seed=seed)
    X = design_matrix(x)
    theta_ne = normal_equation(X, y)
    theta_gd, losses = gd_fit(X, y, lr, steps)
    finite = losses[np.isfinite(losses)]
    diverged = bool(len(finite) < steps or (len(finite) > 1 and finite[-1] > finite[0]))
    best = mse_loss_and_grad(theta_ne, X, y)[0]

    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogy(np.arange(len(finite)), finite, color="C0", label=f"gradient descent, lr={lr:g}")
    ax1.axhline(best, color="k", ls="--", lw=1, label="normal equation (optimum)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("MSE (log scale)")
    ax1.set_xlim(0, steps)
    ax1.set_title("diverges!" if diverged else "loss per step")
    ax1.legend(loc="upper right", fontsize=8)

    grid = np.linspace(-2.2, 2.2, 50)
    ax2.scatter(x, y, s=12, color="0.5", label="data")
    ax2.plot(grid, theta_ne[0] + theta_ne[1] * grid, "k--", lw=1, label="normal equation")
    if np.all(np.isfinite(theta_gd)) and not diverged:
        ax2.plot(grid, theta_gd[0] + theta_gd[1] * grid, color="C0", lw=2, label=f"GD after {steps} steps")
    ax2.set_ylim(y.min() - 1, y.max() + 1)
    ax2.set_xlabel("x")
    ax2.set_ylabel("y")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig, {"theta_gd": theta_gd, "theta_ne": theta_ne, "losses": losses, "diverged": diverged}


def lr_explorer(steps: int = 60, seed: int = 0):
    """A log-scale learning-rate slider that redraws :func:`plot_gd_fit`."""
    import ipywidgets as widgets

    from . import slider_plot

    lr = widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=0.05, description="learning rate",
                                continuous_update=False, readout_format=".3f")
    return slider_plot(lambda lr: plot_gd_fit(lr=lr, steps=steps, seed=seed), lr=lr)
