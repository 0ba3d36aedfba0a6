"""Plots and controls of lab 11 (attention and transformers).

Update functions return ``(figure, data)`` built without pyplot, so the lab calls them once
for a static picture and the tests check the data headlessly.

Example:
    >>> import numpy as np
    >>> fig, w = attention_map_figure(np.full((1, 1, 2, 2), 0.5), head=0)
    >>> w.shape
    (2, 2)
"""

from __future__ import annotations

import numpy as np

from .draw import figure

__all__ = ["attention_map_figure", "attention_widget", "positional_encoding_figure", "score_scaling",
           "scaling_figure", "scaling_widget"]


def _select(weights, example: int, head: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        return w
    if w.ndim == 3:  # (N, T_q, T_k)
        return w[example]
    if w.ndim == 4:  # (N, h, T_q, T_k)
        if not 0 <= head < w.shape[1]:
            raise ValueError(f"head must be in [0, {w.shape[1]}), got {head}")
        return w[example, head]
    raise ValueError(f"weights must be (T_q, T_k), (N, T_q, T_k) or (N, h, T_q, T_k), got shape {w.shape}")


def attention_map_figure(weights, example: int = 0, head: int = 0, query_labels=None, key_labels=None,
                         title: str | None = None):
    """Heat map of one attention matrix: row = query position, column = key position.

    Args:
        weights: (T_q, T_k), (N, T_q, T_k) or (N, h, T_q, T_k) attention weights.
        example, head: which matrix to draw.
        query_labels, key_labels: tick labels (e.g. the tokens).

    Returns:
        ``(fig, matrix)`` with the (T_q, T_k) matrix drawn.
    """
    if not np.isscalar(example) or not 0 <= int(example) < max(1, np.shape(weights)[0]):
        raise ValueError(f"example must index the batch of {np.shape(weights)[0]}, got {example!r}")
    w = _select(weights, int(example), int(head))
    Tq, Tk = w.shape
    fig = figure(figsize=(1.2 + 0.42 * Tk, 1.0 + 0.42 * Tq))
    ax = fig.subplots()
    im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(Tk))
    ax.set_yticks(range(Tq))
    if key_labels is not None:
        ax.set_xticklabels([str(t) for t in key_labels])
    if query_labels is not None:
        ax.set_yticklabels([str(t) for t in query_labels])
    ax.set_xlabel("key (input position)")
    ax.set_ylabel("query (output position)")
    ax.set_title(title or f"example {example}, head {head}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig, w


def attention_widget(weights, inputs, outputs=None):
    """Sliders for the example and the head of (N, h, T_q, T_k) ``weights``.

    ``inputs`` (N, T_k) label the keys and ``outputs`` (N, T_q) the queries.
    """
    import ipywidgets as widgets

    from . import slider_plot

    w = np.asarray(weights)
    n_heads = w.shape[1] if w.ndim == 4 else 1

    def update(example, head):
        q = None if outputs is None else outputs[example]
        return attention_map_figure(w, example, head, query_labels=q, key_labels=inputs[example])

    return slider_plot(update, example=widgets.IntSlider(value=0, min=0, max=w.shape[0] - 1, description="example"),
                       head=widgets.IntSlider(value=0, min=0, max=n_heads - 1, description="head"))


def positional_encoding_figure(T: int = 50, d_model: int = 32):
    """The sinusoidal encoding as an image and the similarity of positions; returns ``(fig, pe)``.

    The right panel shows ``PE[i] . PE[j]``: it depends only on ``i - j`` and is largest on
    the diagonal, so nearby positions look alike.
    """
    from i2dl_lab.nn.functional import sinusoidal_positional_encoding

    pe = sinusoidal_positional_encoding(T, d_model)
    fig = figure(figsize=(10, 3.4))
    a1, a2 = fig.subplots(1, 2)
    im = a1.imshow(pe.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    a1.set_xlabel("position t")
    a1.set_ylabel("feature (even: sin, odd: cos)")
    a1.set_title("PE[t, :]")
    fig.colorbar(im, ax=a1)
    sim = pe @ pe.T
    im2 = a2.imshow(sim, cmap="viridis")
    a2.set_xlabel("position j")
    a2.set_ylabel("position i")
    a2.set_title("PE[i] . PE[j]")
    fig.colorbar(im2, ax=a2)
    fig.tight_layout()
    return fig, pe


def score_scaling(d_k: int, n_keys: int = 16, samples: int = 200, scaled: bool = True, seed: int = 0) -> dict:
    """What the 1/sqrt(d_k) factor does to softmax attention over random unit-variance q, k.

    Returns:
        dict with ``score_std`` (standard deviation of the scores), ``max_weight`` (mean of
        the largest weight per query: 1 means one-hot, saturated) and ``entropy`` (mean
        entropy in bits; ``log2(n_keys)`` means uniform).
    """
    if d_k < 1 or n_keys < 1:
        raise ValueError(f"d_k and n_keys must be >= 1, got d_k={d_k}, n_keys={n_keys}")
    from i2dl_lab.nn.losses import softmax

    rng = np.random.default_rng(seed)
    q = rng.standard_normal((samples, 1, d_k))
    k = rng.standard_normal((samples, n_keys, d_k))
    scores = (q @ k.transpose(0, 2, 1))[:, 0]  # (samples, n_keys)
    if scaled:
        scores = scores / np.sqrt(d_k)
    p = softmax(scores, axis=-1)
    ent = -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=-1)
    return {"score_std": float(scores.std()), "max_weight": float(p.max(axis=-1).mean()), "entropy": float(ent.mean())}


def scaling_figure(d_k: int = 64, n_keys: int = 16, seed: int = 0):
    """Attention weights of one random query, with and without the 1/sqrt(d_k) scaling.

    Returns ``(fig, {"scaled": stats, "unscaled": stats})`` with :func:`score_scaling` stats.
    """
    from i2dl_lab.nn.losses import softmax

    rng = np.random.default_rng(seed)
    q = rng.standard_normal(d_k)
    k = rng.standard_normal((n_keys, d_k))
    raw = k @ q
    stats = {"scaled": score_scaling(d_k, n_keys, scaled=True, seed=seed),
             "unscaled": score_scaling(d_k, n_keys, scaled=False, seed=seed)}
    fig = figure(figsize=(9, 3))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (name, s) in zip(axes, (("unscaled", raw), ("scaled", raw / np.sqrt(d_k)))):
        ax.bar(range(n_keys), softmax(s))
        st = stats[name]
        ax.set_title(f"{name}: score std {st['score_std']:.1f}, mean max weight {st['max_weight']:.2f}", fontsize=9)
        ax.set_xlabel("key")
    axes[0].set_ylabel("attention weight")
    axes[0].set_ylim(0, 1)
    fig.suptitle(f"d_k = {d_k}")
    fig.tight_layout()
    return fig, stats


def scaling_widget(n_keys: int = 16):
    """A slider for d_k driving :func:`scaling_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(lambda d_k: scaling_figure(d_k, n_keys),
                       d_k=widgets.IntSlider(value=64, min=1, max=512, step=1, description="d_k"))
