"""Plots and controls of lab 09 (autoencoders and VAEs).

Update functions take plain arrays or a ``decode(z) -> images`` callable and return
``(figure, data)`` without pyplot.

Example:
    >>> import numpy as np
    >>> fig, img = decode_figure(lambda z: np.full((len(z), 4, 4), z[:, 0:1, None]), 0.5, -1.0)
    >>> float(img[0, 0])
    0.5
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["reconstruction_figure", "latent_scatter_figure", "decode_figure", "latent_grid",
           "latent_grid_figure", "latent_widget"]


def _images(x) -> np.ndarray:
    """(N, 1, H, W), (N, H, W) or (N, H*W) square images -> (N, H, W)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim == 3:
        return a
    if a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        if side * side != a.shape[1]:
            raise ValueError(f"cannot reshape rows of {a.shape[1]} pixels into square images")
        return a.reshape(len(a), side, side)
    raise ValueError(f"expected images (N, 1, H, W), (N, H, W) or (N, H*W), got shape {a.shape}")


def reconstruction_figure(rows: dict, n: int = 8):
    """One row of ``n`` images per entry of ``rows`` (e.g. input / noisy / reconstruction).

    Returns ``(fig, mse)`` with the mean squared error of every row against the first one.
    """
    if not rows:
        raise ValueError("rows is empty")
    imgs = {k: _images(v)[:n] for k, v in rows.items()}
    first = next(iter(imgs.values()))
    n = len(first)
    fig = figure(figsize=(1.1 * n + 1.2, 1.15 * len(imgs)))
    axes = fig.subplots(len(imgs), n, squeeze=False)
    mse = {}
    for r, (name, ims) in enumerate(imgs.items()):
        if ims.shape != first.shape:
            raise ValueError(f"row {name!r} has shape {ims.shape}, expected {first.shape}")
        mse[name] = float(np.mean((ims - first) ** 2))
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(ims[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig, mse


def latent_scatter_figure(codes, labels, title: str = "latent space"):
    """Scatter of 2-D latent codes coloured by class (PCA first if the codes have more dims).

    Returns ``(fig, points)`` with the (N, 2) points drawn.
    """
    z = np.asarray(codes, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"codes must be (N, L) with one label per row, got {z.shape} and {y.shape}")
    if z.shape[1] > 2:
        zc = z - z.mean(axis=0)
        _, _, Vt = np.linalg.svd(zc, full_matrices=False)
        z = zc @ Vt[:2].T
        title += " (PCA)"
    elif z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], axis=1)
    fig = figure(figsize=(5, 4.2))
    ax = fig.subplots()
    sc = ax.scatter(z[:, 0], z[:, 1], c=y, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
    for c in np.unique(y):
        m = z[y == c].mean(axis=0)
        ax.text(m[0], m[1], str(c), fontsize=12, weight="bold", ha="center", va="center")
    fig.colorbar(sc, ax=ax, ticks=range(10))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    fig.tight_layout()
    return fig, z


def decode_figure(decode, z1: float, z2: float):
    """Decode the latent point (z1, z2) and show the image; returns ``(fig, image)``.

    ``decode`` maps an (n, 2) array of latent points to n images.
    """
    img = _images(decode(np.array([[z1, z2]], dtype=np.float64)))[0]
    fig = figure(figsize=(2.4, 2.6))
    ax = fig.subplots()
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"z = ({z1:.2f}, {z2:.2f})", fontsize=9)
    fig.tight_layout()
    return fig, img


def latent_grid(decode, n: int = 10, span: float = 2.5) -> np.ndarray:
    """Decode an ``n x n`` grid of latent points in [-span, span]^2 into one big image.

    Row 0 of the result is the top of the picture (largest z2); columns go with z1.
    """
    if n < 1 or span <= 0:
        raise ValueError(f"need n >= 1 and span > 0, got n={n}, span={span}")
    ticks = np.linspace(-span, span, n)
    zz = np.array([[a, b] for b in ticks[::-1] for a in ticks])  # (n*n, 2)
    imgs = _images(decode(zz))  # (n*n, h, w)
    h, w = imgs.shape[1:]
    return imgs.reshape(n, n, h, w).transpose(0, 2, 1, 3).reshape(n * h, n * w)


def latent_grid_figure(decode, n: int = 10, span: float = 2.5):
    """The decoded grid of :func:`latent_grid`; returns ``(fig, canvas)``."""
    canvas = latent_grid(decode, n, span)
    fig = figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, extent=(-span, span, -span, span))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title("decoder output over the latent plane", fontsize=10)
    fig.tight_layout()
    return fig, canvas


def latent_widget(decode, span: float = 3.0):
    """Two sliders (z1, z2) driving :func:`decode_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    def slider(name):
        return widgets.FloatSlider(value=0.0, min=-span, max=span, step=0.1, description=name)

    return slider_plot(lambda z1, z2: decode_figure(decode, z1, z2), z1=slider("z1"), z2=slider("z2"))
