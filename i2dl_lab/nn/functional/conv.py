"""Convolution, pooling, global average pooling and flatten: forward/backward pairs.

All layers follow the CS231n contract (``out, cache = f_forward(...)``,
``dx, ... = f_backward(dout, cache)``) and use the channels-first layout of torch:
``x`` is ``(N, C, H, W)`` and a filter bank ``w`` is ``(F, C, HH, WW)``.

Convolution is *cross-correlation*, as in every deep-learning library: the filter is slid
over the input without flipping it. The output size along one axis is

    out = (in + 2 * pad - kernel) / stride + 1

Convolution insists that this is a whole number (otherwise the last rows of the input would
be silently ignored, which is almost always a bug in an architecture); pooling takes the floor
of it, as ``torch.nn.functional.max_pool2d`` does.

Two implementations of convolution live here:

* :func:`conv_forward_naive` / :func:`conv_backward_naive`: four nested loops, the formula
  written out. Read these first. Slow (see their docstrings for how slow).
* :func:`conv_forward` / :func:`conv_backward`: the same maths as matrix products. Each
  image's receptive fields are copied into the columns of a ``(C*HH*WW, Ho*Wo)`` matrix
  (``im2col``); multiplying it by the filters reshaped to ``(F, C*HH*WW)`` gives every output
  pixel at once. The backward pass is two more matrix products plus ``col2im``, which adds the
  column gradients back onto the image with a loop over the ``HH*WW`` kernel offsets only.

How the fast path keeps to torch's speed and memory: the columns of a few images at a time
are built in one buffer small enough to stay in the CPU cache (the full column matrix of a
batch is nine times the input for a 3x3 kernel), so nothing the size of the columns is
allocated or kept; the backward pass rebuilds them from ``x`` instead. The zero padding is
never materialised: the columns copy only the kernel offsets that land inside the image, and
the padded positions of the reused buffer stay zero. The bias is one more column of the
filter matrix, multiplied by a row of ones under the image columns, so the GEMM adds it and,
in the backward pass, sums ``db`` with ``dw``.

Stride 1 with "same" width (``WW = 2*pad + 1``, e.g. 3x3 with pad 1) is the convolution of
almost every network, and it takes a faster route through the flattened image. With the
rows of an image laid end to end, output pixel ``q = oi*W + oj`` reads input pixel ``q +
shift`` for kernel offset ``(i, j)``, ``shift = (i - pad)*W + (j - pad)``: each offset's row of
columns is one contiguous slice of the image, copied whole, and only the few reads that
wrap round a row end (the horizontal zero padding) are cleared afterwards. The backward pass
adds each offset's column gradients back with one contiguous add per offset over all
channels at once; NumPy's elementwise loops run several times faster on contiguous memory
than on the short strided rows that ``col2im`` would add otherwise. With many channels the
forward pass stacks only the ``WW`` horizontal shifts of the image and runs one GEMM per
kernel row on slices of them (:func:`_conv_forward_rows`), a third of the copying.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float_array, check_ndim

__all__ = [
    "conv_output_size",
    "im2col",
    "conv_forward",
    "conv_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward",
    "max_pool_backward",
    "avg_pool_forward",
    "avg_pool_backward",
    "global_avg_pool_forward",
    "global_avg_pool_backward",
    "flatten_forward",
    "flatten_backward",
]


# --------------------------------------------------------------------------- sizes
def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0, *, exact: bool = True,
                     axis: str = "width") -> int:
    """Output length of a convolution or pooling window along one axis.

    ``out = (size + 2 * pad - kernel) / stride + 1``

    Args:
        size: input length (height or width), ``>= 1``.
        kernel: window length, ``>= 1``.
        stride: step between windows, ``>= 1``.
        pad: zeros added on *each* side, ``>= 0``.
        exact: if True (convolution), the division must leave no remainder; if False
            (pooling, as torch) the result is floored and the last rows that do not fill a
            window are dropped.
        axis: name used in error messages ("height" or "width").

    Returns:
        The output length, an ``int``.

    Raises:
        ValueError: for non-positive sizes, a kernel larger than the padded input, or (with
            ``exact``) a stride that does not tile it; the message shows the formula with the
            numbers filled in.

    Example:
        >>> conv_output_size(32, 5, stride=1, pad=2)
        32
        >>> conv_output_size(7, 2, stride=2, exact=False)
        3
    """
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{axis} {name} must be an integer >= {low}, got {value!r}")
    padded = size + 2 * pad
    formula = f"({axis} + 2*pad - kernel) / stride + 1 = ({size} + 2*{pad} - {kernel}) / {stride} + 1"
    if kernel > padded:
        raise ValueError(
            f"kernel {axis} {kernel} is larger than the padded input {axis} {padded} "
            f"({size} + 2*{pad}): output {formula} = {(padded - kernel) / stride + 1:g} < 1"
        )
    if exact and (padded - kernel) % stride:
        raise ValueError(
            f"stride {stride} does not tile the padded input along the {axis}: output {formula} "
            f"= {(padded - kernel) / stride + 1:g} is not a whole number; change the padding, kernel or stride"
        )
    return (padded - kernel) // stride + 1


def _conv_params(conv_param) -> tuple[int, int]:
    if not isinstance(conv_param, dict):
        raise TypeError(f"conv_param must be a dict with keys 'stride' and 'pad', got {type(conv_param).__name__}")
    return int(conv_param.get("stride", 1)), int(conv_param.get("pad", 0))


def _check_conv_inputs(x, w, b, conv_param):
    x = as_float_array("x", x)
    w = as_float_array("w", w)
    b = as_float_array("b", b)
    check_ndim("x", x, 4, "(N, C, H, W)")
    check_ndim("w", w, 4, "(F, C, HH, WW)")
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(
            f"channel mismatch: x has C={C} channels (shape {x.shape}) but the filters w expect "
            f"C={Cw} (shape {w.shape}, layout (F, C, HH, WW))"
        )
    if b.shape != (F,):
        raise ValueError(f"b must have shape ({F},) (one bias per filter), got {b.shape}")
    stride, pad = _conv_params(conv_param)
    Ho = conv_output_size(H, HH, stride, pad, axis="height")
    Wo = conv_output_size(W, WW, stride, pad, axis="width")
    return x, w, b, stride, pad, Ho, Wo


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _offset_slice(i: int, j: int, stride: int, Ho: int, Wo: int):
    """Index of the input pixels that kernel offset (i, j) touches, for every output pixel."""
    return (slice(None), slice(None), slice(i, i + (Ho - 1) * stride + 1, stride),
            slice(j, j + (Wo - 1) * stride + 1, stride))


# --------------------------------------------------------------------------- im2col / col2im
# Bytes of the buffers one chunk of images works in (its columns and the GEMM results they
# feed): small enough to stay in the L2 cache of a core. Counting the results too matters:
# on the 3-channel forward pass, chunks whose columns alone fill this budget run 2x slower.
_COLS_BYTES = 1 << 20


def _valid_range(offset: int, stride: int, pad: int, n_out: int, n_in: int) -> tuple[slice, slice]:
    """Along one axis: which outputs kernel ``offset`` reads inside the image, and where.

    Output ``o`` reads input ``o * stride + offset - pad``; the outputs for which that lies in
    ``[0, n_in)`` form a contiguous range (the others read zero padding).

    >>> _valid_range(0, 1, 1, 4, 4)  # the first output reads the padding
    (slice(1, 4, None), slice(0, 3, 1))
    """
    lo = max(0, -((offset - pad) // stride))  # ceil((pad - offset) / stride)
    hi = min(n_out, (n_in - 1 + pad - offset) // stride + 1)
    hi = max(hi, lo)
    start = lo * stride + offset - pad
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1 if hi > lo else start, stride)


def _offset_ranges(HH, WW, stride, pad, Ho, Wo, H, W):
    """``[(i, j, out_rows, out_cols, in_rows, in_cols), ...]`` for every kernel offset."""
    ranges = []
    for i in range(HH):
        orow, irow = _valid_range(i, stride, pad, Ho, H)
        for j in range(WW):
            ocol, icol = _valid_range(j, stride, pad, Wo, W)
            ranges.append((i, j, orow, ocol, irow, icol))
    return ranges


def _im2col(x, cols6, ranges) -> None:
    """Copy the receptive fields of ``x (m, C, H, W)`` into ``cols6 (m, C, HH, WW, Ho, Wo)``.

    Only offsets inside the image are written; the padded positions keep their zeros.
    """
    for i, j, orow, ocol, irow, icol in ranges:
        cols6[:, :, i, j, orow, ocol] = x[:, :, irow, icol]


def _col2im(dcols6, dx, ranges) -> None:
    """Add the column gradients ``dcols6 (m, C, HH, WW, Ho, Wo)`` back onto ``dx (m, C, H, W)``.

    Overlapping receptive fields add up; gradients that fall on the padding are dropped.
    """
    for i, j, orow, ocol, irow, icol in ranges:
        dx[:, :, irow, icol] += dcols6[:, :, i, j, orow, ocol]


def im2col(x, HH: int, WW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The receptive fields of ``x`` as columns, the matrix a convolution multiplies.

    Args:
        x: input, shape ``(N, C, H, W)``.
        HH, WW: kernel height and width.
        stride, pad: as in ``conv_param``.

    Returns:
        cols: shape ``(N, C*HH*WW, Ho*Wo)``; row ``c*HH*WW + i*WW + j`` holds kernel offset
        ``(i, j)`` of channel ``c``, column ``oi*Wo + oj`` the output pixel ``(oi, oj)``; padded
        positions are zero. ``conv_forward`` builds the same columns in cache-sized chunks.

    Example:
        >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)[0]
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col expects x of shape (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    Ho = conv_output_size(H, HH, stride, pad)
    Wo = conv_output_size(W, WW, stride, pad)
    cols6 = np.zeros((N, C, HH, WW, Ho, Wo), dtype=x.dtype)
    _im2col(x, cols6, _offset_ranges(HH, WW, stride, pad, Ho, Wo, H, W))
    return cols6.reshape(N, C * HH * WW, Ho * Wo)


def _column_buffer(m, C, HH, WW, Ho, Wo, dtype):
    """Zeroed ``(m, K + 1, P)`` columns with the last row set to ones (for the bias), and its
    ``(m, C, HH, WW, Ho, Wo)`` view of the first ``K`` rows that im2col writes into."""
    K, P = C * HH * WW, Ho * Wo
    cols = np.zeros((m, K + 1, P), dtype=dtype)
    cols[:, K] = 1.0
    return cols, cols[:, :K].reshape(m, C, HH, WW, Ho, Wo)  # splitting axes: a view, never a copy


def _images_per_chunk(N: int, floats_per_image: int, itemsize: int) -> int:
    """How many images' buffers (``floats_per_image`` numbers each) fit in ``_COLS_BYTES``."""
    return int(min(N, max(1, _COLS_BYTES // (floats_per_image * itemsize))))


def _is_same_width(stride: int, pad: int, WW: int) -> bool:
    """Stride 1 and ``WW = 2*pad + 1``: the output keeps the input width (the flat path)."""
    return stride == 1 and WW == 2 * pad + 1


def _flat_taps(H: int, W: int, HH: int, WW: int, pad: int, Ho: int):
    """``[(shift, lo, hi, wrap), ...]`` for each kernel offset ``(i, j)``, row-major.

    On the flattened image (``x.reshape(C, H*W)``) output pixel ``q = oi*W + oj`` reads input
    pixel ``q + shift``. The outputs ``[lo, hi)`` read inside the image; the others read the
    zero rows above or below it. ``wrap`` selects the output columns ``oj`` whose read ran past
    a row end into the neighbouring row (they must read the zero padding instead), or is None.

    >>> _flat_taps(4, 4, 3, 3, 1, 4)[0]  # offset (0, 0): up one row and left one column
    (-5, 5, 16, slice(0, 1, None))
    """
    P, HW = Ho * W, H * W
    taps = []
    for i in range(HH):
        for j in range(WW):
            shift = (i - pad) * W + (j - pad)
            lo, hi = min(P, max(0, -shift)), max(0, min(P, HW - shift))
            taps.append((shift, lo, max(lo, hi), _wrapped_columns(j, pad, W)))
    return taps


def _wrapped_columns(j: int, pad: int, W: int):
    """The output columns whose kernel column ``j`` reads past the left (``j < pad``) or right
    (``j > pad``) edge of the image, as a slice; None for the centre column."""
    return slice(0, pad - j) if j < pad else slice(W - (j - pad), W) if j > pad else None


def _flat_cols(x3, cols4, taps, W: int) -> None:
    """Copy the receptive fields of ``x3 (m, C, H*W)`` into ``cols4 (m, HH*WW, C, Ho*W)``.

    One contiguous slice per kernel offset; positions outside ``[lo, hi)`` keep the zeros the
    buffer was made with, and the reads that wrapped round a row end are cleared.
    """
    m, C, P = cols4.shape[0], cols4.shape[2], cols4.shape[3]
    for t, (shift, lo, hi, wrap) in enumerate(taps):
        cols4[:, t, :, lo:hi] = x3[:, :, lo + shift : hi + shift]
        if wrap is not None:
            cols4[:, t].reshape(m, C, P // W, W)[..., wrap] = 0


# Inner dimension (WW*C) from which the flat forward pass runs one GEMM per kernel row
# instead of one over all offsets: OpenBLAS reaches full speed on such GEMMs, and the
# buffer they read is three times smaller to build than the columns (measured on a 3x3
# conv: C = 32 and 64 about 15% faster with the rows, C = 16 and 24 slower).
_ROWS_MIN_DEPTH = 96


def _flat_rows(x3, rows4, pad: int, W: int) -> None:
    """Copy ``x3 (m, C, H*W)`` shifted by each kernel column into ``rows4 (m, WW, C, Lx)``.

    ``rows4[:, j]`` is the image moved ``j - pad`` pixels to the left (the reads of kernel
    column ``j``) with ``pad`` zero rows above it, so that kernel row ``i`` reads the slice
    ``[i*W, i*W + Ho*W)`` of every row. Stacking the kernel columns makes each kernel row one
    GEMM of depth ``WW*C``.
    """
    m, WW, C, _ = rows4.shape
    HW = x3.shape[2]
    o = pad * W
    for j in range(WW):
        shift = j - pad
        lo, hi = min(HW, max(0, -shift)), max(0, min(HW, HW - shift))
        rows4[:, j, :, o + lo : o + max(lo, hi)] = x3[:, :, lo + shift : max(lo, hi) + shift]
        wrap = _wrapped_columns(j, pad, W)
        if wrap is not None:
            rows4[:, j, :, o : o + HW].reshape(m, C, HW // W, W)[..., wrap] = 0


# --------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param):
    """Convolution (cross-correlation) with zero padding and stride, vectorised with im2col.

    Args:
        x: input, shape ``(N, C, H, W)``.
        w: filters, shape ``(F, C, HH, WW)``.
        b: biases, shape ``(F,)``.
        conv_param: ``{'stride': int, 'pad': int}`` (zeros added on each side of H and W).

    Returns:
        out: shape ``(N, F, Ho, Wo)`` with ``Ho = (H + 2*pad - HH) / stride + 1`` (and ``Wo``
            likewise), same dtype as ``x``/``w``.
        cache: ``(x, w, b, conv_param)`` for :func:`conv_backward` (a reference to ``x``, as
            torch keeps: do not change ``x`` in place before the backward pass).

    Raises:
        ValueError: channel mismatch, a kernel larger than the padded input, or a stride that
            does not tile it (the message shows the output-size formula with the numbers).

    Example:
        >>> x = np.ones((1, 1, 3, 3)); w = np.ones((1, 1, 2, 2)); b = np.zeros(1)
        >>> conv_forward(x, w, b, {"stride": 1, "pad": 0})[0][0, 0]
        array([[4., 4.],
               [4., 4.]])
    """
    x, w, b, stride, pad, Ho, Wo = _check_conv_inputs(x, w, b, conv_param)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    K, P = C * HH * WW, Ho * Wo
    dtype = np.result_type(x, w)
    flat = _is_same_width(stride, pad, WW)
    if flat and WW * C >= _ROWS_MIN_DEPTH:
        return _conv_forward_rows(x, w, b, pad, Ho), (x, w, b, conv_param)
    wb = np.empty((F, K + 1), dtype=dtype)  # [filters | bias]: the GEMM adds the bias
    # the flat columns are ordered (offset, channel), the im2col ones (channel, offset)
    wb[:, :K] = (w.transpose(0, 2, 3, 1) if flat else w).reshape(F, K)
    wb[:, K] = b
    m = _images_per_chunk(N, (K + 1 + F) * P, dtype.itemsize)  # columns and output
    cols, cols6 = _column_buffer(m, C, HH, WW, Ho, Wo, dtype)  # (m, K+1, P)
    out = np.empty((N, F, P), dtype=dtype)
    if flat:
        taps = _flat_taps(H, W, HH, WW, pad, Ho)
        x3 = x.reshape(N, C, H * W)
        cols4 = cols[:, :K].reshape(m, HH * WW, C, P)
    else:
        ranges = _offset_ranges(HH, WW, stride, pad, Ho, Wo, H, W)
    for n0 in range(0, N, m):
        k = min(m, N - n0)
        if flat:
            _flat_cols(x3[n0 : n0 + k], cols4[:k], taps, W)
        else:
            _im2col(x[n0 : n0 + k], cols6[:k], ranges)
        np.matmul(wb, cols[:k], out=out[n0 : n0 + k])  # (F, K+1) @ (k, K+1, P) -> (k, F, P), NCHW
    return out.reshape(N, F, Ho, Wo), (x, w, b, conv_param)


def _conv_forward_rows(x, w, b, pad, Ho):
    """:func:`conv_forward` for stride 1 and ``WW = 2*pad + 1``, one GEMM per kernel row.

    ``out[:, q] = sum_i w_i @ rows[:, i*W + q]`` with ``w_i (F, WW*C)`` the filters' row ``i``
    (columns ordered (kernel column, channel)) and ``rows`` from :func:`_flat_rows`; the bias
    rides on a row of ones in the first GEMM. Returns ``out (N, F, Ho, W)``.
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    R, P, Lx = WW * C, Ho * W, (Ho + HH - 1) * W
    dtype = np.result_type(x, w)
    w_rows = np.ascontiguousarray(w.transpose(2, 0, 3, 1).reshape(HH, F, R))  # (i, F, (j, c))
    wb0 = np.empty((F, R + 1), dtype=dtype)  # [row 0 of the filters | bias]
    wb0[:, :R] = w_rows[0]
    wb0[:, R] = b
    m = _images_per_chunk(N, (R + 1) * Lx + 2 * F * P, dtype.itemsize)  # rows, output, one row's part
    rows = np.zeros((m, R + 1, Lx), dtype=dtype)
    rows[:, R] = 1.0
    rows4 = rows[:, :R].reshape(m, WW, C, Lx)
    x3 = x.reshape(N, C, H * W)
    out = np.empty((N, F, P), dtype=dtype)
    part = np.empty((m, F, P), dtype=dtype)
    for n0 in range(0, N, m):
        k = min(m, N - n0)
        _flat_rows(x3[n0 : n0 + k], rows4[:k], pad, W)
        acc = out[n0 : n0 + k]
        np.matmul(wb0, rows[:k, :, :P], out=acc)  # (F, R+1) @ (k, R+1, P) -> (k, F, P)
        for i in range(1, HH):
            np.matmul(w_rows[i], rows[:k, :R, i * W : i * W + P], out=part[:k])
            acc += part[:k]  # contiguous: NumPy's fast loop
    return out.reshape(N, F, Ho, W)


def conv_backward(dout, cache):
    """Backward pass of :func:`conv_forward`.

    With ``cols_n`` the ``(K, P)`` column matrix of image ``n`` and ``dout_n`` its ``(F, P)``
    gradient: ``dw = sum_n dout_n @ cols_n^T``, ``db = sum_n dout_n @ 1`` (one GEMM with the
    row of ones under the columns) and ``dx_n = col2im(w^T @ dout_n)``.

    Args:
        dout: upstream gradient, shape ``(N, F, Ho, Wo)``.
        cache: from :func:`conv_forward`.

    Returns:
        dx: ``(N, C, H, W)``; dw: ``(F, C, HH, WW)``; db: ``(F,)``.
    """
    x, w, b, conv_param = cache
    stride, pad = _conv_params(conv_param)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = conv_output_size(H, HH, stride, pad, axis="height")
    Wo = conv_output_size(W, WW, stride, pad, axis="width")
    K, P = C * HH * WW, Ho * Wo
    dout = np.asarray(dout)
    if dout.shape != (N, F, Ho, Wo):
        raise ValueError(f"dout must have the forward output's shape {(N, F, Ho, Wo)}, got {dout.shape}")
    dtype = np.result_type(x, w)
    dout3 = dout.reshape(N, F, P).astype(dtype, copy=False)
    if _is_same_width(stride, pad, WW):
        return _conv_backward_flat(x, w, dout3, pad, Ho)
    wT = np.ascontiguousarray(w.reshape(F, K).T)  # (K, F)
    m = _images_per_chunk(N, (2 * K + 1 + F) * P, dtype.itemsize)  # columns, their gradient, dout
    cols, cols6 = _column_buffer(m, C, HH, WW, Ho, Wo, dtype)  # rebuilt from x, chunk by chunk
    dcols = np.empty((m, K, P), dtype=dtype)
    dcols6 = dcols.reshape(m, C, HH, WW, Ho, Wo)
    dwbT = np.zeros((K + 1, F), dtype=dtype)  # [dw | db], transposed
    dwbT_k = np.empty((m, K + 1, F), dtype=dtype)
    dx = np.zeros((N, C, H, W), dtype=dtype)
    ranges = _offset_ranges(HH, WW, stride, pad, Ho, Wo, H, W)
    for n0 in range(0, N, m):
        k = min(m, N - n0)
        d = dout3[n0 : n0 + k]  # (k, F, P)
        _im2col(x[n0 : n0 + k], cols6[:k], ranges)
        # (k, K+1, P) @ (k, P, F): the columns are the left operand, the layout OpenBLAS runs fastest
        np.matmul(cols[:k], d.transpose(0, 2, 1), out=dwbT_k[:k])
        dwbT += dwbT_k[:k].sum(axis=0)
        np.matmul(wT, d, out=dcols[:k])  # (K, F) @ (k, F, P) -> (k, K, P)
        _col2im(dcols6[:k], dx[n0 : n0 + k], ranges)
    return dx, np.ascontiguousarray(dwbT[:K].T).reshape(w.shape), dwbT[K].copy()


def _conv_backward_flat(x, w, dout3, pad, Ho):
    """:func:`conv_backward` for stride 1 and ``WW = 2*pad + 1`` on the flattened image.

    ``dout3`` is ``(N, F, Ho*W)``. The column gradients go back onto a zero-padded flat image
    ``dxf`` holding each channel in a block of ``L`` with the image at ``o = pad*W + pad``:
    offset ``t`` adds its ``(C, L)`` block of column gradients at ``dxf[s_t : s_t + C*L]``,
    ``s_t = shift_t + o``, one contiguous add for all channels. Every read of the forward pass
    stays in its own channel's block, so its gradient does too; the ``L - Ho*W`` trailing
    columns of each block are zero and add nothing. The column gradients are made one kernel
    row at a time, so that they are still in cache when they are added back.
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    T, K, P, R = HH * WW, C * HH * WW, Ho * W, WW * C
    dtype = dout3.dtype
    taps = _flat_taps(H, W, HH, WW, pad, Ho)
    o = pad * W + pad
    L = P + (HH - 1) * W + WW - 1  # reaches the bottom-right read of the last output pixel
    wT = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(K, F))  # (K, F), rows (offset, channel)
    m = _images_per_chunk(N, (K + 1 + F) * P, dtype.itemsize)  # columns and dout
    cols, _ = _column_buffer(m, C, HH, WW, Ho, W, dtype)  # (m, K+1, P), rebuilt from x
    cols4 = cols[:, :K].reshape(m, T, C, P)
    drow = np.zeros((WW, C, L), dtype=dtype)  # column gradients of one kernel row
    drow_rp = drow.reshape(R, L)[:, :P]  # what the GEMM writes; columns P.. stay zero
    dxf = np.zeros(C * L + (HH - 1) * W + WW - 1, dtype=dtype)  # the tail past C*L only ever adds zeros
    dwbT = np.zeros((K + 1, F), dtype=dtype)  # [dw | db], transposed
    dwbT_k = np.empty((m, K + 1, F), dtype=dtype)
    x3 = x.reshape(N, C, H * W)
    dx = np.empty((N, C, H * W), dtype=dtype)
    for n0 in range(0, N, m):
        k = min(m, N - n0)
        d = dout3[n0 : n0 + k]  # (k, F, P)
        _flat_cols(x3[n0 : n0 + k], cols4[:k], taps, W)
        np.matmul(cols[:k], d.transpose(0, 2, 1), out=dwbT_k[:k])  # (k, K+1, F)
        for g in dwbT_k[:k]:
            dwbT += g
        for n in range(k):
            for i in range(HH):
                np.matmul(wT[i * R : (i + 1) * R], d[n], out=drow_rp)  # (WW*C, F) @ (F, P)
                for j in range(WW):
                    t = i * WW + j
                    shift, _, _, wrap = taps[t]
                    if wrap is not None:  # those reads were zero padding: no gradient
                        drow[j, :, :P].reshape(C, Ho, W)[..., wrap] = 0
                    s = shift + o
                    if t == 0:  # s = 0: a copy, so dxf needs no clearing between images
                        dxf[: C * L] = drow[0].reshape(C * L)
                    else:
                        dxf[s : s + C * L] += drow[j].reshape(C * L)
            dx[n0 + n] = dxf[: C * L].reshape(C, L)[:, o : o + H * W]
    dw = np.ascontiguousarray(dwbT[:K].reshape(HH, WW, C, F).transpose(3, 2, 0, 1))
    return dx.reshape(N, C, H, W), dw, dwbT[K].copy()


def conv_forward_naive(x, w, b, conv_param):
    """Convolution written as the formula: loops over images, filters and output pixels.

    ``out[n, f, i, j] = b[f] + sum_{c, di, dj} x_pad[n, c, i*stride + di, j*stride + dj] * w[f, c, di, dj]``

    The teaching version and a second oracle in the tests. It is slow: on a (64, 3, 32, 32)
    float32 batch with 32 3x3 filters (pad 1) it takes about 37 s against about 10 ms for
    :func:`conv_forward`, roughly 3700x slower (one thread on a busy 2-core machine, measured
    with ``python benchmarks/bench_layers.py --naive``); the backward pass is slower still.

    Args/Returns: as :func:`conv_forward` (the cache is ``(x, w, b, conv_param)``).
    """
    x, w, b, stride, pad, Ho, Wo = _check_conv_inputs(x, w, b, conv_param)
    N = x.shape[0]
    F, _, HH, WW = w.shape
    xp = _pad(x, pad)
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Backward pass of :func:`conv_forward_naive`, looping like the forward pass.

    Every output pixel ``out[n, f, i, j]`` used one input patch and filter ``f``; its gradient
    flows back to both: the patch receives ``dout * w[f]`` and the filter ``dout * patch``.

    Returns:
        dx ``(N, C, H, W)``, dw ``(F, C, HH, WW)``, db ``(F,)``.
    """
    x, w, b, conv_param = cache
    stride, pad = _conv_params(conv_param)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    g = dout[n, f, i, j]
                    dxp[n, :, rows, cols] += g * w[f]
                    dw[f] += g * xp[n, :, rows, cols]
                    db[f] += g
    dx = dxp[:, :, pad : pad + H, pad : pad + W] if pad else dxp
    return dx.copy(), dw, db


# --------------------------------------------------------------------------- pooling
def _pool_params(x, pool_param, name):
    x = as_float_array("x", x)
    check_ndim("x", x, 4, "(N, C, H, W)")
    if not isinstance(pool_param, dict):
        raise TypeError(f"{name}: pool_param must be a dict with keys 'pool_height', 'pool_width', 'stride'")
    ph = pool_param.get("pool_height", 2)
    pw = pool_param.get("pool_width", 2)
    stride = pool_param.get("stride", 2)
    Ho = conv_output_size(x.shape[2], ph, stride, 0, exact=False, axis="height")
    Wo = conv_output_size(x.shape[3], pw, stride, 0, exact=False, axis="width")
    return x, int(ph), int(pw), int(stride), Ho, Wo


def max_pool_forward(x, pool_param):
    """Max pooling over ``pool_height x pool_width`` windows taken every ``stride`` pixels.

    Windows may overlap (stride < window) or leave a remainder (the last rows/columns that do
    not fill a window are dropped, as in torch's default ``ceil_mode=False``).

    Args:
        x: input, shape ``(N, C, H, W)``.
        pool_param: ``{'pool_height': int, 'pool_width': int, 'stride': int}`` (default 2, 2, 2).

    Returns:
        out: ``(N, C, Ho, Wo)`` with ``Ho = floor((H - pool_height) / stride) + 1``.
        cache: ``(x, out, pool_param)``.

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0][0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """
    x, ph, pw, stride, Ho, Wo = _pool_params(x, pool_param, "max_pool_forward")
    # Loop over the ph*pw offsets only: each step compares one strided slice with the running max.
    # For 2x2/stride 2 on (64, 32, 32, 32) this is ~20x faster than the reshape trick
    # x.reshape(N, C, Ho, 2, Wo, 2).max(axis=(3, 5)), whose reduction runs over tiny strided axes.
    out = None
    for i in range(ph):
        for j in range(pw):
            sl = x[_offset_slice(i, j, stride, Ho, Wo)]
            out = sl.copy() if out is None else np.maximum(out, sl, out=out)
    return out, (x, out, pool_param)


def max_pool_backward(dout, cache):
    """Backward pass of :func:`max_pool_forward`.

    Each window's gradient goes to its maximum. When a window holds the maximum more than once
    the gradient goes to the first one in row-major order (as torch does), so the gradient
    keeps the same total as ``dout``.

    Returns:
        dx: shape ``(N, C, H, W)``.
    """
    x, out, pool_param = cache
    _, ph, pw, stride, Ho, Wo = _pool_params(x, pool_param, "max_pool_backward")
    dout = np.asarray(dout)
    if dout.shape != out.shape:
        raise ValueError(f"dout must have the pooled output's shape {out.shape}, got {dout.shape}")
    dx = np.zeros_like(x)
    taken = np.zeros(out.shape, dtype=bool)  # windows whose maximum has been routed already
    disjoint = stride >= ph and stride >= pw
    for i in range(ph):
        for j in range(pw):
            idx = _offset_slice(i, j, stride, Ho, Wo)
            hit = x[idx] == out
            hit &= ~taken
            taken |= hit
            if disjoint:
                np.multiply(hit, dout, out=dx[idx])
            else:
                dx[idx] += hit * dout
    return dx


def avg_pool_forward(x, pool_param):
    """Average pooling; same windows and parameters as :func:`max_pool_forward`.

    Returns:
        out: ``(N, C, Ho, Wo)``; cache: ``(x.shape, dtype, pool_param)``.

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> avg_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0][0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
    """
    x, ph, pw, stride, Ho, Wo = _pool_params(x, pool_param, "avg_pool_forward")
    out = np.zeros(x.shape[:2] + (Ho, Wo), dtype=x.dtype)
    for i in range(ph):
        for j in range(pw):
            out += x[_offset_slice(i, j, stride, Ho, Wo)]
    out *= 1.0 / (ph * pw)
    return out, (x.shape, x.dtype, pool_param)


def avg_pool_backward(dout, cache):
    """Backward pass of :func:`avg_pool_forward`: every input of a window gets ``dout / (ph*pw)``.

    Returns:
        dx: shape ``(N, C, H, W)``.
    """
    shape, dtype, pool_param = cache
    ph, pw, stride = pool_param.get("pool_height", 2), pool_param.get("pool_width", 2), pool_param.get("stride", 2)
    Ho = conv_output_size(shape[2], ph, stride, exact=False, axis="height")
    Wo = conv_output_size(shape[3], pw, stride, exact=False, axis="width")
    dout = np.asarray(dout)
    if dout.shape != shape[:2] + (Ho, Wo):
        raise ValueError(f"dout must have the pooled output's shape {shape[:2] + (Ho, Wo)}, got {dout.shape}")
    share = dout * (1.0 / (ph * pw))
    dx = np.zeros(shape, dtype=np.result_type(dtype, dout.dtype))
    for i in range(ph):
        for j in range(pw):
            dx[_offset_slice(i, j, stride, Ho, Wo)] += share
    return dx


def global_avg_pool_forward(x):
    """Average over all spatial positions: ``(N, C, H, W) -> (N, C)``.

    Returns:
        out ``(N, C)``; cache ``x.shape``.

    Example:
        >>> global_avg_pool_forward(np.arange(8.0).reshape(1, 2, 2, 2))[0]
        array([[1.5, 5.5]])
    """
    x = as_float_array("x", x)
    check_ndim("x", x, 4, "(N, C, H, W)")
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    """Backward pass of :func:`global_avg_pool_forward`: spread ``dout / (H*W)`` evenly.

    Returns:
        dx: shape ``(N, C, H, W)``.
    """
    N, C, H, W = cache
    dout = np.asarray(dout)
    if dout.shape != (N, C):
        raise ValueError(f"dout must have shape {(N, C)}, got {dout.shape}")
    return np.broadcast_to((dout / (H * W))[:, :, None, None], cache).copy()


def flatten_forward(x):
    """Keep the batch axis, flatten the rest: ``(N, d1, ..., dk) -> (N, d1*...*dk)``.

    Returns:
        out ``(N, D)``; cache ``x.shape``.

    Example:
        >>> flatten_forward(np.zeros((2, 3, 4, 5)))[0].shape
        (2, 60)
    """
    x = as_float_array("x", x)
    if x.ndim < 1:
        raise ValueError(f"x must have a batch axis, got shape {x.shape}")
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    """Backward pass of :func:`flatten_forward`: reshape the gradient back to ``x.shape``."""
    dout = np.asarray(dout)
    if dout.size != int(np.prod(cache)):
        raise ValueError(f"dout must have {int(np.prod(cache))} elements to reshape to {cache}, got {dout.shape}")
    return dout.reshape(cache)
