"""Lab 00 (setup and tour): a batch-size slider showing how noisy a minibatch average is.

A minibatch gradient is an average over ``B`` examples. :func:`batch_means` draws many such
averages of a skewed population; :func:`plot_batch_noise` shows their spread, which shrinks
like ``1 / sqrt(B)``: the reason a bigger batch gives a steadier (but costlier) step.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def batch_means(batch_size: int, n_batches: int = 2000, population: int = 20000, seed: int = 0) -> dict:
    """Means of ``n_batches`` random batches (drawn with replacement) from a fixed skewed population.

    Returns:
        ``{"means": (n_batches,), "population_mean": float, "population_std": float,
        "std_of_means": float}``.
    """
    if not 1 <= batch_size <= population:
        raise ValueError(f"batch_size must be between 1 and the population size {population}, got {batch_size}")
    rng = np.random.default_rng(seed)
    data = rng.exponential(scale=1.0, size=population)  # skewed, like per-example losses
    idx = rng.integers(0, population, size=(n_batches, batch_size))
    means = data[idx].mean(axis=1)  # (n_batches, batch_size) -> (n_batches,)
    return {"means": means, "population_mean": float(data.mean()), "population_std": float(data.std()),
            "std_of_means": float(means.std())}


def plot_batch_noise(batch_size: int = 8, n_batches: int = 2000, seed: int = 0) -> tuple[Figure, dict]:
    """Histogram of minibatch means for one batch size, with the 1/sqrt(B) prediction."""
    data = batch_means(batch_size, n_batches=n_batches, seed=seed)
    predicted = data["population_std"] / np.sqrt(batch_size)
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    ax.hist(data["means"], bins=50, range=(0, 3), color="C0", alpha=0.8)
    ax.axvline(data["population_mean"], color="k", ls="--", lw=1, label="full-data mean")
    ax.set_xlim(0, 3)
    ax.set_xlabel("mean of one minibatch")
    ax.set_ylabel("count")
    ax.set_title(f"B = {batch_size}: spread {data['std_of_means']:.3f} (predicted sigma/sqrt(B) = {predicted:.3f})",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, data


def batch_size_explorer(seed: int = 0):
    """A batch-size slider (powers of two) redrawing :func:`plot_batch_noise`."""
    import ipywidgets as widgets

    from . import slider_plot

    b = widgets.SelectionSlider(options=[2 ** k for k in range(0, 11)], value=8, description="batch size",
                                continuous_update=False)
    return slider_plot(lambda batch_size: plot_batch_noise(batch_size=batch_size, seed=seed), batch_size=b)
