"""Semantic segmentation in torch: upsampling layers, a U-Net, the per-pixel loss and metrics.

The references of lab 12. The upsampling functions are written from scratch (``F.fold``
scatters the kernel stamps; the unpooling scatters through the switches), so they are an
independent check of torch's ``conv_transpose2d`` and ``max_unpool2d``, which the tests
compare them with.

* :func:`conv_transpose2d`, :func:`max_unpool2d`: upsampling;
* :func:`pixel_cross_entropy`: the per-pixel loss with class weights and an ignore label;
* :func:`confusion_matrix`, :func:`segmentation_scores`: pixel accuracy, per-class and mean IoU;
* :func:`double_conv`, :class:`UpBlock`, :class:`UNet`: the network (``skips=False`` gives an
  FCN-style decoder that only upsamples).

Example:
    >>> import torch
    >>> net = UNet(in_channels=3, num_classes=4, width=4)
    >>> net(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 4, 16, 16])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

__all__ = ["conv_transpose2d", "max_unpool2d", "pixel_cross_entropy", "confusion_matrix", "segmentation_scores",
           "double_conv", "UpBlock", "UNet"]


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
                     padding=0) -> torch.Tensor:
    """Transposed convolution: every input pixel stamps the kernel, scaled, onto the output.

    Output pixel ``(s*i + a - p, s*j + b - p)`` receives ``x[n, c, i, j] * weight[c, d, a, b]``
    summed over every contribution, then the bias. It is the gradient of a strided
    convolution with respect to its input, used as a forward pass.

    Args:
        x: (N, C_in, H, W) input.
        weight: (C_in, C_out, kH, kW), torch's layout for transposed convolutions.
        bias: (C_out,) or None.
        stride: int or (sH, sW).
        padding: int or (pH, pW), cropped from each border of the full output.

    Returns:
        (N, C_out, H_out, W_out) with ``H_out = (H - 1) * sH - 2 * pH + kH``.
    """
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"expected x (N, C_in, H, W) and weight (C_in, C_out, kH, kW) with matching C_in, "
                         f"got {tuple(x.shape)} and {tuple(weight.shape)}")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    N, _, H, W = x.shape
    _, Cout, kh, kw = weight.shape
    Hf, Wf = (H - 1) * sh + kh, (W - 1) * sw + kw  # the uncropped output
    if Hf - 2 * ph < 1 or Wf - 2 * pw < 1:
        raise ValueError(f"padding {(ph, pw)} crops the whole {Hf}x{Wf} output")
    # one column per input pixel: the kernel stamp it contributes, (N, C_out*kH*kW, H*W)
    cols = torch.einsum("nchw,cdab->ndabhw", x, weight).reshape(N, Cout * kh * kw, H * W)
    out = F.fold(cols, (Hf, Wf), (kh, kw), stride=(sh, sw))  # sums overlapping stamps
    out = out[:, :, ph:Hf - ph, pw:Wf - pw]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def max_unpool2d(x: torch.Tensor, indices: torch.Tensor, output_size) -> torch.Tensor:
    """Max unpooling: put each value back where the max-pooling took it from, zeros elsewhere.

    Args:
        x: (N, C, h, w) pooled values.
        indices: (N, C, h, w) flat positions ``row * W + col`` in the (H, W) input of the pooling
            (what ``F.max_pool2d(..., return_indices=True)`` returns).
        output_size: (H, W) of the unpooled map.

    Returns:
        (N, C, H, W).
    """
    H, W = _pair(output_size)
    if x.shape != indices.shape:
        raise ValueError(f"x and indices must have the same shape, got {tuple(x.shape)} and {tuple(indices.shape)}")
    N, C = x.shape[:2]
    out = x.new_zeros(N, C, H * W)
    out.scatter_(2, indices.reshape(N, C, -1).long(), x.reshape(N, C, -1))
    return out.view(N, C, H, W)


def pixel_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                        ignore_index: int = -1) -> torch.Tensor:
    """Softmax cross-entropy of every pixel, a weighted mean over the pixels that carry a label.

    Pixel ``i`` with label ``y_i`` counts with weight ``w[y_i]`` (1 without ``weight``):
    ``L = sum_i w[y_i] * nll_i / sum_i w[y_i]``, torch's ``cross_entropy`` convention. Weights
    above 1 for rare classes keep a network from settling on "background everywhere".

    Args:
        logits: (N, K, H, W) class scores.
        target: (N, H, W) integer labels in [0, K), or ``ignore_index`` for unlabelled pixels.
        weight: (K,) class weights or None.
        ignore_index: label of pixels that do not count.

    Returns:
        scalar tensor (NaN if every pixel is ignored).
    """
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"expected logits (N, K, H, W) and target (N, H, W), got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    if weight is not None and weight.shape != (logits.shape[1],):
        raise ValueError(f"weight must have shape ({logits.shape[1]},), got {tuple(weight.shape)}")
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (N, K, H, W)
    keep = target != ignore_index
    t = torch.where(keep, target, torch.zeros_like(target)).long()
    nll = -logp.gather(1, t.unsqueeze(1)).squeeze(1)  # (N, H, W)
    w = keep.to(logits.dtype) if weight is None else weight.to(logits.dtype)[t] * keep
    return (nll * w).sum() / w.sum()


def confusion_matrix(pred, target, num_classes: int, ignore_index: int = -1) -> np.ndarray:
    """Counts ``cm[t, p]`` of pixels with true class t predicted as p (ignored pixels left out).

    Args:
        pred, target: integer arrays (or tensors) of the same shape.
        num_classes: K.
        ignore_index: target label that is not counted.

    Returns:
        (K, K) int64.
    """
    p = np.asarray(pred.cpu() if hasattr(pred, "cpu") else pred).ravel().astype(np.int64)
    t = np.asarray(target.cpu() if hasattr(target, "cpu") else target).ravel().astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same number of pixels, got {p.size} and {t.size}")
    keep = t != ignore_index
    p, t = p[keep], t[keep]
    if p.size and (p.min() < 0 or p.max() >= num_classes or t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}) (or {ignore_index} in target)")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def segmentation_scores(cm: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Pixel accuracy, per-class IoU and mean IoU from a confusion matrix.

    ``IoU_k = TP_k / (TP_k + FP_k + FN_k)``; a class that appears neither in the target nor in
    the prediction has no IoU (NaN) and is left out of the mean.

    Args:
        cm: (K, K) counts, rows true class, columns predicted class.

    Returns:
        ``(pixel_accuracy, iou, mean_iou)`` with iou of shape (K,).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    acc = float(tp.sum() / cm.sum()) if cm.sum() else float("nan")
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return acc, iou, miou


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(3x3 conv 'same' -> BatchNorm -> ReLU) twice: the U-Net's building block; keeps H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
    )


class UpBlock(nn.Module):
    """Decoder step: 2x2 stride-2 transposed conv doubles H and W, concatenate the skip, double_conv.

    Args:
        in_channels: channels of the coarse input.
        skip_channels: channels of the encoder feature map joined in (0: no skip connection).
        out_channels: channels after the block.

    Shape:
        x (N, in_channels, h, w), skip (N, skip_channels, 2h, 2w) -> (N, out_channels, 2h, 2w).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = double_conv(out_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([skip, x], dim=1)  # (N, skip + out, 2h, 2w): the skip's channels first
        return self.conv(x)


class UNet(nn.Module):
    """Two-level U-Net: double_conv + 2x2 max-pool twice, a bottleneck, two UpBlocks, a 1x1 head.

    Args:
        in_channels: image channels.
        num_classes: K, one output map per class.
        width: channels of the first level (then 2x and 4x).
        skips: False drops the skip connections (an FCN-style decoder that sees only the
            bottleneck, for the ablation).

    Shape:
        (N, in_channels, H, W) -> (N, num_classes, H, W) logits, H and W divisible by 4.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 4, width: int = 8, skips: bool = True):
        super().__init__()
        w = width
        self.skips = skips
        self.enc1 = double_conv(in_channels, w)
        self.enc2 = double_conv(w, 2 * w)
        self.bottom = double_conv(2 * w, 4 * w)
        self.up2 = UpBlock(4 * w, 2 * w if skips else 0, 2 * w)
        self.up1 = UpBlock(2 * w, w if skips else 0, w)
        self.head = nn.Conv2d(w, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"H and W must be divisible by 4 (two poolings), got {tuple(x.shape[-2:])}")
        e1 = self.enc1(x)                      # (N, w, H, W)
        e2 = self.enc2(F.max_pool2d(e1, 2))    # (N, 2w, H/2, W/2)
        b = self.bottom(F.max_pool2d(e2, 2))   # (N, 4w, H/4, W/4)
        d2 = self.up2(b, e2 if self.skips else None)   # (N, 2w, H/2, W/2)
        d1 = self.up1(d2, e1 if self.skips else None)  # (N, w, H, W)
        return self.head(d1)
