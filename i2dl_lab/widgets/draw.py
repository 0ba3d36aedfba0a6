"""Drawing shared by every lab's widgets: pyplot-free figures and image grids.

Figures are :class:`matplotlib.figure.Figure` objects built without ``pyplot``, so they
never pile up in pyplot's global state and show exactly once when a cell returns them.

Example:
    >>> import numpy as np
    >>> fig = image_grid(np.zeros((5, 3, 3)), ncols=2)
    >>> len(fig.axes)
    6
"""

from __future__ import annotations

import numpy as np

__all__ = ["figure", "image_grid"]


def figure(**kwargs):
    """A pyplot-free :class:`matplotlib.figure.Figure`; ``kwargs`` go to its constructor (``figsize``...)."""
    from matplotlib.figure import Figure  # lazily: importing a widget module must not need matplotlib

    return Figure(**kwargs)


def image_grid(images: np.ndarray, ncols: int = 8, titles=None, cmap: str = "gray",
               symmetric: bool = False, size: float = 1.3, suptitle: str | None = None):
    """Draw a stack of 2-D images in a grid; returns the figure.

    Args:
        images: (n, H, W) array.
        ncols: images per row (fewer when there are fewer images).
        titles: n labels shown above the images, or ``None``.
        cmap: colour map of unsigned images.
        symmetric: centre a red-blue colour map on zero (filters, signed feature maps).
        size: inches per image.
        suptitle: a title over the whole grid.
    """
    imgs = np.asarray(images, float)
    if imgs.ndim != 3:
        raise ValueError(f"expected images of shape (n, H, W), got {imgs.shape}")
    n = imgs.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig = figure(figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        if symmetric:
            lim = float(np.abs(imgs[i]).max()) or 1.0
            ax.imshow(imgs[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            ax.imshow(imgs[i], cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
