"""Graded exercises of lab 07 (from NumPy to PyTorch).

The student writes torch code. The references are the course's NumPy layers
(``i2dl_lab.nn.functional``) for the first functions and the plain torch building blocks of
:mod:`i2dl_lab.bridge.vision` for the rest. Classes are graded through a state dict: the
driver builds the student's class, loads the reference's weights (so the attribute names
must be the documented ones) and compares outputs in evaluation and training mode. The
training-loop parts run on small float64 networks built here from plain case data.
"""

from __future__ import annotations

import numpy as np

# The first optimizer step imports torch._dynamo (seconds on a busy machine, inside a graded case's time
# limit); importing it with the spec lets the grader's fork server preload it.
import torch._dynamo  # noqa: F401

from ...bridge import vision
from ...bridge.fit import select_device
from ..spec import Exercise, allclose, plain


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- autograd of a two-layer net
def ref_two_layer(X, y, W1, b1, W2, b2):
    """Loss and gradients of affine - ReLU - affine - softmax cross-entropy, by hand in NumPy."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    h, c1 = F.affine_forward(X, W1, b1)
    a, c2 = F.relu_forward(h)
    s, c3 = F.affine_forward(a, W2, b2)
    loss, ds = F.softmax_loss(s, y)
    da, dW2, db2 = F.affine_backward(ds, c3)
    dh = F.relu_backward(da, c2)
    _, dW1, db1 = F.affine_backward(dh, c1)
    return float(loss), dW1, db1, dW2, db2


def drive_plain(obj, *args):
    return plain(obj(*_copies(args)))


def two_layer_cases(rng):
    cases = []
    for N, D, H, C in [(4, 3, 5, 3), (10, 6, 8, 4), (1, 2, 3, 2)]:
        cases.append((rng.standard_normal((N, D)), rng.integers(0, C, N), 0.5 * rng.standard_normal((D, H)),
                      0.1 * rng.standard_normal(H), 0.5 * rng.standard_normal((H, C)), 0.1 * rng.standard_normal(C)))
    return cases


# ---------------------------------------------------------------- residual block
def ref_residual_block(x, w1, b1, w2, b2):
    """relu(x + conv(relu(conv(x, w1, b1)), w2, b2)) with 3x3 'same' convolutions, in NumPy."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    same = {"stride": 1, "pad": 1}
    h, _ = F.conv_forward(x, w1, b1, same)
    h = np.maximum(h, 0.0)
    r, _ = F.conv_forward(h, w2, b2, same)
    return np.maximum(x + r, 0.0)


def residual_cases(rng):
    cases = []
    for N, C, S in [(2, 3, 5), (1, 4, 6), (3, 2, 4)]:
        cases.append((rng.standard_normal((N, C, S, S)), 0.4 * rng.standard_normal((C, C, 3, 3)),
                      0.1 * rng.standard_normal(C), 0.4 * rng.standard_normal((C, C, 3, 3)),
                      0.1 * rng.standard_normal(C)))
    return cases



# ---------------------------------------------------------------- torch objects built from plain case data
def _tensors(state: dict) -> dict:
    import torch

    return {k: torch.as_tensor(np.array(v, copy=True)) for k, v in state.items()}


