"""Plots and controls of lab 10 (recurrent networks and LSTMs).

Update functions return ``(figure, data)`` and never touch pyplot's global state, so the
lab can call them once for a static figure and the tests can check the data headlessly.

Example:
    >>> import numpy as np
    >>> fig, probs = temperature_figure(np.array([2.0, 1.0, 0.0]), 1.0, vocab="abc")
    >>> round(float(probs.sum()), 6)
    1.0
"""

from __future__ import annotations

import numpy as np

from ..sequence.gradient_flow import gradient_norms_through_time, lstm_gradient_norms
from .draw import figure

__all__ = [
    "softmax_with_temperature", "entropy_bits", "temperature_figure",
    "gradient_flow_figure", "gradient_flow_widget", "sampling_widget", "memory_figure",
]


def softmax_with_temperature(logits, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` along the last axis (stable for large logits).

    ``T -> 0`` approaches the arg-max (one-hot), ``T = 1`` is the model's distribution and
    ``T -> inf`` approaches the uniform distribution.
    """
    from i2dl_lab.nn.losses import softmax

    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature), axis=-1)


def entropy_bits(probs: np.ndarray) -> float:
    """Shannon entropy of one distribution in bits (0 for one-hot, log2(V) for uniform)."""
    p = np.asarray(probs, dtype=np.float64)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def temperature_figure(logits, temperature: float, vocab=None, top: int = 20):
    """Bar chart of the next-symbol distribution at ``temperature``; returns ``(fig, probs)``.

    Args:
        logits: (V,) scores of the V symbols.
        temperature: T > 0.
        vocab: V labels (a string or a sequence); indices are used when omitted.
        top: how many of the most likely symbols to draw.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1:
        raise ValueError(f"logits must have shape (V,), got {logits.shape}")
    probs = softmax_with_temperature(logits, temperature)
    labels = list(vocab) if vocab is not None else [str(i) for i in range(len(logits))]
    if len(labels) != len(logits):
        raise ValueError(f"vocab has {len(labels)} symbols but logits has {len(logits)}")
    order = np.argsort(-logits)[:top]
    fig = figure(figsize=(7, 2.8))
    ax = fig.subplots()
    ax.bar(range(len(order)), probs[order], color="tab:blue")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([repr(labels[i])[1:-1] or " " for i in order])
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(f"T = {temperature:g}: entropy {entropy_bits(probs):.2f} bits "
                 f"(uniform would be {np.log2(len(logits)):.2f})")
    fig.tight_layout()
    return fig, probs


def gradient_flow_figure(scale: float = 1.0, steps: int = 50, hidden: int = 32, clip: float | None = None,
                         seed: int = 0):
    """Gradient norm against the number of steps it travelled back, on a log scale.

    Draws ``scale`` (the slider) together with the bound ``(scale * max tanh')^k`` that the
    lecture derives; returns ``(fig, norms)``.
    """
    norms = gradient_norms_through_time(scale, steps, hidden, seed)
    back = np.arange(steps)[::-1]  # steps travelled back from the last one
    fig = figure(figsize=(6.5, 3.4))
    ax = fig.subplots()
    ax.semilogy(back, np.maximum(norms, 1e-300), "o-", ms=3, label=f"tanh RNN, ||W_hh|| = {scale:g}")
    ax.semilogy(back, np.maximum(float(scale) ** back.astype(float), 1e-300), "--", color="gray",
                label=r"bound $(\gamma_W \gamma_\phi)^k$ with $\gamma_\phi = 1$")
    if clip is not None:
        ax.axhline(clip, color="tab:red", lw=1, label=f"clip threshold {clip:g}")
    ax.set_xlabel("k = steps travelled backwards in time")
    ax.set_ylabel(r"$\|\partial L / \partial a_{T-k}\|$")
    ax.set_ylim(1e-12, 1e6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, norms


def memory_figure(steps: int = 60, hidden: int = 32, rnn_scale: float = 1.0, forget_biases=(0.0, 3.0),
                  seed: int = 0):
    """Gradient reaching step ``T - k``, tanh RNN against LSTMs with different forget biases.

    Each curve is divided by its value at ``k = 0`` so that they start together.
    Returns ``(fig, curves)`` with ``curves[label] = normalised norms`` (index 0 = last step).
    """
    curves = {}
    rnn = gradient_norms_through_time(rnn_scale, steps, hidden, seed)[::-1]
    curves[f"tanh RNN, ||W_hh|| = {rnn_scale:g}"] = rnn / rnn[0]
    for fb in forget_biases:
        lstm = lstm_gradient_norms(steps, hidden, fb, seed)[::-1]
        curves[f"LSTM, forget bias {fb:g}"] = lstm / lstm[0]
    fig = figure(figsize=(6.5, 3.4))
    ax = fig.subplots()
    for label, c in curves.items():
        ax.semilogy(np.arange(steps), np.maximum(c, 1e-300), label=label)
    ax.set_xlabel("k = steps travelled backwards in time")
    ax.set_ylabel("gradient norm (relative to k = 0)")
    ax.set_ylim(1e-12, 1e3)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, curves


def gradient_flow_widget(steps: int = 50, hidden: int = 32):
    """A slider for the norm of the recurrent matrix driving :func:`gradient_flow_figure`."""
    import ipywidgets as widgets

    from . import slider_plot

    return slider_plot(
        lambda scale: gradient_flow_figure(scale, steps=steps, hidden=hidden),
        scale=widgets.FloatSlider(value=1.0, min=0.2, max=3.0, step=0.1, description="||W_hh||"),
    )


def sampling_widget(sample_fn, next_logits_fn, prompt: str, vocab):
    """Temperature slider: a sampled text and the next-symbol distribution after ``prompt``.

    Args:
        sample_fn: ``sample_fn(temperature) -> str``.
        next_logits_fn: ``next_logits_fn(prompt) -> (V,) logits``.
        prompt: the text the model continues.
        vocab: the V symbols.
    """
    import ipywidgets as widgets

    from . import slider_plot

    logits = next_logits_fn(prompt)

    def update(temperature):
        fig, probs = temperature_figure(logits, temperature, vocab)
        text = sample_fn(temperature)
        fig.suptitle(repr(text[:90]), fontsize=8, family="monospace")
        fig.tight_layout()
        return fig, text

    return slider_plot(update, temperature=widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=0.5,
                                                                 step=0.05, description="T"))
