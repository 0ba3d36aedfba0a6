"""The PyTorch track's building blocks, written out plainly: the trusted references of lab 07.

Students write each of these themselves in lab 07 (a ``Dataset``, ``nn.Module`` subclasses,
the parts of a training loop, checkpoints, early stopping, cost counts); the grader compares
their versions with the ones here. Everything is deliberately explicit: no hidden
bookkeeping, one idea per function. (The course's all-in-one loop is :func:`~.fit.fit`.)

Checkpoint format (``save_training_state`` / ``load_training_state``): a ``torch.save`` of
``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": int,
"metrics": dict}``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

from .fit import select_device

__all__ = ["ImageDataset", "SmallCNN", "ResidualBlock", "SmallResNet", "DepthwiseSeparableConv",
           "train_epoch", "evaluate_accuracy", "save_training_state", "load_training_state",
           "fit_early_stopping", "conv_cost", "count_parameters"]


class ImageDataset(torch.utils.data.Dataset):
    """Images and labels held in memory, served one sample at a time.

    Args:
        images: (N, C, H, W) array or tensor.
        labels: (N,) integer labels.
        transform: optional ``transform(x) -> x`` applied to each float32 image tensor.

    ``dataset[i]`` is ``(x, y)``: x a float32 tensor (C, H, W), y a 0-d int64 tensor.
    """

    def __init__(self, images, labels, transform: Callable | None = None):
        if len(images) != len(labels):
            raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.as_tensor(self.images[i], dtype=torch.float32)
        if self.transform is not None:
            x = self.transform(x)
        return x, torch.as_tensor(self.labels[i], dtype=torch.int64)


class SmallCNN(nn.Module):
    """Two (conv 3x3 'same', batch norm, ReLU, max-pool 2) stages, a hidden dense layer with dropout, a head.

    Args:
        in_channels: image channels C.
        num_classes: outputs of the head.
        image_size: side S of the square input (divisible by 4).
        width: channels of the first stage (the second has ``2 * width``).
        hidden: units of the dense layer.
        dropout: drop probability before the head.

    Shape:
        (N, C, S, S) -> (N, num_classes) scores.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, width: int = 16,
                 hidden: int = 64, dropout: float = 0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc1 = nn.Linear(2 * width * (image_size // 4) ** 2, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (N, width, S/2, S/2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, 2 width, S/4, S/4)
        x = self.dropout(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


class ResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with 3x3 convolutions.

    ``conv1`` has the stride; both convolutions have no bias (batch norm follows). The
    shortcut is ``nn.Identity()`` when the shape is kept, else a 1x1 convolution with the
    stride (no bias) followed by batch norm, in an ``nn.Sequential``.

    Shape:
        (N, c_in, H, W) -> (N, c_out, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem (conv 3x3, batch norm, ReLU, 2x2 max-pool), residual stages, global average pooling, a head.

    Stage ``i`` has ``blocks`` blocks of ``widths[i]`` channels; the first block of every
    stage after the first halves the resolution (stride 2).

    Attributes (the names the state dict uses): ``stem`` (``nn.Sequential(conv, bn, relu, pool)``),
    ``stages`` (``nn.Sequential`` of one ``nn.Sequential`` of blocks per stage), ``fc``.

    Shape:
        (N, C, H, W) -> (N, num_classes).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Iterable[int] = (16, 32), blocks: int = 1):
        super().__init__()
        widths = list(widths)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(2))
        stages, c_in = [], widths[0]
        for i, w in enumerate(widths):
            layers = [ResidualBlock(c_in if j == 0 else w, w, stride=2 if (i > 0 and j == 0) else 1)
                      for j in range(blocks)]
            stages.append(nn.Sequential(*layers))
            c_in = w
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))  # global average pooling: one number per channel


