"""Architecture calculators: output sizes, parameter counts, activation memory, receptive fields.

These answer the exam questions about convolutional architectures without building the
network: describe it with the lecture's shorthand and read off the table.

Shorthand (case-insensitive), as in the course material:

==============  ==========================================================================
``CONV5-10``    10 filters of 5x5xD (D = depth of the previous volume), stride 1, "same"
                padding ``(k - 1) // 2`` (so padding 2 for k = 5). ``CONV5-10/s2/p0`` sets
                stride and padding explicitly.
``C3D64``       VGG notation: 3x3 convolution to depth 64, stride 1, padding 1
                (``C1D256``: a 1x1 convolution).
``POOL2``       2x2 max pooling, stride 2, no padding; ``M`` is VGG's 2x2 max pool.
``AVGPOOL2``    2x2 average pooling, stride 2.
``FC-10``       fully connected layer with 10 outputs (``FC4096`` also accepted).
``LRN``, ``RELU``, ``BN``, ``S`` / ``SOFTMAX``, ``DROPOUT``
                shape-preserving layers (``BN`` has ``2*C`` parameters, the others none).
==============  ==========================================================================

Formulas (per axis; ``pad`` on each side):

* output size: ``out = (in + 2*pad - k) / stride + 1``
* conv parameters: ``F * C * k * k + F`` (weights + one bias per filter)
* fully connected parameters: ``in_features * out_features + out_features``
* activation memory: the number of values in the output volume times bytes per value
* receptive field: going back from one output pixel (``m = 1``) through a layer with kernel
  ``k`` and stride ``s``, ``m`` adjacent outputs see ``n = k + s * (m - 1)`` inputs; apply it
  layer by layer down to the image.

Example (the lecture's exam question):
    >>> stats = layer_stats("CONV5-10 POOL2 CONV5-10 POOL2 FC-10", input_shape=(1, 32, 32))
    >>> [(s.name, s.hwc, s.params_formula) for s in stats[1:3]]
    [('CONV5-10', '32x32x10', '10x1x5x5 + 10'), ('POOL2', '16x16x10', '0')]
    >>> receptive_field([(5, 1), (3, 1)])
    7
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .nn.functional.conv import conv_output_size
from .nn.module import Module

__all__ = [
    "conv_output_size",
    "conv_params",
    "fc_params",
    "activation_memory",
    "receptive_field",
    "ConvLayer",
    "PoolLayer",
    "FCLayer",
    "ShapeLayer",
    "parse_layer",
    "parse_layers",
    "LayerStats",
    "layer_stats",
    "summary",
    "VGG_CONFIGS",
    "vgg_layers",
]


# --------------------------------------------------------------------------- formulas
def conv_params(in_channels: int, out_channels: int, kernel_size, bias: bool = True) -> int:
    """Parameters of a conv layer: ``F * C * kh * kw`` weights plus ``F`` biases.

    Example:
        >>> conv_params(1, 10, 5)
        260
    """
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    return int(out_channels * in_channels * kh * kw + (out_channels if bias else 0))


def fc_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer: ``in * out`` weights plus ``out`` biases.

    Example:
        >>> fc_params(8 * 8 * 10, 10)
        6410
    """
    return int(in_features * out_features + (out_features if bias else 0))


def activation_memory(shape: Sequence[int], bytes_per_value: int = 4, batch_size: int = 1) -> int:
    """Bytes needed to store one activation volume of ``shape`` (per sample) for a batch.

    Example:
        >>> activation_memory((64, 224, 224))  # first VGG conv output, float32, one image
        12845056
    """
    return int(math.prod(shape) * bytes_per_value * batch_size)


# --------------------------------------------------------------------------- layer specs
@dataclass(frozen=True)
class ConvLayer:
    """A convolution: ``out_channels`` filters of ``kernel x kernel``, ``stride``, ``pad``."""

    out_channels: int
    kernel: int
    stride: int = 1
    pad: int = 0
    name: str = ""


@dataclass(frozen=True)
class PoolLayer:
    """Max (``kind='max'``) or average pooling with a ``kernel x kernel`` window."""

    kernel: int
    stride: int | None = None
    kind: str = "max"
    name: str = ""


