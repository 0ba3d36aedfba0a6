"""Normalisation layers and dropout: forward/backward pairs in the CS231n contract.

* Batch normalisation (:func:`batchnorm_forward`) normalises each feature with the statistics
  of the mini-batch during training and with running averages at test time.
  :func:`spatial_batchnorm_forward` does the same per channel of an ``(N, C, H, W)`` volume,
  pooling statistics over the batch *and* the spatial positions.
* Layer normalisation (:func:`layernorm_forward`) normalises each sample over its last axis;
  it behaves identically at train and test time and works for any leading shape, e.g. the
  ``(N, T, D)`` activations of a transformer.
* Group normalisation (:func:`groupnorm_forward`) normalises each sample over groups of
  ``C // G`` channels (and all spatial positions): ``G = 1`` is layer norm over (C, H, W),
  ``G = C`` is instance norm.
* Local response normalisation (:func:`local_response_norm_forward`, AlexNet and VGG's
  A-LRN) has no parameters: it divides each activation by a power of the summed squares of
  its neighbours across channels, damping the unbounded outputs of ReLU units.
* Inverted dropout (:func:`dropout_forward`) zeroes units at random during training and
  scales the survivors so that nothing changes at test time.

A note on the batch-norm momentum. The lecture (and CS231n) write the running averages as

    running = momentum * running + (1 - momentum) * batch_statistic,   momentum = 0.9

torch's ``BatchNorm`` weights the *new* value instead: ``running = (1 - m) * running + m *
batch``, default ``m = 0.1``. So CS231n's ``momentum`` equals ``1 - m`` of torch. torch also
stores the *unbiased* batch variance (divided by ``M - 1``, ``M`` values per feature) in
``running_var`` while normalising with the biased one; this module stores the biased
variance, as CS231n does. To compare with torch, multiply the batch variance by
``M / (M - 1)`` (the tests do exactly that).
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float_array, check_ndim, check_positive, check_range

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "groupnorm_forward",
    "groupnorm_backward",
    "local_response_norm_forward",
    "local_response_norm_backward",
    "dropout_forward",
    "dropout_backward",
]


# --------------------------------------------------------------------------- batch norm
def _check_affine(name: str, p, size: int, what: str) -> np.ndarray:
    p = as_float_array(name, p)
    if p.size != size:
        raise ValueError(f"{name} must have {size} entries (one per {what}), got shape {p.shape}")
    return p


def _bn_settings(x, gamma, beta, bn_param, D: int):
    """``(eps, momentum, gamma, beta, running_mean, running_var)`` of a batch-norm call, checked;
    the running statistics start at 0 / 1 (in ``x``'s dtype) when ``bn_param`` has none yet."""
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    check_positive("bn_param['eps']", eps)
    check_range("bn_param['momentum']", momentum, 0.0, 1.0, high_inclusive=True)
    gamma = _check_affine("gamma", gamma, D, "feature/channel")
    beta = _check_affine("beta", beta, D, "feature/channel")
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = np.zeros(D, dtype=x.dtype)
    if running_var is None:
        running_var = np.ones(D, dtype=x.dtype)
    return eps, momentum, gamma, beta, running_mean, running_var


def _bn_forward(x, gamma, beta, bn_param, axes, pshape, fname):
    if not isinstance(bn_param, dict):
        raise TypeError(f"{fname}: bn_param must be a dict (keys 'mode', 'eps', 'momentum', ...), got "
                        f"{type(bn_param).__name__}")
    mode = bn_param.get("mode", "train")
    if mode not in ("train", "test"):
        raise ValueError(f"{fname}: bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    D = pshape[1] if len(pshape) > 1 else pshape[0]
    eps, momentum, gamma, beta, running_mean, running_var = _bn_settings(x, gamma, beta, bn_param, D)
    g = gamma.reshape(pshape)
    if mode == "train":
        M = x.size // D  # values averaged per feature
        mu = x.mean(axis=axes)  # (D,)
        xc = x - mu.reshape(pshape)
        var = (xc * xc).mean(axis=axes)  # biased, (D,)
        inv_std = 1.0 / np.sqrt(var + eps)
        xhat = xc * inv_std.reshape(pshape)
        out = xhat * g + beta.reshape(pshape)
        bn_param["running_mean"] = momentum * running_mean + (1.0 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1.0 - momentum) * var
        cache = ("train", xhat, xc, gamma, inv_std, var, eps, axes, pshape, M)
    else:
        inv_std = 1.0 / np.sqrt(np.asarray(running_var) + eps)
        xhat = (x - np.asarray(running_mean).reshape(pshape)) * inv_std.reshape(pshape)
        out = xhat * g + beta.reshape(pshape)
        cache = ("test", xhat, None, gamma, inv_std, None, eps, axes, pshape, None)
    return out, cache


def _bn_test_backward(dout, cache):
    _, xhat, _, gamma, inv_std, _, _, axes, pshape, _ = cache
    dgamma = (dout * xhat).sum(axis=axes).reshape(gamma.shape)
    dbeta = dout.sum(axis=axes).reshape(gamma.shape)
    dx = dout * (gamma.reshape(-1) * inv_std).reshape(pshape)
    return dx, dgamma, dbeta


def _graph_cache(cache):
    """The node-by-node cache of :func:`batchnorm_backward` from a spatial training cache."""
    _, x, mu, inv_std, var, gamma, eps, M = cache
    pshape = (1, x.shape[1], 1, 1)
    xc = x - mu.reshape(pshape)
    return ("train", xc * inv_std.reshape(pshape), xc, gamma, inv_std, var, eps, (0, 2, 3), pshape, M)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of ``(N, D)`` features.

    Train mode: ``xhat = (x - mean_batch) / sqrt(var_batch + eps)``, ``out = gamma * xhat + beta``
    and the running averages are updated in ``bn_param`` (new arrays are stored under
    ``'running_mean'`` and ``'running_var'``). Test mode uses the running averages instead.

    Args:
        x: input, shape ``(N, D)``.
        gamma: scale, shape ``(D,)``.
        beta: shift, shape ``(D,)``.
        bn_param: dict with ``'mode'`` (``'train'``/``'test'``, default ``'train'``), ``'eps'``
            (default 1e-5), ``'momentum'`` (default 0.9, CS231n's convention:
            ``running = momentum * running + (1 - momentum) * batch``; torch's ``momentum`` is
            ``1 - this``), ``'running_mean'`` / ``'running_var'`` (``(D,)``; start at 0 / 1).
            ``running_var`` tracks the biased batch variance (torch tracks the unbiased one).

    Returns:
        out: ``(N, D)``; cache for :func:`batchnorm_backward` / :func:`batchnorm_backward_alt`.

    Example:
        >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
        >>> out, _ = batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "train"})
        >>> np.round(out, 4)
        array([[-1., -1.],
               [ 1.,  1.]])
    """
    x = as_float_array("x", x)
    check_ndim("x", x, 2, "(N, D); use spatial_batchnorm_forward for (N, C, H, W)")
    return _bn_forward(x, gamma, beta, bn_param, (0,), (1, x.shape[1]), "batchnorm_forward")


def batchnorm_backward(dout, cache):
    """Backward pass of batch norm, following the computational graph node by node.

    The forward pass is the chain ``mu -> xc = x - mu -> var = mean(xc^2) -> inv_std ->
    xhat = xc * inv_std -> out = gamma * xhat + beta``; each line below undoes one node.

    Args:
        dout: upstream gradient, shape of ``out``.
        cache: from :func:`batchnorm_forward` (or :func:`spatial_batchnorm_forward`).

    Returns:
        dx (shape of x), dgamma, dbeta (shape of gamma).
    """
    if cache[0] == "test":
        return _bn_test_backward(dout, cache)
    if cache[0] == "spatial_train":
        cache = _graph_cache(cache)
    _, xhat, xc, gamma, inv_std, var, eps, axes, pshape, M = cache
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = dout * gamma.reshape(pshape)
    # xhat = xc * inv_std: two branches
    dinv_std = (dxhat * xc).sum(axis=axes)
    dxc = dxhat * inv_std.reshape(pshape)
    # inv_std = (var + eps) ** -1/2
    dvar = dinv_std * -0.5 * (var + eps) ** -1.5
    # var = mean(xc ** 2): every xc receives 2 * xc / M
    dxc = dxc + (2.0 / M) * xc * dvar.reshape(pshape)
    # xc = x - mu: x directly, and through mu = mean(x)
    dmu = -dxc.sum(axis=axes)
    dx = dxc + dmu.reshape(pshape) / M
    return dx, dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batch norm simplified on paper to one line.

    ``dx = gamma * inv_std / M * (M * dout - sum(dout) - xhat * sum(dout * xhat))``, with sums
    over the ``M`` values that share a feature. Same result as :func:`batchnorm_backward`,
    fewer passes over memory.

    Returns:
        dx, dgamma, dbeta as :func:`batchnorm_backward`.
    """
    if cache[0] == "test":
        return _bn_test_backward(dout, cache)
    if cache[0] == "spatial_train":
        return _spatial_bn_train_backward(dout, cache)
    _, xhat, _, gamma, inv_std, _, _, axes, pshape, M = cache
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    scale = (gamma.reshape(-1) * inv_std / M).reshape(pshape)
    dx = (M * dout - dbeta.reshape(pshape) - xhat * dgamma.reshape(pshape)) * scale
    return dx, dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation per channel of an ``(N, C, H, W)`` volume (torch's BatchNorm2d).

    Statistics are pooled over the batch and all spatial positions (``M = N*H*W`` values per
    channel), so ``mean`` and ``var`` have shape ``(C,)``.

    Args:
        x: ``(N, C, H, W)``; gamma, beta: ``(C,)``; bn_param: as :func:`batchnorm_forward`.

    Returns:
        out ``(N, C, H, W)``; cache for :func:`spatial_batchnorm_backward`.

    Example:
        >>> x = np.arange(8.0).reshape(2, 1, 2, 2)
        >>> out, _ = spatial_batchnorm_forward(x, np.ones(1), np.zeros(1), {"mode": "train"})
        >>> np.round(out.ravel(), 2)  # mean 0, standard deviation 1
        array([-1.53, -1.09, -0.65, -0.22,  0.22,  0.65,  1.09,  1.53])
    """
    x = as_float_array("x", x)
    check_ndim("x", x, 4, "(N, C, H, W); use batchnorm_forward for (N, D)")
    if isinstance(bn_param, dict) and bn_param.get("mode", "train") == "train":
        return _spatial_bn_train_forward(x, gamma, beta, bn_param)
    return _bn_forward(x, gamma, beta, bn_param, (0, 2, 3), (1, x.shape[1], 1, 1), "spatial_batchnorm_forward")


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of :func:`spatial_batchnorm_forward` (the one-line form).

    Returns:
        dx ``(N, C, H, W)``, dgamma ``(C,)``, dbeta ``(C,)``.
    """
    if cache[0] == "spatial_train":
        return _spatial_bn_train_backward(dout, cache)
    return batchnorm_backward_alt(dout, cache)


# Bytes of one chunk of images in the spatial batch-norm passes: each chunk's temporaries
# stay in the L2 cache, so every full-size array is read or written only where it must be.
_BN_CHUNK_BYTES = 1 << 19

# Mean and variance come from the raw sums of x and x^2 (one read, no temporary) when the
# mean is small against the spread: var = E[x^2] - mean^2 then loses at most a factor
# 1 + mean^2 / var of precision, here 17, i.e. four bits of float32. Beyond that the
# statistics are recomputed from x shifted by the mean, which has no cancellation.
_RAW_MOMENTS_MAX_RATIO = 16.0


def _raw_moments_ok(mean, var) -> bool:
    """Whether ``E[x^2] - mean^2`` (and the like sums in the backward pass) are precise enough."""
    return bool(np.all(np.square(mean) <= _RAW_MOMENTS_MAX_RATIO * var))


def _rowdot(a, b):
    """``sum(a * b, axis=-1)`` as batched (1, P) x (P, 1) products: no temporary of a's size."""
    return np.matmul(a[..., None, :], b[..., :, None])[..., 0, 0]


def _images_per_chunk(x) -> int:
    return int(min(len(x), max(1, _BN_CHUNK_BYTES // max(1, x[0].nbytes))))


def _channel_sums(a3, b3, shift=None, buf=None):
    """Per-channel ``sum(a)`` and ``sum(a * (b - shift))`` of ``(N, C, P)`` arrays, in float64.

    ``shift`` is ``(C, 1)`` or None (no shift); ``a3=None`` means ``a = b - shift``. The shifted
    values are written chunk by chunk into ``buf`` (``(m, C, P)``), so no full-size temporary
    is made. Each (image, channel) row is summed by BLAS in the input's precision and the rows
    are added up in float64.
    """
    N, C, P = b3.shape
    m = _images_per_chunk(b3) if buf is None else len(buf)
    ones = np.ones(P, dtype=b3.dtype)
    s1, s2 = np.zeros(C), np.zeros(C)
    for n0 in range(0, N, m):
        b = b3[n0 : n0 + m]
        if shift is not None:
            b = np.subtract(b, shift, out=buf[: len(b)])
        a = b if a3 is None else a3[n0 : n0 + m]
        s1 += (a @ ones).sum(axis=0)  # row sums as matrix-vector products
        s2 += _rowdot(a, b).sum(axis=0)
    return s1, s2


def _scale_shift(x, centre, scale, shift, out):
    """``out = (x - centre) * scale + shift`` (``x * scale + shift`` when ``centre`` is None), in place.

    Per-channel ``(C, 1)`` operands on an ``(m, C, P)`` block; subtracting the centre first is
    what keeps the result exact when the mean dwarfs the spread.
    """
    if centre is None:
        np.multiply(x, scale, out=out)
    else:
        np.subtract(x, centre, out=out)
        out *= scale
    out += shift
    return out


def _spatial_bn_train_forward(x, gamma, beta, bn_param):
    """Training-mode :func:`spatial_batchnorm_forward`: one read of ``x`` for the statistics.

    The mean and the variance come from the per-channel sums of ``x`` and ``x^2`` (see
    ``_RAW_MOMENTS_MAX_RATIO``; when the mean dwarfs the spread they are recomputed from
    ``x - mean``). The output is ``x * scale + shift`` with ``scale = gamma / std`` and
    ``shift = beta - mean * scale`` per channel: two passes, chunked so that the second runs
    in the cache (torch's CPU kernel uses the same form; when the mean dwarfs the spread,
    ``(x - mean) * scale + beta`` instead, which does not cancel). The cache keeps ``x`` itself (as
    torch does), the mean and ``1/std``; the backward pass needs no ``xhat``.
    """
    N, C, H, W = x.shape
    eps, momentum, gamma, beta, running_mean, running_var = _bn_settings(x, gamma, beta, bn_param, C)
    x3 = x.reshape(N, C, H * W)
    M = N * H * W  # values averaged per channel
    m = _images_per_chunk(x3)
    s1, s2 = _channel_sums(x3, x3)
    mean64 = s1 / M
    var64 = np.maximum(s2 / M - mean64 * mean64, 0.0)  # biased
    centre = not _raw_moments_ok(mean64, var64)
    if centre:
        k = mean64.astype(x.dtype)[:, None]
        d1, d2 = _channel_sums(None, x3, k, np.empty((m, C, H * W), dtype=x.dtype))
        mean_d = d1 / M  # about 0: the shift is (the rounded) mean
        mean64 = k[:, 0] + mean_d
        var64 = np.maximum(d2 / M - mean_d * mean_d, 0.0)
    mu = mean64.astype(x.dtype)
    var = var64.astype(x.dtype)
    inv_std64 = 1.0 / np.sqrt(var64 + eps)
    inv_std = inv_std64.astype(x.dtype)
    dtype = np.result_type(x, gamma, beta)
    scale64 = gamma.reshape(C) * inv_std64
    scale = scale64.astype(dtype)[:, None]  # (C, 1)
    if centre:  # (x - mu) * scale + beta: x * scale would cancel against the shift
        shift = beta.reshape(C).astype(dtype)[:, None]
    else:
        shift = (beta.reshape(C) - mean64 * scale64).astype(dtype)[:, None]
    out = np.empty(x3.shape, dtype=dtype)
    for n0 in range(0, N, m):
        _scale_shift(x3[n0 : n0 + m], mu[:, None] if centre else None, scale, shift, out[n0 : n0 + m])
    bn_param["running_mean"] = momentum * running_mean + (1.0 - momentum) * mu
    bn_param["running_var"] = momentum * running_var + (1.0 - momentum) * var
    return out.reshape(x.shape), ("spatial_train", x, mu, inv_std, var, gamma, eps, M)


def _spatial_bn_train_backward(dout, cache):
    """Backward pass of :func:`_spatial_bn_train_forward` (the one-line form, chunked).

    ``dx = gamma / std / M * (M * dout - dbeta - xhat * dgamma)`` with ``xhat = (x - mu) / std``,
    written as ``k1 * dout + k2 * x + k3`` per channel: four passes, the last three in the
    cache. ``dgamma = sum(dout * (x - mu)) / std`` comes from ``sum(dout * x) - mu * dbeta``.
    When the mean dwarfs the spread (see ``_RAW_MOMENTS_MAX_RATIO``) both use ``x - mu``
    itself, as the forward pass does.
    """
    _, x, mu, inv_std, var, gamma, _, M = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(f"dout must have the shape of x {x.shape}, got {dout.shape}")
    N, C = x.shape[:2]
    x3, d3 = x.reshape(N, C, -1), dout.reshape(N, C, -1)
    dtype = np.result_type(x, dout, gamma)
    m = _images_per_chunk(x3)
    buf = np.empty((m,) + x3.shape[1:], dtype=dtype)
    mu64 = mu.astype(np.float64)
    centre = not _raw_moments_ok(mu64, var.astype(np.float64))
    if centre:
        dbeta, dxc = _channel_sums(d3, x3, mu[:, None], buf)  # sum(dout), sum(dout * (x - mu))
    else:
        dbeta, dxx = _channel_sums(d3, x3)  # sum(dout), sum(dout * x)
        dxc = dxx - mu64 * dbeta
    inv_std = inv_std.astype(np.float64)
    dgamma = dxc * inv_std
    k1 = gamma.reshape(C) * inv_std  # float64 coefficients (C,), cast once below
    k2 = -k1 * inv_std * dgamma / M
    k3 = -k1 * dbeta / M  # the constant of k2 * (x - mu) + k3
    if not centre:
        k3 = k3 - k2 * mu64  # ... and of k2 * x + k3
    k1, k2, k3 = (a.astype(dtype)[:, None] for a in (k1, k2, k3))
    dx = np.empty(x3.shape, dtype=dtype)
    for n0 in range(0, N, m):
        g = np.multiply(d3[n0 : n0 + m], k1, out=dx[n0 : n0 + m])
        g += _scale_shift(x3[n0 : n0 + m], mu[:, None] if centre else None, k2, k3, buf[: len(g)])
    return (dx.reshape(x.shape), dgamma.astype(dtype).reshape(gamma.shape), dbeta.astype(dtype).reshape(gamma.shape))


# --------------------------------------------------------------------------- layer / group norm
def _norm_last(x, eps):
    """Normalise over the last axis; returns xhat and inv_std with a kept last axis."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return xc * inv_std, inv_std


def _norm_last_backward(dxhat, xhat, inv_std):
    """Gradient through ``xhat = (x - mean) / std`` taken over the last axis."""
    D = xhat.shape[-1]
    s1 = dxhat.sum(axis=-1, keepdims=True)
    s2 = (dxhat * xhat).sum(axis=-1, keepdims=True)
    return (inv_std / D) * (D * dxhat - s1 - xhat * s2)


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation over the last axis, for any leading shape.

    ``out = gamma * (x - mean(x, -1)) / sqrt(var(x, -1) + eps) + beta``; no running statistics,
    so train and test behave the same (torch's ``layer_norm(x, (D,))``).

    Args:
        x: ``(..., D)``, e.g. ``(N, D)`` or ``(N, T, D)``.
        gamma, beta: ``(D,)``.
        ln_param: dict, optional ``'eps'`` (default 1e-5).

    Returns:
        out: shape of ``x``; cache ``(x, mean, inv_std, gamma)`` for :func:`layernorm_backward`,
        with ``mean`` and ``inv_std`` of shape ``(..., 1)``. Like torch, the cache refers to
        the input and keeps two numbers per row, not ``xhat``: where the caller keeps ``x``
        anyway (a residual path, say), no second array of its size waits for the backward pass.

    Example:
        >>> out, _ = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), {})
        >>> np.round(out, 4)
        array([[-1.,  1.]])
    """
    x = as_float_array("x", x)
    if x.ndim < 1:
        raise ValueError(f"x must have at least one axis (..., D), got shape {x.shape}")
    ln_param = {} if ln_param is None else ln_param
    eps = ln_param.get("eps", 1e-5)
    check_positive("ln_param['eps']", eps)
    D = x.shape[-1]
    gamma = _check_affine("gamma", gamma, D, f"feature of the last axis of x {x.shape}")
    beta = _check_affine("beta", beta, D, f"feature of the last axis of x {x.shape}")
    x2 = x.reshape(-1, D)  # (R, D): every leading index is one row
    dtype = np.result_type(x, gamma, beta)
    g, b = gamma.reshape(D).astype(dtype, copy=False), beta.reshape(D).astype(dtype, copy=False)
    out = np.empty(x2.shape, dtype=dtype)
    mean = np.empty((len(x2), 1), dtype=dtype)
    inv_std = np.empty((len(x2), 1), dtype=dtype)
    mean_w = np.full(D, 1.0 / D, dtype=dtype)
    # Chunks of rows small enough that each one's passes run in the L2 cache; row sums and
    # dot products go through BLAS (matrix-vector products, one read each). The output
    # buffer holds x - mean first, so no other array of x's size is written.
    for r in _row_chunks(x2):
        xr, o = x2[r], out[r]
        np.matmul(xr, mean_w, out=mean[r, 0])
        np.subtract(xr, mean[r], out=o)  # x - mean
        var = _rowdot(o, o) / D
        inv_std[r, 0] = 1.0 / np.sqrt(var + eps)
        o *= inv_std[r]  # xhat
        o *= g
        o += b
    lead = x.shape[:-1] + (1,)
    return out.reshape(x.shape), (x, mean.reshape(lead), inv_std.reshape(lead), gamma)


def _rows_per_chunk(x2, chunk_bytes: int = 1 << 18) -> int:
    """Rows of the 2-D array ``x2`` in about ``chunk_bytes``: a chunk's passes stay in the L2 cache."""
    return int(max(1, chunk_bytes // max(1, x2.shape[1] * x2.itemsize)))


def _row_chunks(x2):
    rows = _rows_per_chunk(x2)
    return [slice(r, r + rows) for r in range(0, len(x2), rows)]


def layernorm_backward(dout, cache):
    """Backward pass of :func:`layernorm_forward`.

    ``dx = (1/std) * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` per row, with
    ``dxhat = dout * gamma`` and ``xhat = (x - mean) / std`` recomputed chunk by chunk from the
    cache; the row means and the column sums for ``dgamma``, ``dbeta`` are matrix-vector
    products.

    Args:
        dout: upstream gradient, shape of x.
        cache: ``(x, mean, inv_std, gamma)`` from :func:`layernorm_forward`.

    Returns:
        dx (shape of x), dgamma ``(D,)``, dbeta ``(D,)`` (summed over every leading axis).
    """
    x, mean, inv_std, gamma = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(f"dout must have the shape of x {x.shape}, got {dout.shape}")
    D = x.shape[-1]
    dtype = np.result_type(x, dout, gamma)
    x2, d2 = x.reshape(-1, D), dout.reshape(-1, D)
    mean2, inv2 = mean.reshape(-1, 1), inv_std.reshape(-1, 1)
    g = gamma.reshape(D).astype(dtype, copy=False)
    dx = np.empty(x2.shape, dtype=dtype)
    dgamma = np.zeros(D, dtype=dtype)
    dbeta = np.zeros(D, dtype=dtype)
    rows = min(len(x2), _rows_per_chunk(x2))
    xc_buf, p_buf = np.empty((rows, D), dtype=dtype), np.empty((rows, D), dtype=dtype)
    ones = np.ones(rows, dtype=dtype)
    for r in _row_chunks(x2):
        d, out, inv = d2[r], dx[r], inv2[r]
        n = len(d)
        xc = np.subtract(x2[r], mean2[r], out=xc_buf[:n])  # x - mean (xhat = xc * inv)
        p = np.multiply(d, xc, out=p_buf[:n])  # dout * xc
        dbeta += ones[:n] @ d
        dgamma += inv[:, 0] @ p  # sum over rows of dout * xhat
        s1 = (d @ g)[:, None] / D  # mean of dxhat over the row
        s2 = (p @ g)[:, None] * (inv / D)  # mean of dxhat * xhat
        np.multiply(d, g, out=out)  # dxhat
        out -= s1
        xc *= inv * s2  # xhat * mean(dxhat * xhat)
        out -= xc
        out *= inv
    return dx.reshape(x.shape), dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


def groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation: each sample's channels split into ``G`` groups, each normalised.

    Args:
        x: ``(N, C, ...)`` (e.g. ``(N, C, H, W)``), ``C`` divisible by ``G``.
        gamma, beta: ``C`` entries, shape ``(C,)`` or CS231n's ``(1, C, 1, 1)``; gradients
            come back in the same shape.
        G: number of groups.
        gn_param: dict, optional ``'eps'`` (default 1e-5).

    Returns:
        out: shape of ``x``; cache for :func:`groupnorm_backward`.

    Example:
        >>> x = np.arange(8.0).reshape(1, 4, 2)
        >>> out, _ = groupnorm_forward(x, np.ones(4), np.zeros(4), 2, {})
        >>> out.shape
        (1, 4, 2)
    """
    x = as_float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, C, ...), got {x.shape}")
    N, C = x.shape[:2]
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise ValueError(f"G must be a positive integer that divides the channel count C={C}, got {G!r}")
    gn_param = {} if gn_param is None else gn_param
    eps = gn_param.get("eps", 1e-5)
    check_positive("gn_param['eps']", eps)
    gamma = _check_affine("gamma", gamma, C, "channel")
    beta = _check_affine("beta", beta, C, "channel")
    pshape = (1, C) + (1,) * (x.ndim - 2)
    xhat, inv_std = _norm_last(x.reshape(N, G, -1), eps)  # (N, G, C//G * H * W)
    xhat = xhat.reshape(x.shape)
    out = xhat * gamma.reshape(pshape) + beta.reshape(pshape)
    return out, (xhat, inv_std, gamma, G, pshape)


def groupnorm_backward(dout, cache):
    """Backward pass of :func:`groupnorm_forward`.

    Returns:
        dx (shape of x), dgamma, dbeta (shape of gamma).
    """
    xhat, inv_std, gamma, G, pshape = cache
    dout = np.asarray(dout)
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the shape of x {xhat.shape}, got {dout.shape}")
    N, C = xhat.shape[:2]
    axes = (0,) + tuple(range(2, xhat.ndim))
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = (dout * gamma.reshape(pshape)).reshape(N, G, -1)
    dx = _norm_last_backward(dxhat, xhat.reshape(N, G, -1), inv_std).reshape(xhat.shape)
    return dx, dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


# --------------------------------------------------------------------------- local response norm
def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """``s[:, c] = sum(a[:, c - before : c + after + 1])`` along axis 1, zeros outside."""
    C = a.shape[1]
    widths = [(0, 0)] * a.ndim
    widths[1] = (before + 1, after)  # one extra zero in front so that cumsum differences start at 0
    cs = np.cumsum(np.pad(a, widths), axis=1)
    hi = cs[:, before + after + 1 : before + after + 1 + C]
    lo = cs[:, :C]
    return hi - lo


def local_response_norm_forward(x, lrn_param=None):
    """Local response normalisation across channels (AlexNet; VGG's A-LRN column).

    ``out[:, c] = x[:, c] / (k + alpha / size * sum_{c' near c} x[:, c']^2) ** beta`` where the
    window holds ``size`` channels: ``size // 2`` before ``c`` and ``(size - 1) // 2`` after it,
    cut at the edges (exactly ``torch.nn.functional.local_response_norm``). The layer has no
    trainable parameters and keeps the shape of its input. The "local neighbourhood" of the
    lecture is taken across adjacent channels at the same pixel, as in AlexNet, VGG and torch.

    Args:
        x: ``(N, C, ...)``.
        lrn_param: dict with ``'size'`` (default 5), ``'alpha'`` (1e-4), ``'beta'`` (0.75),
            ``'k'`` (1.0).

    Returns:
        out: shape of ``x``; cache for :func:`local_response_norm_backward`.

    Example:
        >>> p = {"size": 3, "alpha": 3.0, "beta": 1.0, "k": 1.0}
        >>> out, _ = local_response_norm_forward(np.ones((1, 3, 1, 1)), p)
        >>> out.ravel()
        array([0.33333333, 0.25      , 0.33333333])
    """
    x = as_float_array("x", x)
    if x.ndim < 3:
        raise ValueError(f"x must have shape (N, C, ...) with at least one spatial axis, got {x.shape}")
    p = {} if lrn_param is None else lrn_param
    size, alpha, beta, k = int(p.get("size", 5)), p.get("alpha", 1e-4), p.get("beta", 0.75), p.get("k", 1.0)
    if size < 1:
        raise ValueError(f"lrn_param['size'] must be a positive integer, got {size}")
    check_positive("lrn_param['k']", k)
    before, after = size // 2, (size - 1) // 2
    denom = k + (alpha / size) * _channel_window_sum(x * x, before, after)  # (N, C, ...)
    scale = denom ** (-beta)
    return x * scale, (x, denom, scale, size, alpha, beta, before, after)


def local_response_norm_backward(dout, cache):
    """Backward pass of :func:`local_response_norm_forward`.

    Channel ``j`` appears in the window of every channel ``c`` with ``c - before <= j <= c + after``,
    so its gradient collects ``-2 beta alpha / size * x_j * sum_c dout_c x_c denom_c^(-beta-1)``
    over those ``c`` (a window sum with ``before`` and ``after`` swapped), plus the direct term
    ``dout_j * denom_j^(-beta)``.

    Returns:
        dx: shape of x.
    """
    x, denom, scale, size, alpha, beta, before, after = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ValueError(f"dout must have the shape of x {x.shape}, got {dout.shape}")
    g = dout * x * scale / denom  # dout_c x_c denom_c^(-beta-1)
    back = _channel_window_sum(g, after, before)
    return dout * scale - (2.0 * beta * alpha / size) * x * back


# --------------------------------------------------------------------------- dropout
def dropout_forward(x, dropout_param):
    """Inverted dropout.

    Training: each unit is zeroed with probability ``p`` and the survivors are multiplied by
    ``1 / (1 - p)``, so the expected activation is unchanged and the test-time pass is the
    identity (no rescaling needed at test time).

    Note: ``p`` is the probability of *dropping* a unit, as in ``torch.nn.Dropout``. CS231n's
    notebooks pass the probability of *keeping* one; convert with ``p = 1 - keep``.

    Args:
        x: input of any shape.
        dropout_param: dict with ``'p'`` (drop probability in ``[0, 1)``, default 0.5),
            ``'mode'`` (``'train'``/``'test'``, default ``'train'``) and optional ``'seed'``
            (an int makes the mask reproducible: same seed, same mask).

    Returns:
        out: shape of ``x``; cache ``(dropout_param, mask)`` where mask holds ``0`` or
        ``1/(1-p)`` (``None`` in test mode).

    Example:
        >>> out, _ = dropout_forward(np.ones(8), {"p": 0.5, "mode": "train", "seed": 0})
        >>> set(out.tolist()) <= {0.0, 2.0}
        True
    """
    x = as_float_array("x", x)
    if not isinstance(dropout_param, dict):
        raise TypeError(
            f"dropout_param must be a dict with keys 'p', 'mode', 'seed', got {type(dropout_param).__name__}"
        )
    p = dropout_param.get("p", 0.5)
    check_range("dropout_param['p'] (drop probability)", p, 0.0, 1.0)
    mode = dropout_param.get("mode", "train")
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    if mode == "test" or p == 0.0:
        return x.copy(), (dropout_param, None)
    seed = dropout_param.get("seed")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep = rng.random(x.shape) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: the same mask multiplies the gradient.

    Returns:
        dx: shape of dout.
    """
    _, mask = cache
    dout = np.asarray(dout)
    if mask is None:
        return dout.copy()
    if dout.shape != mask.shape:
        raise ValueError(f"dout must have the shape of x {mask.shape}, got {dout.shape}")
    return dout * mask