class DepthwiseSeparableConv(nn.Module):
    """Depthwise k x k convolution (one filter per channel) then a pointwise 1x1 convolution.

    ``depthwise`` (groups = c_in, 'same' padding, the stride, no bias) -> ``bn1`` -> ReLU ->
    ``pointwise`` (1x1, no bias) -> ``bn2`` -> ReLU.

    Shape:
        (N, c_in, H, W) -> (N, c_out, ceil(H / stride), ceil(W / stride)) for odd k.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=kernel_size // 2, groups=c_in,
                                   bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(self.bn1(self.depthwise(x)))
        return F.relu(self.bn2(self.pointwise(x)))


def train_epoch(model: nn.Module, loader, optimizer, loss_fn: Callable, device="cpu") -> float:
    """One pass over ``loader`` in training mode; returns the mean loss per sample.

    Per batch ``(x, y)``: move both to ``device``, zero the gradients, forward, loss,
    backward, step. The mean weights each batch's loss by its number of samples.
    """
    model.train()
    total, n = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        n += len(x)
    return total / n


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, loader, device="cpu") -> float:
    """Fraction of samples whose arg-max score is the label, in evaluation mode without gradients."""
    model.eval()
    correct, n = 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += int((model(x).argmax(dim=1) == y).sum())
        n += len(y)
    return correct / n


def save_training_state(path: str | os.PathLike, model: nn.Module, optimizer, epoch: int, metrics: dict) -> None:
    """``torch.save`` of model and optimizer state dicts, the epoch and the metrics (format in the module doc)."""
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "metrics": dict(metrics)}, path)


def load_training_state(path: str | os.PathLike, model: nn.Module, optimizer=None) -> tuple[int, dict]:
    """Load what :func:`save_training_state` wrote into ``model`` (and ``optimizer``); returns ``(epoch, metrics)``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state["epoch"], state["metrics"]


def fit_early_stopping(model: nn.Module, train_loader, val_loader, optimizer, loss_fn: Callable, epochs: int,
                       early_stopping: int, checkpoint: str | os.PathLike, device="auto") -> dict:
    """Train with validation after every epoch, keep the best model on disk, stop when it stops improving.

    Every epoch: :func:`train_epoch`, then :func:`evaluate_accuracy` on ``val_loader``. A
    strictly better validation accuracy saves a checkpoint (epoch counted from 1, metrics
    ``{"val_accuracy": acc}``); after ``early_stopping`` epochs in a row without improvement
    training stops. At the end the best checkpoint is loaded back into the model.

    Returns:
        ``{"train_loss": [...], "val_accuracy": [...], "best_epoch": int}`` (one entry per
        epoch run).
    """
    dev = select_device(device)
    model.to(dev)
    history = {"train_loss": [], "val_accuracy": [], "best_epoch": 0}
    best, bad = -1.0, 0
    for epoch in range(1, epochs + 1):
        history["train_loss"].append(train_epoch(model, train_loader, optimizer, loss_fn, dev))
        acc = evaluate_accuracy(model, val_loader, dev)
        history["val_accuracy"].append(acc)
        if acc > best:
            best, bad = acc, 0
            history["best_epoch"] = epoch
            save_training_state(checkpoint, model, optimizer, epoch, {"val_accuracy": acc})
        else:
            bad += 1
            if bad >= early_stopping:
                break
    load_training_state(checkpoint, model, optimizer)
    return history


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv_cost(c_in: int, c_out: int, kernel_size: int, h_out: int, w_out: int, groups: int = 1,
              bias: bool = True) -> tuple[int, int]:
    """Parameters and multiplications of one 2-D convolution layer (per image).

    Each output value of a group convolution sees ``c_in / groups`` input channels through a
    k x k window, so it costs ``k * k * c_in / groups`` multiplications; the parameter count
    is read off a real ``nn.Conv2d``.

    Returns:
        ``(parameters, multiplications)``.
    """
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    layer = nn.Conv2d(c_in, c_out, kernel_size, groups=groups, bias=bias, device="meta")
    params = sum(p.numel() for p in layer.parameters())
    mults = kernel_size * kernel_size * (c_in // groups) * c_out * h_out * w_out
    return params, mults
