"""Plots and controls of lab 14 (sequence to sequence with cross-attention).

The heat map itself is lab 11's :func:`~i2dl_lab.widgets.lab11.attention_map_figure`; this
module picks the decoder layer, the example and the head, and labels the axes with tokens.

Example:
    >>> import numpy as np
    >>> w = [np.full((2, 1, 3, 4), 0.25)]
    >>> fig, m = cross_attention_figure(w, [list("abcd")] * 2, [list("xyz")] * 2, example=1)
    >>> m.shape
    (3, 4)
"""

from __future__ import annotations

import numpy as np

from .lab11 import attention_map_figure

__all__ = ["cross_attention_figure", "cross_attention_widget"]


def cross_attention_figure(weights, src_tokens, out_tokens, example: int = 0, layer: int = -1, head: int = 0):
    """Cross-attention of one decoder layer: which source token each output token looked at.

    Args:
        weights: one (N, h, T, S) array per decoder layer.
        src_tokens: N lists of source tokens (the keys; padding beyond each list is cut off).
        out_tokens: N lists of output tokens (the queries).
        example, layer, head: what to draw.

    Returns:
        ``(fig, matrix)`` with the (len(out), len(src)) weights drawn.
    """
    if not weights:
        raise ValueError("no attention weights given")
    if not -len(weights) <= layer < len(weights):
        raise ValueError(f"layer must index the {len(weights)} decoder layers, got {layer}")
    w = np.asarray(weights[layer], dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"each layer's weights must be (N, h, T, S), got shape {w.shape}")
    if not 0 <= example < w.shape[0]:
        raise ValueError(f"example must index the batch of {w.shape[0]}, got {example}")
    src, out = list(src_tokens[example]), list(out_tokens[example])
    sub = w[example:example + 1, :, :len(out), :len(src)]
    layer_no = layer % len(weights)
    return attention_map_figure(sub, 0, head, query_labels=out, key_labels=src,
                                title=f"decoder layer {layer_no}, head {head}: cross-attention")


def cross_attention_widget(weights, src_tokens, out_tokens):
    """Sliders for the example, the decoder layer and the head driving :func:`cross_attention_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    n, h = np.shape(weights[0])[:2]
    return slider_plot(lambda example, layer, head: cross_attention_figure(weights, src_tokens, out_tokens,
                                                                           example, layer, head),
                       example=widgets.IntSlider(value=0, min=0, max=n - 1, description="example"),
                       layer=widgets.IntSlider(value=len(weights) - 1, min=0, max=len(weights) - 1,
                                               description="layer"),
                       head=widgets.IntSlider(value=0, min=0, max=h - 1, description="head"))
