"""Plots and controls of lab 07 (from NumPy to PyTorch).

Update functions take plain arrays and return ``(figure, data)`` without touching pyplot,
so the lab can call them once headlessly and the tests can check them.

Example:
    >>> import numpy as np
    >>> fig, maps = feature_maps_figure({"conv": np.ones((2, 3, 4, 4))}, np.zeros((2, 1, 4, 4)), "conv", 1)
    >>> maps.shape
    (3, 4, 4)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["collect_activations", "feature_maps_figure", "feature_maps_widget", "speed_table_figure"]


def collect_activations(model, x, layer_types=("Conv2d", "ReLU", "MaxPool2d")) -> dict[str, np.ndarray]:
    """Outputs of every sub-module of a torch ``model`` whose class name is in ``layer_types``.

    Args:
        model: a ``torch.nn.Module``; run once in eval mode on ``x`` without gradients.
        x: input batch, an array (N, C, H, W).

    Returns:
        ``{"<dotted name> (<Class>)": array (N, C', H', W')}`` in forward order (4-D outputs only).
    """
    import torch

    acts: dict[str, np.ndarray] = {}
    hooks = []

    def recorder(key):
        def hook(_module, _inputs, out):
            if out.dim() == 4:
                acts[key] = out.detach().cpu().numpy()
        return hook

    for name, mod in model.named_modules():
        kind = type(mod).__name__
        if kind in layer_types:
            hooks.append(mod.register_forward_hook(recorder(f"{name} ({kind})")))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = next(model.parameters())  # run where the model lives (CPU or GPU)
            model(torch.as_tensor(np.asarray(x), dtype=first.dtype, device=first.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return acts


def feature_maps_figure(activations: dict, images: np.ndarray, layer: str, index: int = 0, max_maps: int = 16):
    """The input image ``index`` and up to ``max_maps`` channels of ``layer``'s output for it.

    Returns ``(fig, maps)`` with the (C, H, W) maps of that image (all channels).
    """
    if layer not in activations:
        raise ValueError(f"unknown layer {layer!r}; choose one of {list(activations)}")
    act = np.asarray(activations[layer])
    if act.ndim != 4:
        raise ValueError(f"activations must be (N, C, H, W), got shape {act.shape} for {layer!r}")
    if not 0 <= index < act.shape[0]:
        raise ValueError(f"index must be in [0, {act.shape[0]}), got {index}")
    maps = act[index]
    n = min(max_maps, maps.shape[0])
    cols = min(n + 1, 9)
    rows = int(np.ceil((n + 1) / cols))
    fig = figure(figsize=(1.2 * cols, 1.3 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    image = np.asarray(images)[index]  # (C, H, W)
    if image.shape[0] == 3:  # a colour image (CIFAR-10): channels last for imshow, in [0, 1]
        axes.flat[0].imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    else:
        axes.flat[0].imshow(image[0], cmap="gray")
    axes.flat[0].set_title("input", fontsize=8)
    for c in range(n):
        axes.flat[c + 1].imshow(maps[c], cmap="magma")
        axes.flat[c + 1].set_title(f"ch {c}", fontsize=8)
    for ax in list(axes.flat)[n + 1:]:
        ax.axis("off")
    fig.suptitle(f"{layer}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}", fontsize=9)
    fig.tight_layout()
    return fig, maps


def feature_maps_widget(activations: dict, images: np.ndarray, max_maps: int = 16):
    """A layer dropdown and an image slider driving :func:`feature_maps_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    first = next(iter(activations.values()))
    return slider_plot(
        lambda layer, index: feature_maps_figure(activations, images, layer, index, max_maps),
        layer=widgets.Dropdown(options=list(activations), description="layer"),
        index=widgets.IntSlider(value=0, min=0, max=first.shape[0] - 1, description="image"),
    )


def speed_table_figure(seconds: dict[str, float], title: str = "one training step"):
    """Horizontal bars of run times (log scale) labelled with the speed-up against the slowest."""
    if not seconds:
        raise ValueError("seconds is empty")
    names = list(seconds)
    t = np.array([seconds[k] for k in names], dtype=float)
    if np.any(t <= 0):
        raise ValueError(f"times must be positive, got {seconds}")
    fig = figure(figsize=(6, 0.5 + 0.5 * len(names)))
    ax = fig.subplots()
    ax.barh(names, t * 1e3)
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds")
    for i, v in enumerate(t):
        ax.text(v * 1e3, i, f"  x{t.max() / v:.1f}", va="center", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig, dict(zip(names, t.max() / t))