def _mlp(sizes, seed, batch_norm=False):
    """Linear (-> BatchNorm1d) -> ReLU -> Linear in float64, initialised from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(int(seed))
    layers = [nn.Linear(sizes[0], sizes[1])]
    if batch_norm:
        layers.append(nn.BatchNorm1d(sizes[1]))
    layers += [nn.ReLU(), nn.Linear(sizes[1], sizes[2])]
    return nn.Sequential(*layers).double()


def _batches(batches):
    import torch

    return [(torch.as_tensor(np.array(x, copy=True)), torch.as_tensor(np.array(y, copy=True))) for x, y in batches]


def _scratch():
    """A temporary folder under /tmp: the grading child's private /tmp is writable even where its
    ``TMPDIR`` is not."""
    import os
    import tempfile

    return tempfile.TemporaryDirectory(dir="/tmp" if os.path.isdir("/tmp") else None)


def _params(model) -> list:
    return [plain(p) for p in model.parameters()]


def _class_batches(rng, n_batches, batch, D, C):
    return [(rng.standard_normal((batch, D)), rng.integers(0, C, batch)) for _ in range(n_batches)]


# ---------------------------------------------------------------- Dataset
def _mirror(x):
    """A transform for the Dataset cases: flip the image left to right."""
    import torch

    return torch.flip(x, dims=[-1])


def drive_dataset(obj, images, labels, use_transform):
    import torch

    ds = obj(np.array(images, copy=True), np.array(labels, copy=True), transform=_mirror if use_transform else None)
    items = [ds[i] for i in range(len(ds))]
    xs = [x for x, _ in items]
    ys = [y for _, y in items]
    kinds = tuple(str(x.dtype) for x in xs[:1]) + tuple(f"{y.dtype} ndim {y.dim()}" for y in ys[:1])
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    return (len(ds), np.stack([plain(x) for x in xs]), np.array([int(y) for y in ys]), kinds,
            tuple(xb.shape), tuple(yb.shape))


def dataset_cases(rng):
    cases = []
    for N, C, S, dtype in [(5, 1, 4, np.uint8), (3, 3, 5, np.float64), (4, 1, 6, np.float32)]:
        imgs = rng.integers(0, 256, (N, C, S, S)).astype(dtype)
        cases.append((imgs, rng.integers(0, 10, N), bool(rng.integers(0, 2))))
    cases.append((rng.random((3, 2, 3, 3)), rng.integers(0, 5, 3), True))
    return cases


# ---------------------------------------------------------------- nn.Module subclasses, checked through a state dict
def drive_module(obj, kwargs, state, x, check_train):
    """Build the class with ``kwargs``, load the reference's state dict (the names must match), run it."""
    import torch

    model = obj(**kwargs)
    model.load_state_dict(_tensors(state), strict=True)
    n = sum(p.numel() for p in model.parameters())
    xt = torch.as_tensor(np.array(x, copy=True), dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out_eval = plain(model(xt))
        model.train()
        out_train = plain(model(xt)) if check_train else out_eval
    return int(n), out_eval, out_train


def _random_state(module_cls, kwargs, rng) -> dict:
    """A state dict of the reference with random weights and batch-norm statistics."""
    model = module_cls(**kwargs)
    state = {}
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            val = rng.standard_normal(tuple(v.shape)) * 0.3
            if k.endswith("running_var"):
                val = 0.5 + rng.random(tuple(v.shape))
            state[k] = val.astype(np.float32)
        else:
            state[k] = v.numpy().copy()
    return state


def _module_cases(module_cls, configs, rng):
    cases = []
    for kwargs, xshape, check_train in configs:
        cases.append((kwargs, _random_state(module_cls, kwargs, rng), rng.standard_normal(xshape), check_train))
    return cases


def smallcnn_cases(rng):
    from i2dl_lab.bridge.vision import SmallCNN

    return _module_cases(SmallCNN, [
        ({"in_channels": 1, "num_classes": 10, "image_size": 28, "width": 4, "hidden": 8, "dropout": 0.0},
         (3, 1, 28, 28), True),
        ({"in_channels": 3, "num_classes": 5, "image_size": 8, "width": 2, "hidden": 6, "dropout": 0.0},
         (4, 3, 8, 8), True),
        ({"in_channels": 2, "num_classes": 3, "image_size": 12, "width": 3, "hidden": 5, "dropout": 0.5},
         (2, 2, 12, 12), False),
    ], rng)


def residual_block_cases(rng):
    from i2dl_lab.bridge.vision import ResidualBlock

    return _module_cases(ResidualBlock, [
        ({"c_in": 3, "c_out": 3, "stride": 1}, (2, 3, 6, 6), True),
        ({"c_in": 2, "c_out": 4, "stride": 2}, (3, 2, 7, 7), True),
        ({"c_in": 4, "c_out": 2, "stride": 1}, (2, 4, 5, 5), True),
    ], rng)


def resnet_cases(rng):
    from i2dl_lab.bridge.vision import SmallResNet

    return _module_cases(SmallResNet, [
        ({"in_channels": 1, "num_classes": 10, "widths": [4, 8], "blocks": 1}, (2, 1, 12, 12), True),
        ({"in_channels": 3, "num_classes": 4, "widths": [2, 3, 5], "blocks": 2}, (3, 3, 9, 9), True),
    ], rng)


def separable_cases(rng):
    from i2dl_lab.bridge.vision import DepthwiseSeparableConv

    return _module_cases(DepthwiseSeparableConv, [
        ({"c_in": 3, "c_out": 5, "kernel_size": 3, "stride": 1}, (2, 3, 6, 6), True),
        ({"c_in": 4, "c_out": 2, "kernel_size": 5, "stride": 2}, (2, 4, 9, 9), True),
    ], rng)


# ---------------------------------------------------------------- the training loop, piece by piece
def drive_device(obj, device):
    return str(obj(device))


def device_cases(rng):
    return [("auto",), ("cpu",), ("cuda:1",), ("meta",)]


def drive_train_epoch(obj, seed, sizes, batches, lr, momentum):
    import torch

    model = _mlp(sizes, seed, batch_norm=True)
    model.eval()  # the loop must switch to training mode itself
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = _batches(batches)
    first = float(obj(model, loader, opt, torch.nn.functional.cross_entropy, "cpu"))
    second = float(obj(model, loader, opt, torch.nn.functional.cross_entropy, "cpu"))
    return first, second, bool(model.training), _params(model)


def train_epoch_cases(rng):
    cases = []
    for D, H, C, nb, bs in [(4, 6, 3, 3, 5), (3, 5, 2, 2, 7), (5, 4, 4, 4, 3)]:
        batches = _class_batches(rng, nb, bs, D, C)
        batches[-1] = (batches[-1][0][:2], batches[-1][1][:2])  # a short last batch: the mean weights by size
        cases.append((int(rng.integers(0, 1000)), [D, H, C], batches, float(rng.uniform(0.05, 0.3)), 0.9))
    return cases


def drive_evaluate(obj, seed, sizes, batches):
    import torch

    model = _mlp(sizes, seed, batch_norm=True)
    with torch.no_grad():  # running statistics that differ from any batch's own
        model[1].running_mean.copy_(torch.linspace(-1, 1, sizes[1], dtype=torch.float64))
        model[1].running_var.fill_(2.0)
    grad_modes = []
    model.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    model.train()  # evaluation must switch to eval mode itself
    acc = float(obj(model, _batches(batches), "cpu"))
    return acc, bool(any(grad_modes)), _params(model), plain(model[1].running_mean)


def evaluate_cases(rng):
    cases = []
    for D, H, C, nb, bs in [(4, 6, 3, 3, 5), (3, 5, 2, 2, 8), (6, 4, 4, 3, 4)]:
        batches = _class_batches(rng, nb, bs, D, C)
        batches[-1] = (batches[-1][0][:1], batches[-1][1][:1])
        cases.append((int(rng.integers(0, 1000)), [D, H, C], batches))
    return cases


def _trained(seed, sizes, batches, steps):
    """A model and its Adam optimizer after ``steps`` steps on the batches (state worth saving)."""
    import torch

    model = _mlp(sizes, seed, batch_norm=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for x, y in _batches(batches)[:steps]:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt


def drive_save(obj, seed, sizes, batches, epoch, metrics):
    import torch

    model, opt = _trained(seed, sizes, batches, 2)
    with _scratch() as tmp:
        path = f"{tmp}/state.pt"
        obj(path, model, opt, epoch, dict(metrics))
        saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or set(saved) != {"model", "optimizer", "epoch", "metrics"}:
        keys = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"the file must hold a dict with keys epoch, metrics, model, optimizer; it holds {keys}")
    weights = {k: plain(v) for k, v in saved["model"].items() if v.dtype.is_floating_point}
    moments = [(plain(s["exp_avg"]), plain(s["exp_avg_sq"]), float(s["step"]))
               for _, s in sorted(saved["optimizer"]["state"].items())]
    return weights, int(saved["epoch"]), dict(saved["metrics"]), moments


def drive_load(obj, seed, sizes, batches, epoch, metrics):
    import torch

    model, opt = _trained(seed, sizes, batches, 2)
    fresh, fresh_opt = _trained(seed + 1, sizes, batches, 0)  # other weights, empty optimizer state
    with _scratch() as tmp:
        path = f"{tmp}/state.pt"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                    "metrics": dict(metrics)}, path)
        got_epoch, got_metrics = obj(path, fresh, fresh_opt)
    x, y = _batches(batches)[-1]  # one more step: identical only if weights AND optimizer state came back
    fresh.train()
    fresh_opt.zero_grad()
    torch.nn.functional.cross_entropy(fresh(x), y).backward()
    fresh_opt.step()
    return int(got_epoch), dict(got_metrics), _params(fresh), plain(fresh[1].running_mean)


