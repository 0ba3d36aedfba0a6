"""Plots and controls of lab 12 (semantic segmentation).

Update functions return ``(figure, data)`` built without pyplot; the maths (the transposed
convolution) comes from :mod:`i2dl_lab.bridge.segmentation`.

Example:
    >>> fig, counts = stamp_figure(kernel_size=3, stride=2)
    >>> counts.shape
    (9, 9)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["stamp_counts", "stamp_figure", "stamp_widget", "segmentation_figure", "MASK_COLOURS"]

#: RGB colour of each class label in the mask pictures (background, disc, square, triangle, ...).
MASK_COLOURS = np.array([[0.15, 0.15, 0.15], [0.95, 0.35, 0.25], [0.25, 0.6, 0.95], [0.95, 0.85, 0.2],
                         [0.5, 0.9, 0.4], [0.8, 0.4, 0.9]])


def stamp_counts(kernel_size: int, stride: int, size: int = 4) -> np.ndarray:
    """How many kernel stamps land on each output pixel of a transposed convolution.

    The input is a ``size x size`` map of ones and the kernel is all ones, so each output value
    counts the overlapping stamps. Uneven counts (kernel size not a multiple of the stride)
    are the source of the checkerboard artefacts of learned upsampling.

    Returns:
        ((size - 1) * stride + kernel_size)^2 counts.
    """
    import torch

    from ..bridge.segmentation import conv_transpose2d

    if kernel_size < 1 or stride < 1 or size < 1:
        raise ValueError(f"kernel_size, stride and size must be >= 1, got {kernel_size}, {stride}, {size}")
    x = torch.ones(1, 1, size, size, dtype=torch.float64)
    w = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    return conv_transpose2d(x, w, None, stride, 0)[0, 0].numpy()


def stamp_figure(kernel_size: int = 3, stride: int = 2, size: int = 4):
    """Heat map of :func:`stamp_counts`. Returns ``(fig, counts)``."""
    counts = stamp_counts(kernel_size, stride, size)
    fig = figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    im = ax.imshow(counts, cmap="magma", vmin=0)
    even = "even" if kernel_size % stride == 0 else "uneven: checkerboard"
    ax.set_title(f"stamps per output pixel, k={kernel_size}, s={stride} ({even})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig, counts


def stamp_widget():
    """Sliders for the kernel size and the stride driving :func:`stamp_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(stamp_figure,
                       kernel_size=widgets.IntSlider(value=3, min=1, max=6, description="kernel"),
                       stride=widgets.IntSlider(value=2, min=1, max=4, description="stride"))


def _colour(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.min() < 0 or m.max() >= len(MASK_COLOURS):
        raise ValueError(f"mask labels must be in [0, {len(MASK_COLOURS)}), got {m.min()}..{m.max()}")
    return MASK_COLOURS[m]


def segmentation_figure(images, masks, predictions=None, n: int = 6):
    """Rows: the images, their true masks and (optionally) predicted masks; ``n`` columns.

    Args:
        images: (N, 3, H, W) in [0, 1].  masks, predictions: (N, H, W) labels.

    Returns:
        ``(fig, shown)`` with shown the number of columns drawn.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"expected images (N, 3, H, W) and masks (N, H, W), got {images.shape} and {masks.shape}")
    rows = [("image", images.transpose(0, 2, 3, 1)), ("truth", _colour(masks))]
    if predictions is not None:
        rows.append(("prediction", _colour(predictions)))
    n = min(n, len(images))
    fig = figure(figsize=(1.5 * n, 1.6 * len(rows)))
    axes = np.asarray(fig.subplots(len(rows), n, squeeze=False))
    for r, (name, pics) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.clip(pics[c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name)
    fig.tight_layout()
    return fig, n
