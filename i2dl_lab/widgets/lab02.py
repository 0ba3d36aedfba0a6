"""Lab 02 (linear classifiers): a regularisation slider over SVM vs softmax on the digits, and
k / distance controls over k-nearest-neighbour decision regions.

* :func:`plot_templates` trains a linear SVM and a softmax classifier with one
  regularisation strength and shows their weights as 8x8 "templates", one per class.
* :func:`plot_knn_regions` colours the plane by the kNN vote for one ``k`` and metric.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

from ..classic import KNearestNeighbor, LinearSVM, SoftmaxClassifier


@lru_cache(maxsize=2)
def _digits(seed: int):
    from ..data import load_digits

    d = load_digits(flatten=True, seed=seed, dtype=np.float64)
    return d["X_train"], d["y_train"], d["X_val"], d["y_val"]


def train_linear_pair(reg: float, lr: float = 0.1, iters: int = 300, seed: int = 0) -> dict:
    """Train a :class:`LinearSVM` and a :class:`SoftmaxClassifier` on the digits.

    Returns:
        ``{"svm": {...}, "softmax": {...}}``, each with ``W`` (65, 10) (last row: biases),
        ``train_acc``, ``val_acc`` and ``weight_norm`` (Frobenius norm of the weights without bias).
    """
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    Xtr, ytr, Xva, yva = _digits(seed)
    out = {}
    for name, cls in (("svm", LinearSVM), ("softmax", SoftmaxClassifier)):
        model = cls(learning_rate=lr, reg=reg, num_iters=iters, batch_size=200, seed=seed)
        model.train(Xtr, ytr)
        out[name] = {
            "W": model.W,
            "train_acc": float(np.mean(model.predict(Xtr) == ytr)),
            "val_acc": float(np.mean(model.predict(Xva) == yva)),
            "weight_norm": float(np.linalg.norm(model.W[:-1])),
        }
    return out


def plot_templates(reg: float = 1e-3, lr: float = 0.1, iters: int = 300, seed: int = 0) -> tuple[Figure, dict]:
    """Weights of both classifiers as 8x8 images (red positive, blue negative), with accuracies."""
    data = train_linear_pair(reg, lr=lr, iters=iters, seed=seed)
    fig = Figure(figsize=(11, 3.2))
    axes = fig.subplots(2, 10)
    for row, name in enumerate(("svm", "softmax")):
        W = data[name]["W"][:-1]  # (64, 10) without the bias row
        lim = np.abs(W).max() or 1.0
        for c in range(10):
            ax = axes[row, c]
            ax.imshow(W[:, c].reshape(8, 8), cmap="bwr", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(str(c), fontsize=9)
        d = data[name]
        axes[row, 0].set_ylabel(f"{name}\nval {d['val_acc']:.2f}", fontsize=9)
    fig.suptitle(f"weight templates, reg = {reg:g}:  |W| svm {data['svm']['weight_norm']:.2f}, "
                 f"softmax {data['softmax']['weight_norm']:.2f}", fontsize=10)
    return fig, data


def reg_explorer(seed: int = 0, iters: int = 300, lr: float = 0.1):
    """Log-scale slider over the regularisation strength, redrawing :func:`plot_templates`."""
    import ipywidgets as widgets

    from . import slider_plot

    reg = widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=0, step=0.25, description="reg",
                                 continuous_update=False, readout_format=".0e")
    return slider_plot(lambda reg: plot_templates(reg=reg, lr=lr, iters=iters, seed=seed), reg=reg)


def knn_grid(X: np.ndarray, y: np.ndarray, k: int, metric: str, resolution: int = 120,
             pad: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kNN labels on a ``resolution`` x ``resolution`` grid covering ``X`` (N, 2).

    Returns:
        gx, gy: (R, R) grid coordinates; labels: (R, R) predicted classes.
    """
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    knn = KNearestNeighbor(k=k, metric=metric).fit(X, y)
    labels = knn.predict(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
    return gx, gy, labels


def plot_knn_regions(k: int = 1, metric: str = "l2", n: int = 150, seed: int = 0) -> tuple[Figure, dict]:
    """Decision regions of kNN on three overlapping 2-D blobs.

    Returns:
        (fig, data) with ``labels`` (the grid prediction) and ``train_acc`` (training accuracy,
        1.0 for k = 1 by construction).
    """
    from ..data import make_blobs

    X, y = make_blobs(n=n, centers=3, dim=2, spread=2.2, seed=seed)
    gx, gy, labels = knn_grid(X, y, k, metric)
    train_acc = float(np.mean(KNearestNeighbor(k=k, metric=metric).fit(X, y).predict(X) == y))
    fig = Figure(figsize=(4.8, 4.2))
    ax = fig.subplots()
    ax.contourf(gx, gy, labels, levels=np.arange(4) - 0.5, cmap="brg", alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="brg", s=12, edgecolors="k", linewidths=0.3)
    ax.set_title(f"k = {k}, {metric.upper()} distance: training accuracy {train_acc:.2f}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig, {"labels": labels, "train_acc": train_acc}


def knn_explorer(seed: int = 0):
    """A slider for ``k`` and a dropdown for the metric, redrawing :func:`plot_knn_regions`."""
    import ipywidgets as widgets

    from . import slider_plot

    k = widgets.IntSlider(value=1, min=1, max=51, step=2, description="k", continuous_update=False)
    metric = widgets.Dropdown(options=["l2", "l1"], value="l2", description="distance")
    return slider_plot(lambda k, metric: plot_knn_regions(k=k, metric=metric, seed=seed), k=k, metric=metric)
