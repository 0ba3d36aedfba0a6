"""Graded exercises of lab 06 (convolutional networks from scratch).

References are the library's own layers (``i2dl_lab.nn.functional``) and architecture
arithmetic (``i2dl_lab.architecture``); drivers adapt the student's function to them.
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose

#: The exam's 7x7 image and horizontal edge filter (midterm II review).
EXAM_IMAGE = np.array([
    [6, 3, 4, 4, 5, 0, 3],
    [4, 7, 4, 0, 4, 0, 4],
    [7, 0, 2, 3, 4, 5, 2],
    [3, 7, 5, 0, 3, 0, 7],
    [5, 8, 1, 2, 5, 4, 2],
    [8, 0, 1, 0, 6, 0, 0],
    [6, 4, 1, 3, 0, 4, 5],
], dtype=np.float64)
HORIZONTAL_EDGE = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64)


# ---------------------------------------------------------------- conv forward (naive)
def ref_conv_forward(x, w, b, conv_param):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, _ = F.conv_forward_naive(x, w, b, conv_param)
    return out, (x, w, b, conv_param)


def drive_forward(obj, *args):
    """Only the output is compared; the cache is the student's business."""
    res = obj(*args)
    return res[0] if isinstance(res, tuple) else res


def conv_cases(rng):
    exam = (EXAM_IMAGE[None, None], HORIZONTAL_EDGE[None, None], np.zeros(1), {"stride": 1, "pad": 0})
    return [
        exam,
        (rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4),
         {"stride": 1, "pad": 1}),
        (rng.standard_normal((1, 2, 7, 7)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3),
         {"stride": 2, "pad": 1}),
        (rng.standard_normal((3, 1, 6, 4)), rng.standard_normal((2, 1, 2, 4)), rng.standard_normal(2),
         {"stride": 2, "pad": 0}),
    ]


