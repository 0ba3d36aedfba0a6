"""Plots and controls of lab 08 (transfer learning).

Update functions take plain arrays and return ``(figure, data)`` without pyplot.

Example:
    >>> import numpy as np
    >>> z = pca_2d(np.random.default_rng(0).standard_normal((20, 5)))
    >>> z.shape
    (20, 2)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["pca_2d", "class_separation", "feature_space_figure", "feature_space_widget", "comparison_figure"]


def pca_2d(features: np.ndarray) -> np.ndarray:
    """Project rows onto their two leading principal directions, shape (N, 2).

    Each direction's sign is fixed so that its largest-magnitude entry is positive, so the
    picture does not flip between runs.
    """
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {X.shape}")
    Xc = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    V = Vt[:2].T  # (D, <=2)
    V = V * np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    Z = Xc @ V
    if Z.shape[1] < 2:  # one feature: pad with zeros
        Z = np.concatenate([Z, np.zeros((len(Z), 2 - Z.shape[1]))], axis=1)
    return Z


def class_separation(features: np.ndarray, labels: np.ndarray) -> float:
    """Between-class over within-class variance (a Fisher-style ratio); larger = easier for a linear head."""
    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    mu = X.mean(axis=0)
    between = within = 0.0
    for c in np.unique(y):
        Xc = X[y == c]
        between += len(Xc) * float(((Xc.mean(axis=0) - mu) ** 2).sum())
        within += float(((Xc - Xc.mean(axis=0)) ** 2).sum())
    return between / max(within, 1e-12)


def feature_space_figure(features: dict, labels, name: str):
    """Scatter of the 2-D PCA of ``features[name]`` coloured by class; returns ``(fig, coords)``."""
    if name not in features:
        raise ValueError(f"unknown feature set {name!r}; choose one of {list(features)}")
    X = np.asarray(features[name])
    y = np.asarray(labels)
    if len(X) != len(y):
        raise ValueError(f"{len(X)} feature rows but {len(y)} labels")
    Z = pca_2d(X)
    fig = figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=12, vmin=-0.5, vmax=9.5)
    for c in np.unique(y):
        m = Z[y == c].mean(axis=0)
        ax.text(m[0], m[1], str(c), fontsize=12, weight="bold", ha="center", va="center")
    ax.set_title(f"{name}: class separation {class_separation(X, y):.2f}", fontsize=10)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.colorbar(sc, ax=ax, ticks=range(10))
    fig.tight_layout()
    return fig, Z


def feature_space_widget(features: dict, labels):
    """A dropdown over the feature sets driving :func:`feature_space_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(lambda name: feature_space_figure(features, labels, name),
                       name=widgets.Dropdown(options=list(features), description="features"))


def comparison_figure(accuracies: dict, seconds: dict | None = None, title: str = "test accuracy"):
    """Bars of test accuracy per method (and training seconds as labels); returns ``(fig, accuracies)``."""
    if not accuracies:
        raise ValueError("accuracies is empty")
    names = list(accuracies)
    acc = np.array([accuracies[k] for k in names], dtype=float)
    fig = figure(figsize=(6.5, 3))
    ax = fig.subplots()
    bars = ax.bar(names, acc, color=["tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red"][:len(names)])
    for bar, k in zip(bars, names):
        label = f"{accuracies[k]:.3f}" + (f"\n{seconds[k]:.1f} s" if seconds and k in seconds else "")
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel(title)
    fig.tight_layout()
    return fig, dict(accuracies)
