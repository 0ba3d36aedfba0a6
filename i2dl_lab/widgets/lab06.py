"""Plots and controls of lab 06 (convolutional networks).

Every update function takes plain arrays, draws one matplotlib figure and returns it
together with the numbers it drew, so the labs can call it once for a static picture and
the tests can check it without a browser. ``*_widget`` functions wrap an update function
in ipywidgets controls.

Example:
    >>> import numpy as np
    >>> fig, out = filter_figure(np.eye(16), "horizontal edge")
    >>> out.shape
    (14, 14)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = [
    "KERNELS", "to_gray", "apply_kernel", "filter_figure", "filter_widget",
    "speed_figure",
]

#: 3x3 filters to try on a photograph. The horizontal edge filter is the exam's
#: [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]: bright above, dark below gives a large output.
KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
    "box blur": np.full((3, 3), 1 / 9),
    "gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "horizontal edge": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], float),
    "vertical edge": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], float),
    "sobel x": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float),
    "sobel y": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float),
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """An (H, W) float image in [0, 1] from an (H, W), (H, W, 3) or (3, H, W) image (uint8 or float)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[2] not in (3, 4):
        img = np.moveaxis(img, 0, -1)  # channels first (the library's layout) -> last
    if img.ndim == 3:
        if img.shape[2] not in (3, 4):
            raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])  # luma weights
    elif img.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    img = img.astype(np.float64)
    return img / 255.0 if img.max() > 1.0 else img


def apply_kernel(gray: np.ndarray, kernel: np.ndarray | str, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Cross-correlate one (H, W) image with one (k, k) filter using the library's conv layer.

    Returns the (H', W') response with H' = (H + 2 pad - k) // stride + 1. The library's
    convolution insists that the windows tile the padded input exactly, so the last rows and
    columns that no window would reach are cropped first (as torch does silently).
    """
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    k = KERNELS[kernel] if isinstance(kernel, str) else np.asarray(kernel, float)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (k, k), got shape {k.shape}")
    img = np.asarray(gray, float)
    if img.ndim != 2:
        raise ValueError(f"expected a grey image of shape (H, W), got {img.shape}")
    kh, kw = k.shape
    H = (img.shape[0] + 2 * pad - kh) // stride * stride + kh - 2 * pad
    W = (img.shape[1] + 2 * pad - kw) // stride * stride + kw - 2 * pad
    x = img[:H, :W][None, None]  # (1, 1, H, W), cropped so the windows tile it
    w = k[None, None]  # (1, 1, k, k)
    out, _ = F.conv_forward(x, w, np.zeros(1), {"stride": int(stride), "pad": int(pad)})
    return out[0, 0]


def filter_figure(image: np.ndarray, kernel: str = "horizontal edge", stride: int = 1):
    """Show ``image`` next to its response to ``kernel``; returns ``(fig, response)``."""
    gray = to_gray(image)
    out = apply_kernel(gray, kernel, stride=stride)
    fig = figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [4, 4, 1]})
    axes[0].imshow(gray, cmap="gray")
    axes[0].set_title(f"input {gray.shape[0]}x{gray.shape[1]}")
    lim = float(np.abs(out).max()) or 1.0
    signed = np.min(KERNELS[kernel]) < 0 if isinstance(kernel, str) else True
    axes[1].imshow(out, cmap="RdBu_r" if signed else "gray",
                   vmin=-lim if signed else None, vmax=lim if signed else None)
    axes[1].set_title(f"{kernel}, stride {stride}: output {out.shape[0]}x{out.shape[1]}")
    kern = KERNELS[kernel] if isinstance(kernel, str) else np.asarray(kernel)
    axes[2].imshow(kern, cmap="RdBu_r", vmin=-np.abs(kern).max(), vmax=np.abs(kern).max())
    for (i, j), v in np.ndenumerate(kern):
        axes[2].text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7)
    axes[2].set_title("filter")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, out


def filter_widget(image: np.ndarray):
    """A dropdown of :data:`KERNELS` and a stride slider driving :func:`filter_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(
        lambda kernel, stride: filter_figure(image, kernel, stride),
        kernel=widgets.Dropdown(options=list(KERNELS), value="horizontal edge", description="filter"),
        stride=widgets.IntSlider(value=1, min=1, max=4, description="stride"),
    )


def speed_figure(sizes, seconds: dict[str, list[float]]):
    """Log-scale run time against input size for each implementation; returns the figure."""
    fig = figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    for name, ts in seconds.items():
        if len(ts) != len(sizes):
            raise ValueError(f"{name}: {len(ts)} timings for {len(sizes)} sizes")
        ax.plot(sizes, ts, "o-", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("image side (pixels)")
    ax.set_ylabel("seconds per forward pass")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