# ---------------------------------------------------------------- conv backward (naive)
def ref_conv_backward(dout, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    x, w, b, conv_param = cache
    _, lib_cache = F.conv_forward_naive(x, w, b, conv_param)
    return F.conv_backward_naive(dout, lib_cache)


def drive_backward(obj, x, w, b, conv_param, dout):
    """The student's backward receives the cache ``(x, w, b, conv_param)``."""
    return tuple(obj(dout, (x, w, b, conv_param)))


def conv_backward_cases(rng):
    cases = []
    for shape_x, shape_w, cp in [((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
                                 ((1, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "pad": 1}),
                                 ((2, 1, 4, 4), (2, 1, 2, 2), {"stride": 2, "pad": 0})]:
        x, w, b = rng.standard_normal(shape_x), rng.standard_normal(shape_w), rng.standard_normal(shape_w[0])
        h = (shape_x[2] + 2 * cp["pad"] - shape_w[2]) // cp["stride"] + 1
        wd = (shape_x[3] + 2 * cp["pad"] - shape_w[3]) // cp["stride"] + 1
        cases.append((x, w, b, cp, rng.standard_normal((shape_x[0], shape_w[0], h, wd))))
    return cases


# ---------------------------------------------------------------- max pooling
def ref_max_pool(x, pool_param):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, _ = F.max_pool_forward(x, pool_param)
    return out, (x, pool_param)


def pool_cases(rng):
    return [
        (rng.standard_normal((2, 3, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2}),
        (rng.standard_normal((1, 2, 5, 7)), {"pool_height": 3, "pool_width": 3, "stride": 2}),
        (rng.standard_normal((2, 1, 6, 6)), {"pool_height": 2, "pool_width": 3, "stride": 1}),
    ]


# ---------------------------------------------------------------- layer table
def ref_layer_table(input_shape, layers):
    """Activation shape and parameter count after each layer (see the lab for the format)."""
    from i2dl_lab.nn.functional import conv_output_size

    shape = tuple(int(s) for s in input_shape)
    rows = []
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            _, n_filters, k, stride, pad = layer
            c, h, w = shape
            shape = (n_filters, conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad))
            params = n_filters * c * k * k + n_filters
        elif kind == "pool":
            _, k, stride = layer
            c, h, w = shape
            shape = (c, conv_output_size(h, k, stride, 0, exact=False),
                     conv_output_size(w, k, stride, 0, exact=False))
            params = 0
        elif kind == "fc":
            n_in = int(np.prod(shape))
            shape = (layer[1],)
            params = n_in * layer[1] + layer[1]
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        rows.append((shape, params))
    return rows


def drive_layer_table(obj, input_shape, layers):
    rows = obj(input_shape, layers)
    return [(tuple(int(s) for s in shape), int(p)) for shape, p in rows]


#: The exam's CONV5-10 / POOL2 / CONV5-10 / POOL2 / FC-10 network on a 32x32x1 input.
EXAM_NET = [("conv", 10, 5, 1, 2), ("pool", 2, 2), ("conv", 10, 5, 1, 2), ("pool", 2, 2), ("fc", 10)]
#: VGG-16 (configuration D) on a 224x224x3 input: 3x3 convs with pad 1, 2x2 pooling.
VGG16 = ([("conv", 64, 3, 1, 1)] * 2 + [("pool", 2, 2)] + [("conv", 128, 3, 1, 1)] * 2 + [("pool", 2, 2)]
         + [("conv", 256, 3, 1, 1)] * 3 + [("pool", 2, 2)] + [("conv", 512, 3, 1, 1)] * 3 + [("pool", 2, 2)]
         + [("conv", 512, 3, 1, 1)] * 3 + [("pool", 2, 2)] + [("fc", 4096), ("fc", 4096), ("fc", 1000)])


def layer_table_cases(rng):
    c = int(rng.integers(1, 4))
    side = int(rng.choice([12, 16, 20]))
    n1, n2 = (int(v) for v in rng.integers(2, 9, size=2))
    random_net = [("conv", n1, 3, 1, 0), ("pool", 2, 2), ("conv", n2, 3, 2, 1), ("fc", int(rng.integers(3, 12)))]
    return [((1, 32, 32), EXAM_NET), ((3, 224, 224), VGG16), ((c, side, side), random_net)]


# ---------------------------------------------------------------- receptive field
def ref_receptive_field(layers):
    """Receptive field (in input pixels) of one output unit after ``layers`` = [(k, s), ...]."""
    n = 1
    for k, s in reversed([tuple(layer) for layer in layers]):
        n = k + s * (n - 1)  # n input pixels seen by m adjacent outputs: k + s(m - 1)
    return n


def drive_int(obj, *args):
    return int(obj(*args))


def receptive_cases(rng):
    rand = [(int(rng.integers(1, 6)), int(rng.integers(1, 3))) for _ in range(4)]
    return [([(5, 1), (3, 1)],), ([(3, 1)] * 3,), ([(5, 2), (2, 2), (3, 1)],), (rand,)]


# ---------------------------------------------------------------- max-pool backward
def ref_max_pool_backward(dout, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    x, pool_param = cache
    _, lib_cache = F.max_pool_forward(x, pool_param)
    return F.max_pool_backward(dout, lib_cache)


def drive_pool_backward(obj, x, pool_param, dout):
    """The student's backward receives the cache ``(x, pool_param)`` of their forward pass."""
    return np.asarray(obj(np.array(dout, copy=True), (np.array(x, copy=True), dict(pool_param))))


def _pool_out(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return x.shape[:2] + ((x.shape[2] - ph) // s + 1, (x.shape[3] - pw) // s + 1)


def pool_backward_cases(rng):
    cases = []
    for shape, pp in [((2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
                      ((1, 2, 7, 7), {"pool_height": 3, "pool_width": 3, "stride": 2}),   # overlapping
                      ((2, 1, 5, 6), {"pool_height": 2, "pool_width": 2, "stride": 1})]:  # overlapping
        x = rng.standard_normal(shape)
        cases.append((x, pp, rng.standard_normal(_pool_out(x, pp))))
    # small integers: windows with tied maxima, the gradient goes to the first one (row-major)
    x = rng.integers(0, 3, size=(1, 2, 5, 5)).astype(np.float64)
    pp = {"pool_height": 3, "pool_width": 3, "stride": 1}
    cases.append((x, pp, rng.standard_normal(_pool_out(x, pp))))
    return cases


# ---------------------------------------------------------------- average pooling
def ref_avg_pool(x, pool_param):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, _ = F.avg_pool_forward(x, pool_param)
    return out, (x, pool_param)


def ref_avg_pool_backward(dout, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    x, pool_param = cache
    _, lib_cache = F.avg_pool_forward(x, pool_param)
    return F.avg_pool_backward(dout, lib_cache)


def avg_pool_backward_cases(rng):
    cases = []
    for shape, pp in [((2, 2, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
                      ((1, 3, 7, 6), {"pool_height": 3, "pool_width": 3, "stride": 2}),
                      ((2, 1, 5, 5), {"pool_height": 2, "pool_width": 3, "stride": 1})]:
        x = rng.standard_normal(shape)
        cases.append((x, pp, rng.standard_normal(_pool_out(x, pp))))
    return cases


# ---------------------------------------------------------------- spatial batch normalisation
def ref_spatial_bn(x, gamma, beta, bn_param):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    out, _ = F.spatial_batchnorm_forward(x, gamma, beta, bn_param)  # updates bn_param, as the student's must
    return out, None


def drive_spatial_bn(obj, x, gamma, beta, bn_param):
    """Compare the output and the running averages left in ``bn_param`` after the call."""
    param = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in bn_param.items()}
    res = obj(np.array(x, copy=True), gamma.copy(), beta.copy(), param)
    out = res[0] if isinstance(res, tuple) else res
    return np.asarray(out), np.asarray(param.get("running_mean")), np.asarray(param.get("running_var"))


def spatial_bn_cases(rng):
    cases = []
    for N, C, H, W in [(4, 3, 5, 5), (2, 2, 3, 4), (6, 1, 2, 2)]:
        x = 3.0 + 2.0 * rng.standard_normal((N, C, H, W))
        gamma, beta = 1 + 0.5 * rng.standard_normal(C), rng.standard_normal(C)
        running = {"running_mean": rng.standard_normal(C), "running_var": 1 + rng.random(C)}
        cases.append((x, gamma, beta, {"mode": "train", "momentum": 0.9, "eps": 1e-5, **running}))
        cases.append((x, gamma, beta, {"mode": "test", "momentum": 0.9, "eps": 1e-5, **running}))
    x = rng.standard_normal((3, 2, 4, 4))
    cases.append((x, np.ones(2), np.zeros(2), {"mode": "train"}))  # defaults: running stats start at 0 and 1
    return cases


def ref_spatial_bn_backward(dout, cache):
    """Training-mode backward from ``cache = (xhat, gamma, inv_std)`` (the lab's contract)."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    xhat, gamma, inv_std = cache
    # a forward pass whose normalised values are exactly xhat: x = xhat / inv_std (mean 0, var 1/inv_std^2 - eps)
    C = gamma.shape[0]
    eps = 1e-5
    x = xhat / inv_std.reshape(1, C, 1, 1)
    _, lib_cache = F.spatial_batchnorm_forward(x, gamma, np.zeros(C), {"mode": "train", "eps": eps})
    return F.spatial_batchnorm_backward(dout, lib_cache)


def drive_spatial_bn_backward(obj, xhat, gamma, inv_std, dout):
    return tuple(obj(np.array(dout, copy=True), (xhat.copy(), gamma.copy(), inv_std.copy())))


def spatial_bn_backward_cases(rng):
    cases = []
    for N, C, H, W in [(4, 3, 5, 5), (2, 2, 3, 4), (8, 1, 2, 3)]:
        x = 3.0 + 2.0 * rng.standard_normal((N, C, H, W))
        mu = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3))
        inv_std = 1.0 / np.sqrt(var + 1e-5)
        xhat = (x - mu) * inv_std.reshape(1, C, 1, 1)
        cases.append((xhat, 1 + 0.5 * rng.standard_normal(C), inv_std, rng.standard_normal((N, C, H, W))))
    return cases


# ---------------------------------------------------------------- im2col convolution
def ref_im2col(x, HH, WW, stride, pad):
    """Columns ``(N, C*HH*WW, Ho*Wo)``: row ``c*HH*WW + i*WW + j``, column ``oi*Wo + oj``."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.im2col(x, HH, WW, stride, pad)


def im2col_cases(rng):
    return [(rng.standard_normal((2, 3, 5, 5)), 3, 3, 1, 1),
            (rng.standard_normal((1, 2, 7, 6)), 3, 2, 2, 0),
            (rng.standard_normal((3, 1, 4, 4)), 2, 2, 2, 1),
            (rng.standard_normal((1, 1, 3, 3)), 1, 1, 1, 0)]


def ref_conv_im2col_backward(dout, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    x, w, b, conv_param, _ = cache
    _, lib_cache = F.conv_forward(x, w, b, conv_param)
    return F.conv_backward(dout, lib_cache)


def drive_im2col_backward(obj, x, w, b, conv_param, cols, dout):
    """The cache is the library's: ``(x, w, b, conv_param, cols)`` with cols from im2col."""
    return tuple(obj(np.array(dout, copy=True), (x.copy(), w.copy(), b.copy(), dict(conv_param), cols.copy())))


def im2col_backward_cases(rng):
    cases = []
    for x, w, b, cp, dout in conv_backward_cases(rng):
        N, C, H, W = x.shape
        F_, _, HH, WW = w.shape
        s, p = cp["stride"], cp["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        Ho, Wo = dout.shape[2], dout.shape[3]
        cols = np.empty((N, C, HH, WW, Ho, Wo))
        for i in range(HH):
            for j in range(WW):
                cols[:, :, i, j] = xp[:, :, i:i + s * (Ho - 1) + 1:s, j:j + s * (Wo - 1) + 1:s]
        cases.append((x, w, b, cp, cols.reshape(N, C * HH * WW, Ho * Wo), dout))
    return cases


# ---------------------------------------------------------------- the three-layer ConvNet
class ThreeLayerConvNet:
    """Reference: conv - relu - 2x2 max pool - affine - relu - affine - softmax, from the library.

    The lab's contract: ``params`` holds ``W1 (F, C, k, k), b1 (F,), W2 (F*H/2*W/2, hidden),
    b2, W3 (hidden, classes), b3``; the convolution keeps the size (stride 1, pad (k-1)//2);
    ``loss(X)`` returns the scores, ``loss(X, y)`` the mean cross-entropy plus
    ``0.5 * reg * (|W1|^2 + |W2|^2 + |W3|^2)`` and the gradients of every parameter.
    """

    def __init__(self, input_dim=(1, 12, 12), num_filters=16, filter_size=3, hidden_dim=100, num_classes=10,
                 reg=0.0, seed=0):
        C, H, W = input_dim
        rng = np.random.default_rng(seed)
        fan = [C * filter_size ** 2, num_filters * (H // 2) * (W // 2), hidden_dim]
        self.reg = reg
        self.params = {
            "W1": rng.standard_normal((num_filters, C, filter_size, filter_size)) * np.sqrt(2.0 / fan[0]),
            "b1": np.zeros(num_filters),
            "W2": rng.standard_normal((fan[1], hidden_dim)) * np.sqrt(2.0 / fan[1]),
            "b2": np.zeros(hidden_dim),
            "W3": rng.standard_normal((hidden_dim, num_classes)) * np.sqrt(2.0 / fan[2]),
            "b3": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

        p = self.params
        k = p["W1"].shape[2]
        a1, c1 = F.conv_forward(X, p["W1"], p["b1"], {"stride": 1, "pad": (k - 1) // 2})
        r1, cr1 = F.relu_forward(a1)
        m1, cm1 = F.max_pool_forward(r1, {"pool_height": 2, "pool_width": 2, "stride": 2})
        a2, c2 = F.affine_forward(m1.reshape(len(X), -1), p["W2"], p["b2"])
        r2, cr2 = F.relu_forward(a2)
        scores, c3 = F.affine_forward(r2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = F.softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(p[w] ** 2) for w in ("W1", "W2", "W3"))
        grads = {}
        dr2, grads["W3"], grads["b3"] = F.affine_backward(dscores, c3)
        dm1, grads["W2"], grads["b2"] = F.affine_backward(F.relu_backward(dr2, cr2), c2)
        dr1 = F.max_pool_backward(dm1.reshape(m1.shape), cm1)
        _, grads["W1"], grads["b1"] = F.conv_backward(F.relu_backward(dr1, cr1), c1)
        for w in ("W1", "W2", "W3"):
            grads[w] = grads[w] + self.reg * p[w]
        return loss, grads


def drive_convnet(cls, config, params, X, y, reg):
    """Build the student's net with ``config``, load ``params``, return scores, loss and gradients."""
    net = cls(**config, reg=reg)
    for name, value in params.items():
        net.params[name] = value.copy()
    scores = net.loss(X.copy())
    loss, grads = net.loss(X.copy(), y.copy())
    return np.asarray(scores), float(loss), {k: np.asarray(v) for k, v in grads.items()}


def convnet_cases(rng):
    cases = []
    for (C, H, W), F_, k, hidden, classes, reg in [((1, 8, 8), 4, 3, 10, 5, 0.0), ((2, 6, 6), 3, 5, 7, 4, 0.1),
                                                    ((1, 12, 12), 6, 3, 16, 10, 0.01)]:
        config = {"input_dim": (C, H, W), "num_filters": F_, "filter_size": k, "hidden_dim": hidden,
                  "num_classes": classes}
        params = {"W1": 0.3 * rng.standard_normal((F_, C, k, k)), "b1": 0.1 * rng.standard_normal(F_),
                  "W2": 0.1 * rng.standard_normal((F_ * (H // 2) * (W // 2), hidden)),
                  "b2": 0.1 * rng.standard_normal(hidden),
                  "W3": 0.3 * rng.standard_normal((hidden, classes)), "b3": 0.1 * rng.standard_normal(classes)}
        N = int(rng.integers(3, 7))
        cases.append((config, params, rng.standard_normal((N, C, H, W)), rng.integers(0, classes, N), reg))
    return cases


EXERCISES = [
    Exercise("conv_naive", "conv_forward_naive", 3, ref_conv_forward, conv_cases,
             driver=drive_forward, compare=allclose(rtol=1e-6, atol=1e-8),
             title="naive convolution forward"),
    Exercise("conv_backward", "conv_backward_naive", 3, ref_conv_backward, conv_backward_cases,
             driver=drive_backward, compare=allclose(rtol=1e-6, atol=1e-8),
             title="naive convolution backward"),
    Exercise("max_pool", "max_pool_forward_naive", 2, ref_max_pool, pool_cases,
             driver=drive_forward, title="max pooling forward"),
    Exercise("layer_table", "layer_table", 2, ref_layer_table, layer_table_cases,
             driver=drive_layer_table, title="activation sizes and parameter counts"),
    Exercise("receptive_field", "receptive_field", 1, ref_receptive_field, receptive_cases,
             driver=drive_int, title="receptive field of stacked layers"),
    Exercise("max_pool_backward", "max_pool_backward_naive", 3, ref_max_pool_backward, pool_backward_cases,
             driver=drive_pool_backward, title="max pooling backward (overlapping windows, ties)"),
    Exercise("avg_pool", "avg_pool_forward_naive", 1, ref_avg_pool, pool_cases,
             driver=drive_forward, title="average pooling forward"),
    Exercise("avg_pool_backward", "avg_pool_backward_naive", 2, ref_avg_pool_backward, avg_pool_backward_cases,
             driver=drive_pool_backward, title="average pooling backward"),
    Exercise("spatial_bn", "spatial_batchnorm_forward", 3, ref_spatial_bn, spatial_bn_cases,
             driver=drive_spatial_bn, compare=allclose(rtol=1e-6, atol=1e-8),
             title="spatial batch normalisation forward (train and test mode)"),
    Exercise("spatial_bn_backward", "spatial_batchnorm_backward", 3, ref_spatial_bn_backward,
             spatial_bn_backward_cases, driver=drive_spatial_bn_backward, compare=allclose(rtol=1e-5, atol=1e-8),
             title="spatial batch normalisation backward"),
    Exercise("im2col", "im2col", 2, ref_im2col, im2col_cases, title="im2col: receptive fields as columns"),
    Exercise("conv_im2col", "conv_forward_im2col", 2, ref_conv_forward, conv_cases,
             driver=drive_forward, compare=allclose(rtol=1e-6, atol=1e-8), title="convolution forward with im2col"),
    Exercise("conv_im2col_backward", "conv_backward_im2col", 3, ref_conv_im2col_backward, im2col_backward_cases,
             driver=drive_im2col_backward, compare=allclose(rtol=1e-6, atol=1e-8),
             title="convolution backward with col2im"),
    Exercise("convnet", "ThreeLayerConvNet", 4, ThreeLayerConvNet, convnet_cases, driver=drive_convnet,
             compare=allclose(rtol=1e-5, atol=1e-8), title="a three-layer ConvNet from your layers"),
]
