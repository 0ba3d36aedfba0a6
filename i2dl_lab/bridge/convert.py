"""NumPy <-> torch conversion: ``to_torch(np_module)``, ``from_torch(torch_module)``, ``compare``.

A registry maps each NumPy layer class to a torch module with the same weights and back.
Layouts differ in a few places, and the converters below are where that knowledge lives:

* ``Linear``: NumPy ``W`` is (D, M) (``x @ W``); torch's ``weight`` is (M, D) (``x @ W.T``).
* ``BatchNorm``: NumPy follows CS231n, ``running = m * running + (1 - m) * batch``; torch
  uses ``running = (1 - m') * running + m' * batch``, so ``m' = 1 - m``. (In training, torch
  updates ``running_var`` with the unbiased batch variance, NumPy with the biased one; the
  outputs and gradients are the same.)
* ``LSTM``: NumPy gate blocks are ``i, f, o, g``; torch's are ``i, f, g, o``. The NumPy RNN
  and LSTM have one bias ``b``; torch has ``bias_ih + bias_hh`` (converted as ``b`` and 0).
* Attention masks: NumPy uses True = attend, torch True = masked out.

Recurrent and attention layers become small subclasses of the torch layers (``RNNLayer``,
``LSTMLayer``, ``GRULayer``, ``MultiheadAttentionLayer``, ``TransformerBlockLayer``) whose
``forward`` takes and returns what the NumPy module does (batch-first, outputs only), so a
converted ``Sequential`` runs unchanged.

Adding a layer is a few lines: write ``to_torch`` and ``from_torch`` functions and call
:func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nn import attention as _attention
from ..nn import conv as _conv
from ..nn import layers as _layers
from ..nn import normalization as _normalization
from ..nn import recurrent as _recurrent

__all__ = ["to_torch", "from_torch", "compare", "register", "supported_layers", "UnsupportedLayerError",
           "rel_error", "torch_grads_as_numpy", "RNNLayer", "LSTMLayer", "GRULayer", "MultiheadAttentionLayer",
           "TransformerBlockLayer", "PositionalEncodingLayer", "GlobalAvgPool2dLayer", "TemporalLinear"]


class UnsupportedLayerError(TypeError):
    """No converter is registered for a layer (the message names it and its position)."""


@dataclass
class _Converter:
    np_cls: type
    torch_cls: type
    to_torch: Callable  # (np_module, convert_child) -> torch module
    from_torch: Callable  # (torch_module, src, convert_child) -> np module


_BY_NP: dict[type, _Converter] = {}
_BY_TORCH: dict[type, _Converter] = {}


def register(np_cls: type, torch_cls: type, to_fn: Callable, from_fn: Callable, primary: bool = True) -> None:
    """Register a converter pair.

    Args:
        np_cls: the NumPy Module class.
        torch_cls: the torch class that ``to_fn`` returns (``from_torch`` dispatches on it).
        to_fn: ``to_fn(np_module, child) -> torch module``; ``child(m, name)`` converts a child.
        from_fn: ``from_fn(torch_module, src, child) -> np module``; read every tensor through
            ``src(tensor)`` (it yields the values, or the gradients when ``src.grad``).
        primary: also use this pair for ``from_torch`` of ``torch_cls`` (set False when
            several NumPy classes map onto one torch class).
    """
    conv = _Converter(np_cls, torch_cls, to_fn, from_fn)
    _BY_NP[np_cls] = conv
    if primary or torch_cls not in _BY_TORCH:
        _BY_TORCH[torch_cls] = conv


def supported_layers() -> list[str]:
    """Names of the NumPy layer classes that convert."""
    return sorted(c.__name__ for c in _BY_NP)


class _Src:
    """Reads torch tensors as NumPy arrays: values, or gradients (zeros where None)."""

    def __init__(self, grad: bool = False):
        self.grad = grad

    def __call__(self, t: torch.Tensor) -> np.ndarray:
        if self.grad:
            g = t.grad
            return np.zeros(tuple(t.shape)) if g is None else g.detach().cpu().numpy().copy()
        return t.detach().cpu().numpy().copy()


def _np_dtype(t: torch.Tensor):
    return np.float64 if t.dtype == torch.float64 else np.float32


def _set(m, name: str, value: np.ndarray, dtype) -> None:
    m.add_param(name, np.ascontiguousarray(value, dtype=dtype))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _copy_into(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(_t(value).to(param.dtype))


def _np_float_dtype(np_module) -> torch.dtype:
    for p in np_module.params.values():
        return torch.float64 if p.dtype == np.float64 else torch.float32
    return torch.float64


# ----------------------------------------------------------------------------- public API
def to_torch(module, dtype: torch.dtype | None = None) -> nn.Module:
    """An equivalent ``torch.nn.Module`` with copies of the weights (and buffers) of ``module``.

    Args:
        module: a NumPy Module built from supported layers (see :func:`supported_layers`).
        dtype: torch dtype of the result; default that of the NumPy parameters (float64).

    Raises:
        UnsupportedLayerError: naming the first layer without a converter and its path.

    Example:
        >>> from i2dl_lab.nn import Linear, ReLU, Sequential
        >>> net = to_torch(Sequential(Linear(4, 3, seed=0), ReLU()))
        >>> type(net[0]).__name__, tuple(net[0].weight.shape)
        ('Linear', (3, 4))
    """
    _ensure_registered()
    dtype = dtype or _np_float_dtype(module)
    # Build the torch layers directly in the target dtype so float64 weights are copied exactly.
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        out = _to(module, "")
    finally:
        torch.set_default_dtype(prev)
    return out.to(dtype)


def _to(module, path: str) -> nn.Module:
    conv = _BY_NP.get(type(module))
    if conv is None:
        where = f" at {path!r}" if path else ""
        raise UnsupportedLayerError(f"to_torch: no converter for NumPy layer {type(module).__name__}{where}; "
                                    f"supported layers: {', '.join(supported_layers())}")

    def child(m, name):
        return _to(m, f"{path}.{name}" if path else name)

    out = conv.to_torch(module, child)
    out.train(module.training)
    return out


def from_torch(module: nn.Module):
    """A NumPy Module equivalent to ``module`` (the inverse of :func:`to_torch`).

    Raises:
        UnsupportedLayerError: naming the first torch layer without a converter.
    """
    _ensure_registered()
    return _from(module, _Src(False), "")


def _from(module: nn.Module, src: _Src, path: str):
    conv = _BY_TORCH.get(type(module))
    if conv is None:
        where = f" at {path!r}" if path else ""
        known = sorted({c.__name__ for c in _BY_TORCH})
        raise UnsupportedLayerError(f"from_torch: no converter for torch layer {type(module).__name__}{where}; "
                                    f"supported torch layers: {', '.join(known)}")

    def child(m, name):
        return _from(m, src, f"{path}.{name}" if path else name)

    out = conv.from_torch(module, src, child)
    out.train(module.training)
    return out


def torch_grads_as_numpy(module: nn.Module) -> dict[str, np.ndarray]:
    """The ``.grad`` of every parameter of a converted torch module, keyed and laid out like
    the NumPy module's ``grads`` (e.g. ``"0.W"`` of shape (D, M) from ``0.weight.grad``)."""
    _ensure_registered()
    return dict(_from(module, _Src(True), "").params)


