"""Lab 01 (linear regression): a learning-rate slider over gradient descent on a line fit.

The update function :func:`plot_gd_fit` redraws the loss curve and the fitted line for one
learning rate; the maths behind it (:func:`~i2dl_lab.classic.gd_fit`,
:func:`~i2dl_lab.classic.normal_equation`) lives in :mod:`i2dl_lab.classic`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..classic import design_matrix, gd_fit, mse_loss_and_grad, normal_equation


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
