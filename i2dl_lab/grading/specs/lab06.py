"""Graded exercises of lab 06 (convolutional networks from scratch).

References are the library's own layers (``i2dl_lab.nn.functional``) and architecture
arithmetic (``i2dl_lab.nn.architecture``); drivers adapt the student's function to them.
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
]