def rel_error(a, b, floor: float = 1e-8) -> float:
    """``max|a - b| / max(max|a|, max|b|, floor)``: the error relative to the arrays' scale.

    Unlike an elementwise ratio it does not blow up on entries that are zero up to rounding
    (e.g. the gradient of a bias that feeds a batchnorm, exactly zero in theory). ``floor``
    makes two arrays that are both zero up to rounding compare as equal.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(np.abs(a - b)) / scale)


def compare(np_module, torch_module: nn.Module, x, dout=None, seed: int = 0,
            forward_kwargs: dict | None = None) -> dict:
    """Run both modules on ``x`` and compare outputs, input gradients and parameter gradients.

    Both modules run in the NumPy module's mode (train/eval). The same upstream gradient
    ``dout`` (random normal from ``seed`` if not given) is back-propagated through both.

    Args:
        np_module: a NumPy Module.
        torch_module: the torch equivalent (e.g. ``to_torch(np_module)``).
        x: input array (float, or integer ids for an Embedding).
        dout: upstream gradient of the output's shape.
        forward_kwargs: extra keyword arguments for both forwards (e.g. masks).

    Returns:
        dict with ``out``, ``dx`` (None for integer inputs) and ``params`` (name -> relative
        error, see :func:`rel_error`; each gradient is measured against at least 1e-3 of the
        module's largest gradient) and ``max``, the largest of them all.
    """
    kw = dict(forward_kwargs or {})
    x = np.asarray(x)
    is_float = np.issubdtype(x.dtype, np.floating)
    torch_module.train(np_module.training)
    tdtype = next((p.dtype for p in torch_module.parameters()), torch.float64)
    xt = _t(x).to(tdtype) if is_float else _t(x).long()
    if is_float:
        xt.requires_grad_(True)
    for p in torch_module.parameters():
        p.grad = None
    out_t = torch_module(xt, **kw)
    out_np = np_module.forward(x, **kw)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out_np.shape)
    np_module.zero_grad()
    dx_np = np_module.backward(np.asarray(dout, dtype=out_np.dtype))
    out_t.backward(_t(np.asarray(dout)).to(out_t.dtype))
    res = {"out": rel_error(out_np, out_t.detach().cpu().numpy()), "dx": None, "params": {}}
    if is_float:
        res["dx"] = rel_error(dx_np, xt.grad.detach().cpu().numpy())
    tg = torch_grads_as_numpy(torch_module)
    grads = np_module.grads
    # Gradients that are zero in theory (a bias feeding a batchnorm, attention's key bias)
    # come out as rounding noise; measure every gradient against at least 1e-3 of the
    # module's largest one so that noise does not read as a relative error.
    gscale = max((float(np.max(np.abs(g))) for g in grads.values() if g.size), default=0.0)
    for name, g in grads.items():
        if name not in tg:
            raise KeyError(f"parameter {name!r} of the NumPy module has no counterpart in the torch module")
        res["params"][name] = rel_error(g, tg[name], floor=max(1e-8, 1e-3 * gscale))
    vals = [res["out"], *(res["params"].values())] + ([res["dx"]] if res["dx"] is not None else [])
    res["max"] = float(max(vals))
    return res


# ----------------------------------------------------------------------------- torch adapters
class RNNLayer(nn.RNN):
    """``nn.RNN`` (tanh, batch-first, one layer) called like the NumPy RNN: ``forward(x, h0=None) -> h`` (N, T, H)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x, h0=None):
        out, _ = super().forward(x, None if h0 is None else h0.unsqueeze(0))
        return out