def checkpoint_cases(rng):
    cases = []
    for D, H, C in [(4, 5, 3), (3, 4, 2)]:
        cases.append((int(rng.integers(0, 1000)), [D, H, C], _class_batches(rng, 3, 6, D, C),
                      int(rng.integers(1, 50)), {"val_accuracy": float(rng.random())}))
    return cases


def drive_fit(obj, seed, sizes, train, val, lr, epochs, early_stopping):
    import torch

    model = _mlp(sizes, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with _scratch() as tmp:
        hist = obj(model, _batches(train), _batches(val), opt, torch.nn.functional.cross_entropy, epochs,
                   early_stopping, f"{tmp}/best.pt", "cpu")
    return ([float(v) for v in hist["train_loss"]], [float(v) for v in hist["val_accuracy"]],
            int(hist["best_epoch"]), _params(model))


def _blob_batch(rng, centres, n):
    y = rng.integers(0, len(centres), n)
    return centres[y] + rng.standard_normal((n, centres.shape[1])), y


def fit_cases(rng):
    cases = []
    for D, H, C, lr, epochs, patience in [(4, 8, 3, 0.5, 12, 2), (3, 6, 2, 1.0, 10, 3), (5, 6, 4, 0.3, 6, 10)]:
        centres = 2 * rng.standard_normal((C, D))
        train = [_blob_batch(rng, centres, 8) for _ in range(3)]
        val = [_blob_batch(rng, centres, 5), _blob_batch(rng, centres, 4)]
        cases.append((int(rng.integers(0, 1000)), [D, H, C], train, val, lr, epochs, patience))
    return cases


# ---------------------------------------------------------------- cost of a convolution layer
def conv_cost_cases(rng):
    seed_figures = [
        (3, 96, 11, 55, 55, 1, True),      # AlexNet's first layer on 227 x 227 x 3
        (200, 92, 5, 32, 32, 1, True),     # the lecture's naive 5x5 inception branch
        (200, 16, 1, 32, 32, 1, True),     # its 1x1 bottleneck ...
        (16, 92, 5, 32, 32, 1, True),      # ... and the 5x5 after it
        (64, 64, 3, 14, 14, 64, False),    # depthwise
        (64, 128, 1, 14, 14, 1, False),    # pointwise
    ]
    drawn = []
    for _ in range(3):
        g = int(rng.choice([1, 2, 4]))
        drawn.append((g * int(rng.integers(1, 6)), g * int(rng.integers(1, 6)), int(rng.choice([1, 3, 5, 7])),
                      int(rng.integers(1, 30)), int(rng.integers(1, 30)), g, bool(rng.integers(0, 2))))
    return seed_figures + drawn


def drive_ints(obj, *args):
    return tuple(int(v) for v in obj(*args))

EXERCISES = [
    Exercise("autograd_two_layer", "two_layer_torch", 4, ref_two_layer, two_layer_cases, driver=drive_plain,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a two-layer network's gradients with torch autograd"),
    Exercise("image_dataset", "ImageDataset", 2, vision.ImageDataset, dataset_cases, driver=drive_dataset,
             title="a torch Dataset of images and labels"),
    Exercise("small_cnn", "SmallCNN", 4, vision.SmallCNN, smallcnn_cases, driver=drive_module,
             compare=allclose(rtol=1e-4, atol=1e-5), title="a CNN as an nn.Module subclass"),
    Exercise("resolve_device", "resolve_device", 1, select_device, device_cases, driver=drive_device,
             title="device 'auto'"),
    Exercise("train_epoch", "train_epoch", 3, vision.train_epoch, train_epoch_cases, driver=drive_train_epoch,
             compare=allclose(rtol=1e-7, atol=1e-9), title="one training epoch"),
    Exercise("evaluate_accuracy", "evaluate_accuracy", 2, vision.evaluate_accuracy, evaluate_cases,
             driver=drive_evaluate, compare=allclose(rtol=1e-7, atol=1e-9), title="accuracy in evaluation mode"),
    Exercise("save_state", "save_training_state", 2, vision.save_training_state, checkpoint_cases,
             driver=drive_save, compare=allclose(rtol=1e-6, atol=1e-9), title="saving a checkpoint"),
    Exercise("load_state", "load_training_state", 2, vision.load_training_state, checkpoint_cases,
             driver=drive_load, compare=allclose(rtol=1e-6, atol=1e-9), title="reloading a checkpoint exactly"),
    Exercise("fit_early_stopping", "fit_early_stopping", 4, vision.fit_early_stopping, fit_cases, driver=drive_fit,
             compare=allclose(rtol=1e-7, atol=1e-9), title="a training loop with checkpoints and early stopping"),
    Exercise("residual_block", "residual_block_torch", 3, ref_residual_block, residual_cases, driver=drive_plain,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a residual block in torch"),
    Exercise("residual_module", "ResidualBlock", 3, vision.ResidualBlock, residual_block_cases, driver=drive_module,
             compare=allclose(rtol=1e-4, atol=1e-5), title="a residual block module with a projection shortcut"),
    Exercise("small_resnet", "SmallResNet", 3, vision.SmallResNet, resnet_cases, driver=drive_module,
             compare=allclose(rtol=1e-4, atol=1e-5), title="a small ResNet assembled from residual blocks"),
    Exercise("conv_cost", "conv_cost", 2, vision.conv_cost, conv_cost_cases, driver=drive_ints,
             compare=allclose(rtol=0, atol=0), title="parameters and multiplications of a convolution"),
    Exercise("separable_conv", "DepthwiseSeparableConv", 3, vision.DepthwiseSeparableConv, separable_cases,
             driver=drive_module, compare=allclose(rtol=1e-4, atol=1e-5),
             title="a depthwise-separable convolution block"),
]
