"""Lab 05 (training neural networks): what the weight initialisation does to activations.

:func:`activation_stats` pushes a batch of random inputs through a deep stack of
fully connected layers with one initialisation scheme and one nonlinearity and records
every layer's activations; :func:`plot_activation_histograms` draws one histogram per layer
and the standard deviation per layer. Dropdowns pick the scheme and the nonlinearity.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..nn import init as nn_init

INITS = ("zero", "small", "large", "xavier", "kaiming")
ACTIVATIONS = ("tanh", "relu", "sigmoid")


def init_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Weights (fan_in, fan_out) for a named scheme.

    ``zero``: all zeros; ``small``: N(0, 0.01^2); ``large``: N(0, 1); ``xavier``: std
    sqrt(2 / (fan_in + fan_out)); ``kaiming``: std sqrt(2 / fan_in) (He, for ReLU).
    """
    shape = (fan_in, fan_out)
    if scheme == "zero":
        return nn_init.zeros(shape)
    if scheme == "small":
        return nn_init.small_normal(shape, std=0.01, rng=rng)
    if scheme == "large":
        return nn_init.small_normal(shape, std=1.0, rng=rng)
    if scheme == "xavier":
        return nn_init.xavier_normal(shape, rng=rng)
    if scheme == "kaiming":
        return nn_init.kaiming_normal(shape, nonlinearity="relu", rng=rng)
    raise ValueError(f"init must be one of {INITS}, got {scheme!r}")


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * z))  # the logistic function, without overflow
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def activation_stats(init: str = "xavier", activation: str = "tanh", depth: int = 8, width: int = 256,
                     n: int = 500, seed: int = 0) -> dict:
    """Forward ``n`` standard-normal inputs through ``depth`` layers of ``width`` units (no biases).

    Returns:
        ``{"activations": list of (n, width) arrays, one per layer, "std": (depth,) their
        standard deviations, "mean": (depth,) their means}``.
    """
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, width))
    acts = []
    for _ in range(depth):
        h = _act(activation, h @ init_weights(init, width, width, rng))  # (n, width)
        acts.append(h)
    return {"activations": acts, "std": np.array([a.std() for a in acts]), "mean": np.array([a.mean() for a in acts])}


def plot_activation_histograms(init: str = "xavier", activation: str = "tanh", depth: int = 8,
                               seed: int = 0) -> tuple[Figure, dict]:
    """One histogram of activations per layer plus the std per layer."""
    data = activation_stats(init, activation, depth=depth, seed=seed)
    fig = Figure(figsize=(12, 3.2))
    axes = fig.subplots(1, depth + 1, gridspec_kw={"width_ratios": [1] * depth + [1.6]})
    lo, hi = {"tanh": (-1, 1), "relu": (0, None), "sigmoid": (0, 1)}[activation]
    for i, a in enumerate(data["activations"]):
        ax = axes[i]
        top = hi if hi is not None else max(float(np.percentile(a, 99.5)), 1e-6)
        ax.hist(a.ravel(), bins=40, range=(lo, top), color="C0")
        ax.set_title(f"layer {i + 1}\nstd {data['std'][i]:.2g}", fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
    ax = axes[-1]
    ax.semilogy(np.arange(1, depth + 1), np.maximum(data["std"], 1e-30), "o-")
    ax.set_xlabel("layer", fontsize=8)
    ax.set_title("activation std", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.suptitle(f"{init} initialisation, {activation} units", fontsize=10)
    fig.tight_layout()
    return fig, data


def init_explorer(depth: int = 8, seed: int = 0):
    """Dropdowns for the initialisation and the nonlinearity, redrawing the histograms."""
    import ipywidgets as widgets

    from . import slider_plot

    init = widgets.Dropdown(options=list(INITS), value="xavier", description="init")
    act = widgets.Dropdown(options=list(ACTIVATIONS), value="tanh", description="activation")
    return slider_plot(lambda init, activation: plot_activation_histograms(init, activation, depth=depth, seed=seed),
                       init=init, activation=act)