class LSTMLayer(nn.LSTM):
    """``nn.LSTM`` called like the NumPy LSTM: ``forward(x, h0=None, c0=None) -> h`` (N, T, H)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x, h0=None, c0=None):
        state = None
        if h0 is not None or c0 is not None:
            N, H = x.shape[0], self.hidden_size
            h0 = torch.zeros(N, H, dtype=x.dtype) if h0 is None else h0
            c0 = torch.zeros(N, H, dtype=x.dtype) if c0 is None else c0
            state = (h0.unsqueeze(0), c0.unsqueeze(0))
        out, _ = super().forward(x, state)
        return out


class GRULayer(nn.GRU):
    """``nn.GRU`` called like the NumPy GRU: ``forward(x, h0=None) -> h`` (N, T, H)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x, h0=None):
        out, _ = super().forward(x, None if h0 is None else h0.unsqueeze(0))
        return out


def _torch_masks(T_q, T_k, attn_mask, key_padding_mask, is_causal, device):
    # NumPy masks: True = attend. torch boolean masks: True = blocked.
    am = None if attn_mask is None else ~torch.as_tensor(np.asarray(attn_mask) if not torch.is_tensor(attn_mask)
                                                          else attn_mask, dtype=torch.bool, device=device)
    if is_causal:
        causal = torch.ones(T_q, T_k, dtype=torch.bool, device=device).triu(1)
        am = causal if am is None else (am | causal)
    kpm = None if key_padding_mask is None else ~torch.as_tensor(
        np.asarray(key_padding_mask) if not torch.is_tensor(key_padding_mask) else key_padding_mask,
        dtype=torch.bool, device=device)
    return am, kpm


