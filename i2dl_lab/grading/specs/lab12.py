"""Graded exercises of lab 12 (semantic segmentation).

References are :mod:`i2dl_lab.bridge.segmentation`. The student writes torch; the upsampling
exercises run with torch's own ``conv_transpose2d`` / ``max_unpool2d`` (and the modules built
on them) switched off, so a wrapper around them fails instead of passing. The module
exercises load the reference's weights by name (the names the exercise text fixes) and
compare outputs in eval mode.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ...bridge import segmentation as seg
from ..spec import Exercise, allclose, plain


def _t(a, dtype=None):
    import torch

    a = np.asarray(a)
    if dtype is None:
        dtype = torch.float64 if a.dtype.kind == "f" else torch.int64
    return torch.as_tensor(np.array(a, copy=True), dtype=dtype)


class _Forbidden(RuntimeError):
    pass


@contextlib.contextmanager
def _without(*names):
    """Make torch's built-in ``names`` raise while the graded code runs."""
    import torch
    from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

    saved = []
    for owner in (torch, F, torch.nn.functional):
        for n in names:
            if hasattr(owner, n):
                saved.append((owner, n, getattr(owner, n)))

                def trip(*_a, _n=n, **_k):
                    raise _Forbidden(f"this exercise asks you to write {_n} yourself; torch's {_n} is switched off")

                setattr(owner, n, trip)
    try:
        yield
    finally:
        for owner, n, fn in reversed(saved):
            setattr(owner, n, fn)


# ---------------------------------------------------------------- transposed convolution
def drive_conv_transpose(obj, x, weight, bias, stride, padding):
    with _without("conv_transpose2d", "conv_transpose1d", "conv_transpose3d"):
        return plain(obj(_t(x), _t(weight), _t(bias), stride, padding))


def conv_transpose_cases(rng):
    cases = []
    for N, Ci, Co, H, W, k, s, p in [(2, 3, 4, 4, 5, 3, 2, 1), (1, 2, 2, 3, 3, 2, 2, 0), (2, 1, 3, 5, 4, 3, 1, 0),
                                     (1, 4, 2, 3, 3, 4, 2, 1), (1, 2, 3, 2, 3, int(rng.integers(2, 5)),
                                                                int(rng.integers(1, 4)), 0)]:
        cases.append((rng.standard_normal((N, Ci, H, W)), rng.standard_normal((Ci, Co, k, k)),
                      rng.standard_normal(Co), s, p))
    return cases


# ---------------------------------------------------------------- max unpooling
def drive_unpool(obj, x, indices, output_size):
    with _without("max_unpool2d", "max_unpool1d", "max_unpool3d"):
        return plain(obj(_t(x), _t(indices), output_size))


def unpool_cases(rng):
    cases = []
    for N, C, H, W in [(2, 3, 4, 4), (1, 1, 6, 8), (2, 2, 2, 6)]:
        ph, pw = H // 2, W // 2
        # the max of each 2x2 window sits at a random position of that window
        rows = 2 * np.arange(ph)[:, None] + rng.integers(0, 2, (N, C, ph, pw))
        cols = 2 * np.arange(pw)[None, :] + rng.integers(0, 2, (N, C, ph, pw))
        cases.append((rng.standard_normal((N, C, ph, pw)), rows * W + cols, (H, W)))
    return cases


# ---------------------------------------------------------------- per-pixel loss
def drive_loss(obj, logits, target, weight, ignore_index):
    """The loss value and its gradient with respect to the logits."""
    import torch

    lg = _t(logits).requires_grad_(True)
    loss = obj(lg, _t(target), None if weight is None else _t(weight), ignore_index)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise TypeError(f"the loss must be a scalar tensor, got {type(loss).__name__}")
    (grad,) = torch.autograd.grad(loss, lg)
    return loss.item(), grad.numpy()


def pixel_ce_cases(rng):
    cases = []
    for N, K, H, W, weighted in [(2, 4, 3, 3, False), (1, 2, 5, 4, True), (3, 5, 2, 2, True)]:
        target = rng.integers(0, K, (N, H, W))
        target[rng.random((N, H, W)) < 0.2] = -1  # unlabelled pixels
        target.flat[0] = 0
        weight = rng.uniform(0.2, 3.0, K) if weighted else None
        cases.append((3 * rng.standard_normal((N, K, H, W)), target, weight, -1))
    big = np.zeros((1, 3, 2, 2))
    big[0, 0] = 200.0  # confident scores: a naive exp overflows
    cases.append((big, np.array([[[0, 1], [2, 255]]]), np.array([0.5, 1.0, 2.0]), 255))
    return cases


# ---------------------------------------------------------------- confusion matrix
def drive_cm(obj, pred, target, num_classes, ignore_index):
    return plain(obj(np.array(pred, copy=True), np.array(target, copy=True), num_classes, ignore_index))