@dataclass(frozen=True)
class FCLayer:
    """A fully connected layer with ``out_features`` outputs (flattens its input)."""

    out_features: int
    name: str = ""


@dataclass(frozen=True)
class ShapeLayer:
    """A layer that keeps the shape: activation, LRN, softmax, dropout; ``per_channel_params``
    parameters per channel (2 for batch norm)."""

    name: str
    per_channel_params: int = 0


_CONV_RE = re.compile(r"^conv(\d+)-(\d+)(?:/s(\d+))?(?:/p(\d+))?$")
_VGG_RE = re.compile(r"^c(\d+)d(\d+)$")
_POOL_RE = re.compile(r"^(max|avg)?pool(\d+)(?:/s(\d+))?$")
_FC_RE = re.compile(r"^fc-?(\d+)$")
_SHAPE = {"lrn": 0, "relu": 0, "s": 0, "softmax": 0, "dropout": 0, "bn": 2}


def parse_layer(spec: str):
    """Turn one shorthand token (see the module docstring) into a layer spec.

    Raises:
        ValueError: for a token that is not in the shorthand.

    Example:
        >>> parse_layer("CONV5-10")
        ConvLayer(out_channels=10, kernel=5, stride=1, pad=2, name='CONV5-10')
    """
    if not isinstance(spec, str):
        raise TypeError(f"a layer spec must be a string such as 'CONV5-10', got {type(spec).__name__}")
    tok = spec.strip().lower()
    if m := _CONV_RE.match(tok):
        k, n = int(m[1]), int(m[2])
        s = int(m[3]) if m[3] else 1
        p = int(m[4]) if m[4] is not None else (k - 1) // 2
        return ConvLayer(n, k, s, p, spec.strip())
    if m := _VGG_RE.match(tok):
        k, n = int(m[1]), int(m[2])
        return ConvLayer(n, k, 1, (k - 1) // 2, spec.strip())
    if tok == "m":
        return PoolLayer(2, 2, "max", spec.strip())
    if m := _POOL_RE.match(tok):
        k = int(m[2])
        return PoolLayer(k, int(m[3]) if m[3] else k, m[1] or "max", spec.strip())
    if m := _FC_RE.match(tok):
        return FCLayer(int(m[1]), spec.strip())
    if tok in _SHAPE:
        return ShapeLayer(spec.strip(), _SHAPE[tok])
    raise ValueError(
        f"unknown layer spec {spec!r}; expected e.g. 'CONV5-10', 'CONV3-16/s2/p1', 'C3D64', 'POOL2', 'M', "
        f"'AVGPOOL2', 'FC-10', 'FC4096', 'LRN', 'RELU', 'BN', 'S'"
    )


def parse_layers(specs) -> list:
    """Parse a whitespace/comma separated string or a list of tokens and spec objects."""
    if isinstance(specs, str):
        specs = [t for t in re.split(r"[\s,]+", specs) if t]
    return [parse_layer(s) if isinstance(s, str) else s for s in specs]


# --------------------------------------------------------------------------- per-layer statistics
@dataclass
class LayerStats:
    """One row of an architecture table.

    Attributes:
        name: layer label.
        output_shape: per-sample output, ``(C, H, W)`` or ``(D,)``.
        params: trainable parameter count.
        params_formula: how the count is made up, in the lecture's style (``'10x1x5x5 + 10'``).
        receptive_field: input pixels (along one axis) that one output pixel sees; ``None``
            once a layer mixes the whole input (fully connected, global pooling).
        bytes_per_value: for :attr:`memory`.
    """

    name: str
    output_shape: tuple
    params: int = 0
    params_formula: str = "0"
    receptive_field: int | None = 1
    bytes_per_value: int = 4
    extra: dict = field(default_factory=dict)

    @property
    def activations(self) -> int:
        """Values in the output volume (per sample)."""
        return int(math.prod(self.output_shape))

    @property
    def memory(self) -> int:
        """Bytes of the output volume (per sample)."""
        return self.activations * self.bytes_per_value

    @property
    def hwc(self) -> str:
        """Shape in the lecture's ``H x W x C`` notation (``'32x32x10'``; ``'10'`` for vectors)."""
        if len(self.output_shape) == 3:
            c, h, w = self.output_shape
            return f"{h}x{w}x{c}"
        return "x".join(str(d) for d in self.output_shape)


def _spec_stats(layers, input_shape, bytes_per_value) -> list[LayerStats]:
    shape = tuple(int(d) for d in input_shape)
    rows = [LayerStats("input", shape, 0, "0", 1, bytes_per_value)]
    rf, jump = 1, 1  # receptive field and distance between adjacent outputs, in input pixels
    for layer in parse_layers(layers):
        if isinstance(layer, ConvLayer):
            if len(shape) != 3:
                raise ValueError(f"{layer.name or 'conv'} needs a (C, H, W) volume, got shape {shape}")
            c, h, w = shape
            ho = conv_output_size(h, layer.kernel, layer.stride, layer.pad, axis="height")
            wo = conv_output_size(w, layer.kernel, layer.stride, layer.pad, axis="width")
            f = layer.out_channels
            formula = f"{f}x{c}x{layer.kernel}x{layer.kernel} + {f}"
            params = conv_params(c, f, layer.kernel)
            shape = (f, ho, wo)
            rf, jump = (None, jump) if rf is None else (rf + (layer.kernel - 1) * jump, jump * layer.stride)
            label = layer.name or f"CONV{layer.kernel}-{f}"
        elif isinstance(layer, PoolLayer):
            if len(shape) != 3:
                raise ValueError(f"{layer.name or 'pool'} needs a (C, H, W) volume, got shape {shape}")
            c, h, w = shape
            s = layer.stride or layer.kernel
            ho = conv_output_size(h, layer.kernel, s, exact=False, axis="height")
            wo = conv_output_size(w, layer.kernel, s, exact=False, axis="width")
            shape, params, formula = (c, ho, wo), 0, "0"
            rf, jump = (None, jump) if rf is None else (rf + (layer.kernel - 1) * jump, jump * s)
            label = layer.name or f"POOL{layer.kernel}"
        elif isinstance(layer, FCLayer):
            fan_in = math.prod(shape)
            n = layer.out_features
            formula = "x".join(str(d) for d in _hwc_dims(shape)) + f"x{n} + {n}"
            params, shape, rf = fc_params(fan_in, n), (n,), None
            label = layer.name or f"FC-{n}"
        elif isinstance(layer, ShapeLayer):
            c = shape[0]
            params = layer.per_channel_params * c
            formula = f"{layer.per_channel_params}x{c}" if params else "0"
            label = layer.name
        else:
            raise TypeError(f"unknown layer spec object {layer!r}")
        rows.append(LayerStats(label, shape, params, formula, rf, bytes_per_value))
    return rows


def _hwc_dims(shape):
    if len(shape) == 3:
        c, h, w = shape
        return (h, w, c)
    return tuple(shape)


def _module_rf(module, rf, jump):
    """Update (receptive field, jump) through one Module, by its type."""
    from .nn.conv import AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d

    if rf is None:
        return None, jump
    if isinstance(module, Conv2d):
        return rf + (module.kernel_size[0] - 1) * jump, jump * module.stride
    if isinstance(module, (MaxPool2d, AvgPool2d)):
        return rf + (module.kernel_size[0] - 1) * jump, jump * module.stride
    if isinstance(module, GlobalAvgPool2d):
        return None, jump
    if isinstance(module, Flatten):
        return rf, jump
    if module.num_parameters() and not _is_norm(module):
        return None, jump  # dense layers (Linear) see everything
    return rf, jump


def _is_norm(module) -> bool:
    from .nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm

    return isinstance(module, (BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm))


def _module_formula(module, in_shape) -> str:
    from .nn.conv import Conv2d

    n = module.num_parameters()
    if n == 0:
        return "0"
    if isinstance(module, Conv2d):
        f, c, kh, kw = module.W.shape
        return f"{f}x{c}x{kh}x{kw}" + (f" + {f}" if module.use_bias else "")
    params = module.params
    if set(params) <= {"W", "b"} and "W" in params and params["W"].ndim == 2:
        d, m = params["W"].shape
        dims = _hwc_dims(in_shape) if math.prod(in_shape) == d else (d,)
        return "x".join(str(x) for x in dims) + f"x{m}" + (f" + {m}" if "b" in params else "")
    return " + ".join("x".join(str(d) for d in p.shape) for p in params.values())


def _module_stats(model: Module, input_shape, bytes_per_value) -> list[LayerStats]:
    items = list(model._modules.items()) if type(model).__name__ == "Sequential" else [("", model)]
    was_training = model.training
    model.eval()  # shapes only: batch norm must not update its running statistics
    try:
        dtype = next(iter(model.params.values())).dtype if model.params else np.dtype(np.float64)
        x = np.zeros((1,) + tuple(input_shape), dtype=dtype)
        bpv = bytes_per_value
        rows = [LayerStats("input", tuple(input_shape), 0, "0", 1, bpv or dtype.itemsize)]
        rf, jump = 1, 1
        for key, child in items:
            in_shape = x.shape[1:]
            x = child.forward(x)
            dtype_bytes = bpv or np.asarray(x).dtype.itemsize
            rf, jump = _module_rf(child, rf, jump)
            label = f"{key}: {type(child).__name__}" if key else type(child).__name__
            rows.append(LayerStats(label, tuple(np.shape(x)[1:]), child.num_parameters(),
                                   _module_formula(child, in_shape), rf, dtype_bytes))
        return rows
    finally:
        model.train(was_training)


def layer_stats(model, input_shape: Sequence[int], bytes_per_value: int | None = None) -> list[LayerStats]:
    """Per-layer output shape, parameters, activations and receptive field.

    Args:
        model: a shorthand string (``"CONV5-10 POOL2 FC-10"``), a list of tokens/spec objects,
            or a NumPy :class:`~i2dl_lab.nn.Module` (a ``Sequential`` is listed child by child;
            shapes come from one forward pass of a zero image in eval mode).
        input_shape: one sample's shape, ``(C, H, W)`` (no batch axis).
        bytes_per_value: for memory; default 4 (float32) for specs, the output dtype for Modules.

    Returns:
        A list of :class:`LayerStats`, the first row being the input.

    Raises:
        ValueError: when a layer does not fit its input (the message shows the output-size
            formula with the numbers), or for an unknown shorthand token.
    """
    if len(tuple(input_shape)) not in (1, 3):
        raise ValueError(f"input_shape must be one sample's (C, H, W) or (D,), got {tuple(input_shape)}")
    if isinstance(model, Module):
        return _module_stats(model, input_shape, bytes_per_value)
    return _spec_stats(model, input_shape, bytes_per_value or 4)


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def summary(model, input_shape: Sequence[int], batch_size: int = 1, bytes_per_value: int | None = None,
            file=None) -> list[LayerStats]:
    """Print a table of every layer: output shape, parameters (with formula), activation memory.

    Totals at the bottom: parameters (and their memory) and the activation memory of one
    forward pass for ``batch_size`` samples (input included; the backward pass needs about as
    much again for the gradients).

    Args:
        model, input_shape, bytes_per_value: as :func:`layer_stats`.
        batch_size: multiplies the activation memory.
        file: where to print (default ``sys.stdout``).

    Returns:
        The rows of :func:`layer_stats`.

    Example:
        >>> rows = summary("CONV5-10 POOL2 CONV5-10 POOL2 FC-10", (1, 32, 32))  # doctest: +ELLIPSIS
        layer ...
        >>> sum(r.params for r in rows)
        9180
    """
    rows = layer_stats(model, input_shape, bytes_per_value)
    out = file or sys.stdout
    w = max(12, *(len(r.name) for r in rows))
    header = (f"{'layer':<{w}}  {'output (HxWxC)':>15}  {'params':>11}  {'= formula':<22}  "
              f"{'activations':>12}  {'memory':>10}  {'RF':>4}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        rf = "all" if r.receptive_field is None else str(r.receptive_field)
        print(f"{r.name:<{w}}  {r.hwc:>15}  {r.params:>11,}  {r.params_formula:<22}  {r.activations:>12,}  "
              f"{_fmt_bytes(r.memory * batch_size):>10}  {rf:>4}", file=out)
    print("-" * len(header), file=out)
    total_params = sum(r.params for r in rows)
    total_act = sum(r.activations for r in rows)
    bpv = rows[-1].bytes_per_value
    print(f"total parameters: {total_params:,} ({_fmt_bytes(total_params * bpv)})", file=out)
    print(f"total activations: {total_act:,} values per sample; forward memory for batch {batch_size}: "
          f"{_fmt_bytes(sum(r.memory for r in rows) * batch_size)}", file=out)
    return rows


def receptive_field(layers) -> int | None:
    """Receptive field (along one axis, in input pixels) of one output pixel of a stack.

    Applies ``n = k + s * (m - 1)`` from the last layer (``m = 1``) back to the input.

    Args:
        layers: ``[(kernel, stride), ...]`` from input to output, a shorthand string, a list
            of spec objects, or a NumPy ``Sequential``.

    Returns:
        The receptive field, or ``None`` when a fully connected/global layer sees everything.

    Example:
        >>> receptive_field([(5, 1), (3, 1)])  # 5x5 then 3x3 conv, stride 1
        7
        >>> receptive_field([(3, 1), (3, 1), (3, 1)])  # three 3x3 convs see 7x7, like one 7x7
        7
    """
    if isinstance(layers, Module):
        rf, jump = 1, 1
        mods = list(layers.children()) if type(layers).__name__ == "Sequential" else [layers]
        for m in mods:
            rf, jump = _module_rf(m, rf, jump)
        return rf
    pairs = []
    for layer in (parse_layers(layers) if not _is_pair_list(layers) else layers):
        if isinstance(layer, tuple):
            k, s = layer
            pairs.append((int(k), int(s)))
        elif isinstance(layer, ConvLayer):
            pairs.append((layer.kernel, layer.stride))
        elif isinstance(layer, PoolLayer):
            pairs.append((layer.kernel, layer.stride or layer.kernel))
        elif isinstance(layer, FCLayer):
            return None
    for k, s in pairs:
        if k < 1 or s < 1:
            raise ValueError(f"kernel and stride must be >= 1, got kernel={k}, stride={s}")
    m = 1
    for k, s in reversed(pairs):
        m = k + s * (m - 1)
    return m


def _is_pair_list(layers) -> bool:
    return isinstance(layers, Iterable) and not isinstance(layers, str) and all(
        isinstance(t, tuple) for t in layers)


# --------------------------------------------------------------------------- VGG
_VGG_BLOCKS = {
    # conv layers per block (each "3" a C3D, "1" a C1D), as in Simonyan & Zisserman's table
    "A": [[3], [3], [3, 3], [3, 3], [3, 3]],
    "A-LRN": [[3, "LRN"], [3], [3, 3], [3, 3], [3, 3]],
    "B": [[3, 3], [3, 3], [3, 3], [3, 3], [3, 3]],
    "C": [[3, 3], [3, 3], [3, 3, 1], [3, 3, 1], [3, 3, 1]],
    "D": [[3, 3], [3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    "E": [[3, 3], [3, 3], [3, 3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]],
}
_VGG_DEPTH = [64, 128, 256, 512, 512]


def _vgg_tokens(name: str) -> list[str]:
    tokens = []
    for block, depth in zip(_VGG_BLOCKS[name], _VGG_DEPTH):
        tokens += ["LRN" if k == "LRN" else f"C{k}D{depth}" for k in block]
        tokens.append("M")
    return tokens + ["FC4096", "FC4096", "FC1000", "S"]


VGG_CONFIGS = {name: _vgg_tokens(name) for name in _VGG_BLOCKS}
"""The six VGG columns (A, A-LRN, B, C, D = VGG-16, E = VGG-19) in the shorthand."""


def vgg_layers(config: str = "D") -> list:
    """Layer specs of a VGG configuration (``'D'`` is VGG-16, ``'E'`` VGG-19).

    Example:
        >>> rows = layer_stats(vgg_layers("D"), (3, 224, 224))
        >>> rows[1].hwc, rows[-5].hwc
        ('224x224x64', '7x7x512')
    """
    if config not in VGG_CONFIGS:
        raise ValueError(f"unknown VGG configuration {config!r}; expected one of {sorted(VGG_CONFIGS)}")
    return parse_layers(VGG_CONFIGS[config])
