"""Plots and controls of lab 13 (generative adversarial networks).

Update functions return ``(figure, data)`` built without pyplot; the losses and the mode
count come from :mod:`i2dl_lab.bridge.gan`.

Example:
    >>> import numpy as np
    >>> fig, grid = samples_figure(np.zeros((6, 64)), cols=3)
    >>> grid.shape
    (17, 26)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["samples_figure", "snapshot_figure", "snapshot_widget", "ring_figure", "generator_loss_figure"]


def _tile(samples, cols: int, side: int) -> np.ndarray:
    """(n, side*side) samples in [-1, 1] or [0, 1] -> one image with a 1-pixel gap between tiles."""
    x = np.asarray(samples, dtype=np.float64).reshape(len(samples), side, side)
    rows = -(-len(x) // cols)
    grid = np.full((rows * (side + 1) - 1, cols * (side + 1) - 1), np.nan)
    for i, img in enumerate(x):
        r, c = divmod(i, cols)
        grid[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = img
    return grid


def samples_figure(samples, cols: int = 10, title: str = "", side: int = 8):
    """A grid of flattened square images. Returns ``(fig, grid)``."""
    samples = np.asarray(samples)
    if samples.ndim < 2 or samples[0].size != side * side:
        raise ValueError(f"samples must be (n, {side * side}) or (n, 1, {side}, {side}), got shape {samples.shape}")
    grid = _tile(samples.reshape(len(samples), -1), cols, side)
    fig = figure(figsize=(0.45 * grid.shape[1] / (side + 1) + 0.4, 0.45 * grid.shape[0] / (side + 1) + 0.5))
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(grid), cmap="gray_r")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig, grid


def snapshot_figure(snapshots, index: int = -1, cols: int = 10):
    """Samples of one training snapshot; ``snapshots`` is a list of ``(epoch, samples)``."""
    if not snapshots:
        raise ValueError("no snapshots to show")
    if not -len(snapshots) <= index < len(snapshots):
        raise ValueError(f"index must be in [0, {len(snapshots)}), got {index}")
    epoch, samples = snapshots[index]
    return samples_figure(samples, cols=cols, title=f"generated samples after epoch {epoch} (same noise throughout)")


def snapshot_widget(snapshots):
    """A slider over the training snapshots driving :func:`snapshot_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(lambda index: snapshot_figure(snapshots, index),
                       index=widgets.IntSlider(value=len(snapshots) - 1, min=0, max=len(snapshots) - 1,
                                               description="snapshot"))


def ring_figure(real, runs: dict, modes: int = 8):
    """Scatter the real ring data and each run's samples; title each with its covered modes.

    Args:
        real: (n, 2) data.  runs: name -> (m, 2) generated samples.

    Returns:
        ``(fig, covered)`` with covered: name -> number of modes holding at least 2% of the samples.
    """
    from ..bridge.gan import modes_covered

    fig = figure(figsize=(3.2 * (len(runs) + 1), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(runs) + 1))
    covered = {}
    for ax, (name, pts) in zip(axes, [("data", real), *runs.items()]):
        pts = np.asarray(pts)
        n, _ = modes_covered(pts, modes)
        covered[name] = n
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="k" if name == "data" else "C3")
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: {n} of {modes} modes", fontsize=9)
    fig.tight_layout()
    return fig, covered


def generator_loss_figure(points: int = 201):
    """The two generator losses and their slopes as functions of D(G(z)).

    Returns:
        ``(fig, data)`` with data holding ``d`` (the probabilities) and, per loss, its value and
        its derivative with respect to the discriminator's logit.
    """
    import torch

    from ..bridge.gan import generator_loss_minimax, generator_loss_nonsaturating

    d = np.linspace(0.005, 0.995, points)
    data = {"d": d}
    fig = figure(figsize=(8, 3))
    ax_l, ax_g = fig.subplots(1, 2)
    for name, fn in [("minimax: log(1 - D)", generator_loss_minimax),
                     ("non-saturating: -log D", generator_loss_nonsaturating)]:
        s = torch.logit(torch.as_tensor(d, dtype=torch.float64)).requires_grad_(True)
        values = torch.stack([fn(si.view(1)) for si in s])
        (grad,) = torch.autograd.grad(values.sum(), s)
        data[name] = (values.detach().numpy(), grad.numpy())
        ax_l.plot(d, data[name][0], label=name)
        ax_g.plot(d, np.abs(data[name][1]), label=name)
    ax_l.set_xlabel("D(G(z))")
    ax_l.set_ylabel("generator loss")
    ax_g.set_xlabel("D(G(z))")
    ax_g.set_ylabel("|d loss / d logit|")
    ax_g.set_title("early training sits on the left", fontsize=9)
    ax_l.legend(fontsize=8)
    fig.tight_layout()
    return fig, data