def cm_cases(rng):
    cases = []
    for shape, K in [((2, 4, 4), 3), ((1, 6, 5), 4), ((3, 3, 3), 2)]:
        target = rng.integers(0, K, shape)
        target[rng.random(shape) < 0.1] = -1
        cases.append((rng.integers(0, K, shape), target, K, -1))
    cases.append((np.array([[0, 0, 1]]), np.array([[0, 0, 255]]), 3, 255))  # class 2 never appears
    return cases


# ---------------------------------------------------------------- scores from the confusion matrix
def drive_scores(obj, cm):
    acc, iou, miou = obj(np.array(cm, copy=True))
    return float(acc), plain(iou), float(miou)


def scores_cases(rng):
    cases = [(rng.integers(0, 50, (K, K)),) for K in (2, 4, int(rng.integers(3, 7)))]
    cases.append((np.array([[5, 1, 0], [2, 7, 0], [0, 0, 0]]),))  # a class absent from both: NaN IoU
    return cases


# ---------------------------------------------------------------- modules: load the reference's weights
def _module_output(make, inputs, state):
    import torch

    torch.manual_seed(0)
    net = make()
    net.load_state_dict({k: _t(v, torch.float32) if np.asarray(v).dtype.kind == "f" else _t(v)
                         for k, v in state.items()})
    net.eval()
    with torch.no_grad():
        return plain(net(*[_t(a, torch.float32) for a in inputs]))


def _random_state(ref, rng):
    """The reference's state dict with random weights and BatchNorm statistics, as arrays."""
    out = {}
    for k, v in ref.state_dict().items():
        if k.endswith("num_batches_tracked"):
            out[k] = np.array(int(rng.integers(1, 100)))
        elif k.endswith("running_var"):
            out[k] = rng.uniform(0.5, 2.0, tuple(v.shape))
        else:
            out[k] = 0.3 * rng.standard_normal(tuple(v.shape))
    return out


def drive_up_block(obj, in_ch, skip_ch, out_ch, x, skip, state):
    return _module_output(lambda: obj(in_ch, skip_ch, out_ch), (x, skip), state)


def up_block_cases(rng):
    cases = []
    for in_ch, skip_ch, out_ch, N, h in [(4, 2, 2, 2, 3), (6, 3, 3, 1, 2), (8, 4, 4, 2, 4)]:
        state = _random_state(seg.UpBlock(in_ch, skip_ch, out_ch), rng)
        cases.append((in_ch, skip_ch, out_ch, rng.standard_normal((N, in_ch, h, h)),
                      rng.standard_normal((N, skip_ch, 2 * h, 2 * h)), state))
    return cases


def drive_unet(obj, in_ch, num_classes, width, x, state):
    return _module_output(lambda: obj(in_ch, num_classes, width), (x,), state)


def unet_cases(rng):
    cases = []
    for in_ch, K, w, N, S in [(3, 4, 2, 2, 8), (1, 2, 3, 1, 12), (3, 3, 4, 1, 16)]:
        state = _random_state(seg.UNet(in_ch, K, w), rng)
        cases.append((in_ch, K, w, rng.standard_normal((N, in_ch, S, S)), state))
    return cases


EXERCISES = [
    Exercise("conv_transpose2d", "conv_transpose2d", 4, seg.conv_transpose2d, conv_transpose_cases,
             driver=drive_conv_transpose, compare=allclose(rtol=1e-7, atol=1e-9), title="transposed convolution"),
    Exercise("max_unpool2d", "max_unpool2d", 2, seg.max_unpool2d, unpool_cases, driver=drive_unpool,
             compare=allclose(rtol=0, atol=0), title="max unpooling with switches"),
    Exercise("pixel_cross_entropy", "pixel_cross_entropy", 3, seg.pixel_cross_entropy, pixel_ce_cases,
             driver=drive_loss, compare=allclose(rtol=1e-7, atol=1e-10), title="per-pixel cross-entropy"),
    Exercise("confusion_matrix", "confusion_matrix", 2, seg.confusion_matrix, cm_cases, driver=drive_cm,
             compare=allclose(rtol=0, atol=0), title="confusion matrix of pixel labels"),
    Exercise("segmentation_scores", "segmentation_scores", 3, seg.segmentation_scores, scores_cases,
             driver=drive_scores, compare=allclose(rtol=1e-9, atol=1e-12), title="pixel accuracy and IoU"),
    Exercise("up_block", "UpBlock", 3, seg.UpBlock, up_block_cases, driver=drive_up_block,
             compare=allclose(rtol=1e-4, atol=1e-5), title="U-Net decoder block with a skip connection"),
    Exercise("unet", "UNet", 3, seg.UNet, unet_cases, driver=drive_unet,
             compare=allclose(rtol=1e-4, atol=1e-5), title="the U-Net"),
]
