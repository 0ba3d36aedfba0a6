"""Graded exercises of lab 08 (transfer learning).

Two exercises work on fixed feature vectors (what a frozen pretrained body produces) in
NumPy. The torch ones (freezing, parameter groups, the training mode of a frozen body, the
shared training recipe) run on small float64 networks with a ``features`` body and a
``head``, built here from plain case data; the references are in
:mod:`i2dl_lab.bridge.transfer`.
"""

from __future__ import annotations

import numpy as np

# The first optimizer step imports torch._dynamo (seconds on a busy machine, inside a graded case's time
# limit); importing it with the spec lets the grader's fork server preload it.
import torch._dynamo  # noqa: F401

from ...bridge import transfer
from ..spec import Exercise, allclose


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- nearest class mean
def ref_nearest_class_mean(train_features, train_labels, test_features):
    """Label of the closest class mean (Euclidean) for every test row; ties go to the lower label."""
    classes = np.unique(train_labels)
    means = np.stack([train_features[train_labels == c].mean(axis=0) for c in classes])  # (K, D)
    d2 = ((test_features[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)  # (M, K)
    return classes[np.argmin(d2, axis=1)]


def drive_labels(obj, *args):
    return np.asarray(obj(*_copies(args))).astype(np.int64)


def ncm_cases(rng):
    cases = []
    for n_per, K, D, M in [(3, 4, 5, 10), (1, 3, 2, 6), (5, 10, 8, 20)]:
        centres = 3 * rng.standard_normal((K, D))
        y = np.repeat(np.arange(K), n_per)
        X = centres[y] + rng.standard_normal((len(y), D))
        test = centres[rng.integers(0, K, M)] + rng.standard_normal((M, D))
        cases.append((X, y, test))
    # labels that are not 0..K-1 (only some classes present)
    X = rng.standard_normal((6, 3))
    cases.append((X, np.array([2, 2, 7, 7, 9, 9]), rng.standard_normal((5, 3))))
    return cases


# ---------------------------------------------------------------- softmax head
def ref_train_head(features, labels, num_classes, lr, steps):
    """Full-batch gradient descent on a linear softmax head from zero weights."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    W = np.zeros((features.shape[1], num_classes))
    b = np.zeros(num_classes)
    for _ in range(steps):
        scores, cache = F.affine_forward(features, W, b)
        _, dscores = F.softmax_loss(scores, labels)
        _, dW, db = F.affine_backward(dscores, cache)
        W -= lr * dW
        b -= lr * db
    return W, b


def drive_pair(obj, *args):
    W, b = obj(*_copies(args))
    return np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)


def head_cases(rng):
    cases = []
    for N, D, C, lr, steps in [(12, 5, 3, 0.5, 20), (30, 8, 10, 0.1, 50), (4, 2, 2, 1.0, 1)]:
        cases.append((rng.standard_normal((N, D)), rng.integers(0, C, N), C, lr, steps))
    return cases


# ---------------------------------------------------------------- torch: freezing, groups, modes, the recipe
def _net(seed, sizes, dropout=0.0):
    """``features`` (Linear, BatchNorm1d, ReLU, Dropout) and ``head`` (Linear), float64, from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(int(seed))
    D, H, C = sizes
    model = nn.Module()
    model.features = nn.Sequential(nn.Linear(D, H), nn.BatchNorm1d(H), nn.ReLU(), nn.Dropout(dropout))
    model.head = nn.Linear(H, C)
    model.forward = lambda x: model.head(model.features(x))
    return model.double()


def _names(model, params) -> list:
    ids = {id(p) for p in params}
    return [n for n, p in model.named_parameters() if id(p) in ids]


def drive_freeze(obj, seed, sizes, pre_frozen):
    model = _net(seed, sizes)
    for name, p in model.named_parameters():  # a head frozen earlier must come back to life
        p.requires_grad_(name not in pre_frozen)
    n = obj(model, "head")
    return int(n), [(name, bool(p.requires_grad)) for name, p in model.named_parameters()]


def freeze_cases(rng):
    return [(int(rng.integers(0, 1000)), [3, 4, 2], []), (int(rng.integers(0, 1000)), [5, 2, 3], ["head.bias"]),
            (int(rng.integers(0, 1000)), [2, 6, 4], ["features.0.weight"])]


def drive_groups(obj, seed, sizes, frozen, lr, factor):
    model = _net(seed, sizes)
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    groups = obj(model, lr, factor, "head")
    return [(float(g["lr"]), _names(model, g["params"])) for g in groups]


def groups_cases(rng):
    body = ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"]
    return [(int(rng.integers(0, 1000)), [3, 4, 2], [], 0.01, 0.1),
            (int(rng.integers(0, 1000)), [3, 4, 2], body, float(rng.uniform(1e-3, 1e-1)), 0.5),
            (int(rng.integers(0, 1000)), [2, 3, 2], body[:2], 0.003, float(rng.uniform(0.01, 1)))]


def drive_mode(obj, seed, sizes, frozen_body, start_eval):
    model = _net(seed, sizes)
    model.train(not start_eval)
    obj(model, frozen_body, "head")
    return [(name or "model", bool(m.training)) for name, m in model.named_modules()]


def mode_cases(rng):
    return [(0, [3, 4, 2], True, False), (1, [3, 4, 2], False, True), (2, [2, 2, 2], True, True)]


def drive_recipe(obj, seed, sizes, X, y, steps, frozen_body, lr):
    import torch

    model = _net(seed, sizes, dropout=0.0)
    with torch.no_grad():  # running statistics unlike the batch's: a frozen body must keep them
        model.features[1].running_mean.fill_(0.5)
        model.features[1].running_var.fill_(2.0)
    if frozen_body:
        for p in model.features.parameters():
            p.requires_grad_(False)
        opt = torch.optim.Adam(model.head.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam([{"params": model.features.parameters(), "lr": lr / 10},
                                {"params": model.head.parameters(), "lr": lr}])
    model.eval()
    losses = obj(model, opt, torch.as_tensor(np.array(X, copy=True)), torch.as_tensor(np.array(y, copy=True)),
                 steps, frozen_body, "head")
    return ([float(v) for v in losses], [p.detach().numpy().copy() for p in model.parameters()],
            model.features[1].running_mean.numpy().copy())


def recipe_cases(rng):
    cases = []
    for D, H, C, N, steps, frozen in [(4, 5, 3, 12, 4, True), (3, 4, 2, 10, 3, False), (5, 3, 4, 8, 2, True)]:
        cases.append((int(rng.integers(0, 1000)), [D, H, C], rng.standard_normal((N, D)), rng.integers(0, C, N),
                      steps, frozen, float(rng.uniform(0.01, 0.1))))
    return cases


EXERCISES = [
    Exercise("nearest_class_mean", "nearest_class_mean", 2, ref_nearest_class_mean, ncm_cases,
             driver=drive_labels, title="nearest-class-mean classifier on features"),
    Exercise("train_head", "train_linear_head", 3, ref_train_head, head_cases, driver=drive_pair,
             compare=allclose(rtol=1e-6, atol=1e-9), title="a softmax head on frozen features"),
    Exercise("freeze_body", "freeze_body", 2, transfer.freeze_body, freeze_cases, driver=drive_freeze,
             title="freezing the body"),
    Exercise("body_head_groups", "body_head_groups", 2, transfer.body_head_groups, groups_cases,
             driver=drive_groups, compare=allclose(rtol=1e-12, atol=0), title="parameter groups for fine-tuning"),
    Exercise("set_train_mode", "set_train_mode", 2, transfer.set_train_mode, mode_cases, driver=drive_mode,
             title="training mode with a frozen body (batch norm and dropout)"),
    Exercise("train_full_batch", "train_full_batch", 3, transfer.train_full_batch, recipe_cases,
             driver=drive_recipe, compare=allclose(rtol=1e-7, atol=1e-9), title="the shared training recipe"),
]