class MultiheadAttentionLayer(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` (batch-first) called like the NumPy MultiHeadAttention:
    ``forward(query, key=None, value=None, attn_mask=None, key_padding_mask=None, is_causal=False)``
    with True = attend masks; returns the output only and keeps ``attention_weights`` (N, h, T_q, T_k)."""

    def __init__(self, embed_dim: int, num_heads: int, kdim: int | None = None, vdim: int | None = None):
        super().__init__(embed_dim, num_heads, batch_first=True, kdim=kdim, vdim=vdim)
        self.attention_weights = None

    def forward(self, query, key=None, value=None, attn_mask=None, key_padding_mask=None, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        am, kpm = _torch_masks(query.shape[1], key.shape[1], attn_mask, key_padding_mask, is_causal, query.device)
        out, w = super().forward(query, key, value, key_padding_mask=kpm, attn_mask=am, need_weights=True,
                                 average_attn_weights=False)
        self.attention_weights = w.detach()
        return out


class TransformerBlockLayer(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` (ReLU, no dropout, batch-first) called like the NumPy
    TransformerBlock: ``forward(x, attn_mask=None, key_padding_mask=None, is_causal=False)``."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, norm_first: bool = False, eps: float = 1e-5):
        super().__init__(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True, norm_first=norm_first,
                         layer_norm_eps=eps)

    def forward(self, x, attn_mask=None, key_padding_mask=None, is_causal=False):
        am, kpm = _torch_masks(x.shape[1], x.shape[1], attn_mask, key_padding_mask, is_causal, x.device)
        return super().forward(x, src_mask=am, src_key_padding_mask=kpm)


class PositionalEncodingLayer(nn.Module):
    """Adds a fixed sinusoidal table ``pe`` (max_len, D) to (N, T, D) inputs."""

    def __init__(self, pe: np.ndarray, base: float = 10000.0):
        super().__init__()
        self.register_buffer("pe", _t(np.asarray(pe)))
        self.base = base

    def forward(self, x):
        return x + self.pe[: x.shape[1]].to(x.dtype)


class GlobalAvgPool2dLayer(nn.Module):
    """``(N, C, H, W) -> (N, C)``: the mean over all positions of each channel."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class TemporalLinear(nn.Linear):
    """``nn.Linear`` applied at every time step; the torch side of the NumPy TemporalAffine."""


# ----------------------------------------------------------------------------- registrations
_REGISTERED = False


def _register_layers(L) -> None:
    def lin_to(m, child):
        t = nn.Linear(m.in_features, m.out_features, bias=m.use_bias)
        _copy_into(t.weight, m.W.T)  # (D, M) -> (M, D)
        if m.use_bias:
            _copy_into(t.bias, m.b)
        return t

    def lin_from(t, src, child):
        dt = _np_dtype(t.weight)
        m = L.Linear(t.in_features, t.out_features, bias=t.bias is not None, dtype=dt)
        _set(m, "W", src(t.weight).T, dt)
        if t.bias is not None:
            _set(m, "b", src(t.bias), dt)
        return m

    register(L.Linear, nn.Linear, lin_to, lin_from)

    def simple(np_cls, torch_cls, np_kw: Callable = lambda m: {}, torch_kw: Callable = lambda t: {}):
        register(np_cls, torch_cls, lambda m, child: torch_cls(**np_kw(m)),
                 lambda t, src, child: np_cls(**torch_kw(t)))

    simple(L.ReLU, nn.ReLU)
    simple(L.Sigmoid, nn.Sigmoid)
    simple(L.Tanh, nn.Tanh)
    simple(L.Identity, nn.Identity)
    simple(L.LeakyReLU, nn.LeakyReLU, lambda m: {"negative_slope": m.negative_slope},
           lambda t: {"negative_slope": t.negative_slope})
    simple(L.ELU, nn.ELU, lambda m: {"alpha": m.alpha}, lambda t: {"alpha": t.alpha})
    simple(L.Softplus, nn.Softplus, lambda m: {"beta": m.beta, "threshold": m.threshold},
           lambda t: {"beta": t.beta, "threshold": t.threshold})
    simple(L.Hardtanh, nn.Hardtanh, lambda m: {"min_val": m.min_val, "max_val": m.max_val},
           lambda t: {"min_val": t.min_val, "max_val": t.max_val})

    def prelu_to(m, child):
        t = nn.PReLU(m.num_parameters, init=m.init)
        _copy_into(t.weight, m.alpha)
        return t

    def prelu_from(t, src, child):
        dt = _np_dtype(t.weight)
        m = L.PReLU(t.num_parameters, dtype=dt)
        _set(m, "alpha", src(t.weight), dt)
        return m

    register(L.PReLU, nn.PReLU, prelu_to, prelu_from)

    def seq_to(m, child):
        return nn.Sequential(*[child(c, str(i)) for i, c in enumerate(m)])

    def seq_from(t, src, child):
        return L.Sequential(*[child(c, name) for name, c in t.named_children()])

    register(L.Sequential, nn.Sequential, seq_to, seq_from)


def _register_conv(C) -> None:
    def conv_to(m, child):
        t = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                      bias=m.use_bias)
        _copy_into(t.weight, m.W)  # both (F, C, HH, WW)
        if m.use_bias:
            _copy_into(t.bias, m.b)
        return t

    def conv_from(t, src, child):
        if not (isinstance(t.stride[0], int) and t.stride[0] == t.stride[1] and isinstance(t.padding, tuple)
                and t.padding[0] == t.padding[1] and t.dilation == (1, 1) and t.groups == 1
                and t.padding_mode == "zeros"):
            raise UnsupportedLayerError(f"from_torch: Conv2d with stride={t.stride}, padding={t.padding}, "
                                        f"dilation={t.dilation}, groups={t.groups} has no NumPy equivalent "
                                        f"(square stride/padding, no dilation or groups)")
        dt = _np_dtype(t.weight)
        m = C.Conv2d(t.in_channels, t.out_channels, t.kernel_size, stride=t.stride[0], padding=t.padding[0],
                     bias=t.bias is not None, dtype=dt)
        _set(m, "W", src(t.weight), dt)
        if t.bias is not None:
            _set(m, "b", src(t.bias), dt)
        return m

    register(C.Conv2d, nn.Conv2d, conv_to, conv_from)

    def pool(np_cls, torch_cls):
        def to(m, child):
            return torch_cls(m.kernel_size, stride=m.stride)

        def frm(t, src, child):
            if t.padding not in (0, (0, 0)) or getattr(t, "ceil_mode", False):
                raise UnsupportedLayerError(f"from_torch: {torch_cls.__name__} with padding={t.padding} or "
                                            f"ceil_mode has no NumPy equivalent")
            stride = t.stride if isinstance(t.stride, int) else t.stride[0]
            return np_cls(t.kernel_size, stride=stride)

        register(np_cls, torch_cls, to, frm)

    pool(C.MaxPool2d, nn.MaxPool2d)
    pool(C.AvgPool2d, nn.AvgPool2d)
    register(C.Flatten, nn.Flatten, lambda m, child: nn.Flatten(), lambda t, src, child: C.Flatten())
    register(C.GlobalAvgPool2d, GlobalAvgPool2dLayer, lambda m, child: GlobalAvgPool2dLayer(),
             lambda t, src, child: C.GlobalAvgPool2d())


def _register_norm(Nm) -> None:
    def bn(np_cls, torch_cls):
        def to(m, child):
            # CS231n momentum m keeps m of the old running value; torch's momentum is the new share.
            t = torch_cls(m.num_features, eps=m.eps, momentum=1.0 - m.momentum)
            _copy_into(t.weight, m.gamma)
            _copy_into(t.bias, m.beta)
            _copy_into(t.running_mean, m.running_mean)
            _copy_into(t.running_var, m.running_var)
            return t

        def frm(t, src, child):
            if not t.affine or not t.track_running_stats or t.momentum is None:
                raise UnsupportedLayerError(f"from_torch: {torch_cls.__name__} needs affine=True, "
                                            f"track_running_stats=True and a momentum")
            dt = _np_dtype(t.weight)
            m = np_cls(t.num_features, eps=t.eps, momentum=1.0 - t.momentum, dtype=dt)
            _set(m, "gamma", src(t.weight), dt)
            _set(m, "beta", src(t.bias), dt)
            m.add_buffer("running_mean", t.running_mean.detach().cpu().numpy().astype(dt))
            m.add_buffer("running_var", t.running_var.detach().cpu().numpy().astype(dt))
            return m

        register(np_cls, torch_cls, to, frm)

    bn(Nm.BatchNorm1d, nn.BatchNorm1d)
    bn(Nm.BatchNorm2d, nn.BatchNorm2d)

    def ln_to(m, child):
        t = nn.LayerNorm(m.normalized_shape, eps=m.eps)
        _copy_into(t.weight, m.gamma)
        _copy_into(t.bias, m.beta)
        return t

    def ln_from(t, src, child):
        if len(t.normalized_shape) != 1 or t.weight is None:
            raise UnsupportedLayerError(f"from_torch: LayerNorm over {t.normalized_shape} (NumPy normalises the "
                                        f"last axis only, with affine parameters)")
        dt = _np_dtype(t.weight)
        m = Nm.LayerNorm(t.normalized_shape[0], eps=t.eps, dtype=dt)
        _set(m, "gamma", src(t.weight), dt)
        _set(m, "beta", src(t.bias), dt)
        return m

    register(Nm.LayerNorm, nn.LayerNorm, ln_to, ln_from)

    def gn_to(m, child):
        t = nn.GroupNorm(m.num_groups, m.num_channels, eps=m.eps)
        _copy_into(t.weight, m.gamma)
        _copy_into(t.bias, m.beta)
        return t

    def gn_from(t, src, child):
        dt = _np_dtype(t.weight)
        m = Nm.GroupNorm(t.num_groups, t.num_channels, eps=t.eps, dtype=dt)
        _set(m, "gamma", src(t.weight), dt)
        _set(m, "beta", src(t.bias), dt)
        return m

    register(Nm.GroupNorm, nn.GroupNorm, gn_to, gn_from)
    register(Nm.LocalResponseNorm, nn.LocalResponseNorm,
             lambda m, child: nn.LocalResponseNorm(m.size, alpha=m.alpha, beta=m.beta, k=m.k),
             lambda t, src, child: Nm.LocalResponseNorm(t.size, alpha=t.alpha, beta=t.beta, k=t.k))
    register(Nm.Dropout, nn.Dropout, lambda m, child: nn.Dropout(m.p), lambda t, src, child: Nm.Dropout(t.p))




def _lstm_perm(H: int) -> np.ndarray:
    # Row indices taking NumPy gate blocks (i, f, o, g) to torch's (i, f, g, o); it is its own inverse.
    blocks = [0, 1, 3, 2]
    return np.concatenate([np.arange(b * H, (b + 1) * H) for b in blocks])


def _register_recurrent(R) -> None:
    def emb_to(m, child):
        t = nn.Embedding(m.num_embeddings, m.embedding_dim)
        _copy_into(t.weight, m.W)
        return t

    def emb_from(t, src, child):
        if t.padding_idx is not None or t.max_norm is not None:
            raise UnsupportedLayerError("from_torch: Embedding with padding_idx or max_norm has no NumPy equivalent")
        dt = _np_dtype(t.weight)
        m = R.Embedding(t.num_embeddings, t.embedding_dim, dtype=dt)
        _set(m, "W", src(t.weight), dt)
        return m

    register(R.Embedding, nn.Embedding, emb_to, emb_from)

    def rnn_like(np_cls, torch_cls, perm: bool, two_biases: bool):
        def to(m, child):
            t = torch_cls(m.input_size, m.hidden_size)
            idx = _lstm_perm(m.hidden_size) if perm else slice(None)
            _copy_into(t.weight_ih_l0, m.Wx.T[idx])  # (D, G*H) -> (G*H, D)
            _copy_into(t.weight_hh_l0, m.Wh.T[idx])
            if two_biases:
                _copy_into(t.bias_ih_l0, m.bx)
                _copy_into(t.bias_hh_l0, m.bh)
            else:
                _copy_into(t.bias_ih_l0, m.b[idx])
                _copy_into(t.bias_hh_l0, np.zeros_like(m.b))
            return t

        def frm(t, src, child):
            if t.num_layers != 1 or t.bidirectional or not t.batch_first or not t.bias or \
                    getattr(t, "proj_size", 0) or getattr(t, "nonlinearity", "tanh") != "tanh":
                raise UnsupportedLayerError(f"from_torch: {type(t).__name__} must be one layer, unidirectional, "
                                            f"batch_first, with biases (tanh for RNN) to match the NumPy layer")
            dt = _np_dtype(t.weight_ih_l0)
            m = np_cls(t.input_size, t.hidden_size, dtype=dt)
            idx = _lstm_perm(t.hidden_size) if perm else slice(None)
            _set(m, "Wx", src(t.weight_ih_l0)[idx].T, dt)
            _set(m, "Wh", src(t.weight_hh_l0)[idx].T, dt)
            if two_biases:
                _set(m, "bx", src(t.bias_ih_l0), dt)
                _set(m, "bh", src(t.bias_hh_l0), dt)
            else:
                # Values: b = bias_ih + bias_hh. Gradients: both torch biases get the same
                # gradient, which is the gradient of b (not their sum).
                b = src(t.bias_ih_l0) if src.grad else src(t.bias_ih_l0) + src(t.bias_hh_l0)
                _set(m, "b", b[idx], dt)
            return m

        register(np_cls, torch_cls, to, frm)
        base = torch_cls.__mro__[1]  # plain nn.RNN / nn.LSTM / nn.GRU convert too (if batch-first)
        _BY_TORCH.setdefault(base, _BY_TORCH[torch_cls])

    rnn_like(R.RNN, RNNLayer, perm=False, two_biases=False)
    rnn_like(R.LSTM, LSTMLayer, perm=True, two_biases=False)
    rnn_like(R.GRU, GRULayer, perm=False, two_biases=True)

    def ta_to(m, child):
        t = TemporalLinear(m.in_features, m.out_features)
        _copy_into(t.weight, m.W.T)
        _copy_into(t.bias, m.b)
        return t

    def ta_from(t, src, child):
        dt = _np_dtype(t.weight)
        m = R.TemporalAffine(t.in_features, t.out_features, dtype=dt)
        _set(m, "W", src(t.weight).T, dt)
        _set(m, "b", src(t.bias), dt)
        return m

    register(R.TemporalAffine, TemporalLinear, ta_to, ta_from)


def _mha_params_to(t: nn.MultiheadAttention, p: dict, prefix: str = "") -> None:
    D = t.embed_dim
    if t._qkv_same_embed_dim:
        _copy_into(t.in_proj_weight, np.concatenate([p["Wq"].T, p["Wk"].T, p["Wv"].T]))  # (3D, D)
    else:
        _copy_into(t.q_proj_weight, p["Wq"].T)
        _copy_into(t.k_proj_weight, p["Wk"].T)  # (D, kdim)
        _copy_into(t.v_proj_weight, p["Wv"].T)
    _copy_into(t.in_proj_bias, np.concatenate([p["bq"], p["bk"], p["bv"]]))
    _copy_into(t.out_proj.weight, p["Wo"].T)
    _copy_into(t.out_proj.bias, p["bo"])
    assert t.in_proj_bias.shape[0] == 3 * D


def _mha_params_from(t: nn.MultiheadAttention, src: _Src) -> dict:
    D = t.embed_dim
    if t._qkv_same_embed_dim:
        w = src(t.in_proj_weight)
        Wq, Wk, Wv = w[:D].T, w[D:2 * D].T, w[2 * D:].T
    else:
        Wq, Wk, Wv = src(t.q_proj_weight).T, src(t.k_proj_weight).T, src(t.v_proj_weight).T
    b = src(t.in_proj_bias)
    return {"Wq": Wq, "bq": b[:D], "Wk": Wk, "bk": b[D:2 * D], "Wv": Wv, "bv": b[2 * D:],
            "Wo": src(t.out_proj.weight).T, "bo": src(t.out_proj.bias)}


def _register_attention(A) -> None:
    def mha_to(m, child):
        t = MultiheadAttentionLayer(m.embed_dim, m.num_heads, kdim=m.kdim, vdim=m.vdim)
        _mha_params_to(t, m.params)
        return t

    def mha_from(t, src, child):
        if t.in_proj_bias is None or t.bias_k is not None or t.add_zero_attn or not t.batch_first or t.dropout:
            raise UnsupportedLayerError("from_torch: MultiheadAttention must be batch_first with biases, no "
                                        "bias_k/v, no add_zero_attn and no dropout to match the NumPy layer")
        dt = _np_dtype(t.out_proj.weight)
        m = A.MultiHeadAttention(t.embed_dim, t.num_heads, kdim=t.kdim, vdim=t.vdim, dtype=dt)
        for k, v in _mha_params_from(t, src).items():
            _set(m, k, v, dt)
        return m

    register(A.MultiHeadAttention, MultiheadAttentionLayer, mha_to, mha_from)

    def tb_to(m, child):
        t = TransformerBlockLayer(m.d_model, m.num_heads, m.dim_feedforward, norm_first=m.norm_first, eps=m.eps)
        p = m.params
        _mha_params_to(t.self_attn, p)
        _copy_into(t.linear1.weight, p["W1"].T)
        _copy_into(t.linear1.bias, p["b1"])
        _copy_into(t.linear2.weight, p["W2"].T)
        _copy_into(t.linear2.bias, p["b2"])
        for i in ("1", "2"):
            _copy_into(getattr(t, "norm" + i).weight, p["gamma" + i])
            _copy_into(getattr(t, "norm" + i).bias, p["beta" + i])
        return t

    def tb_from(t, src, child):
        dt = _np_dtype(t.linear1.weight)
        m = A.TransformerBlock(t.self_attn.embed_dim, t.self_attn.num_heads, t.linear1.out_features,
                               norm_first=t.norm_first, eps=t.norm1.eps, dtype=dt)
        vals = _mha_params_from(t.self_attn, src)
        vals.update(W1=src(t.linear1.weight).T, b1=src(t.linear1.bias), W2=src(t.linear2.weight).T,
                    b2=src(t.linear2.bias), gamma1=src(t.norm1.weight), beta1=src(t.norm1.bias),
                    gamma2=src(t.norm2.weight), beta2=src(t.norm2.bias))
        for k, v in vals.items():
            _set(m, k, v, dt)
        return m

    register(A.TransformerBlock, TransformerBlockLayer, tb_to, tb_from)

    register(A.PositionalEncoding, PositionalEncodingLayer,
             lambda m, child: PositionalEncodingLayer(m.pe, m.base),
             lambda t, src, child: A.PositionalEncoding(t.pe.shape[1], max_len=t.pe.shape[0], base=t.base))


def _ensure_registered() -> None:
    """Register the converters of every NumPy layer module once, on first use."""
    global _REGISTERED
    if _REGISTERED:
        return
    _register_layers(_layers)
    _register_conv(_conv)
    _register_norm(_normalization)
    _register_recurrent(_recurrent)
    _register_attention(_attention)
    _REGISTERED = True
