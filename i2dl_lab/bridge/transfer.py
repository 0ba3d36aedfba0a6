"""Transfer learning: freeze / unfreeze, swap the head, feature extraction vs fine-tuning,
plus the two few-label experiments the course measures.

Vocabulary (as in the lectures): a network is a *body* (feature extractor) and a *head*
(the last classifier layer). *Feature extraction* freezes the body and trains a new head;
*fine-tuning* trains everything starting from the pretrained weights, usually with a
smaller learning rate for the body.

The shipped checkpoint ``data/digits_lenet_pretrained.pt`` is a :class:`~i2dl_lab.bridge.zoo.LeNet`
pretrained on one half of the digits' training split with shift-and-noise augmentation
(:func:`pretrain_digits_lenet`, reproduced by ``scripts/make_pretrained.py``).
:func:`fewshot_transfer` fine-tunes it on 10 labelled images per class from the other half,
in a harder domain (digits shifted by up to 2 pixels, with noise), and compares with the same
network trained from scratch on those images.
"""

from __future__ import annotations

import copy
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..course import data_file
from ..data import (
    ArrayDataset,
    Compose,
    DataLoader,
    GaussianNoise,
    RandomCrop,
    few_per_class,
    load_digits,
    stratified_split,
)
from .fit import evaluate, fit, load_checkpoint, save_checkpoint, seed_everything
from .zoo import ConvAutoencoder, LeNet

__all__ = ["freeze", "unfreeze", "trainable_parameters", "get_head", "replace_head", "prepare_transfer",
           "extract_features", "PRETRAINED_PATH", "jitter_digits", "digits_parts", "pretrain_digits_lenet",
           "load_pretrained", "target_task_data", "fewshot_transfer", "AutoencoderClassifier",
           "autoencoder_pretraining", "freeze_body", "body_head_groups", "set_train_mode", "train_full_batch"]

PRETRAINED_PATH = data_file("digits_lenet_pretrained.pt")  # the wheel's copy, or data/ in a checkout
JITTER_SHIFT = 2  # pixels
JITTER_NOISE = 0.1  # std of the additive Gaussian noise


def _matches(name: str, prefixes: Sequence[str]) -> bool:
    return not prefixes or any(name == p or name.startswith(p + ".") for p in prefixes)


def _bn_stay_eval(module, _inputs):
    # A frozen BatchNorm must not keep updating its running statistics in train mode.
    module.training = False


def freeze(model: nn.Module, *prefixes: str) -> int:
    """Stop gradients for parameters whose dotted names start with one of ``prefixes``
    (all parameters if none are given). BatchNorm layers whose parameters are all frozen
    also stay in eval mode (their running statistics stop moving). Returns the count frozen.

    Example:
        >>> from i2dl_lab.bridge.zoo import LeNet
        >>> m = LeNet(); _ = freeze(m, "features"); trainable_parameters(m) == m.head.weight.numel() + 10
        True
    """
    names = [n for n, _ in model.named_parameters()]
    if prefixes and not any(_matches(n, prefixes) for n in names):
        raise ValueError(f"no parameter name starts with {list(prefixes)}; names start with "
                         f"{sorted({n.split('.')[0] for n in names})}")
    count = 0
    for name, p in model.named_parameters():
        if _matches(name, prefixes):
            p.requires_grad_(False)
            count += p.numel()
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and _matches(name, prefixes) and \
                not any(p.requires_grad for p in m.parameters()) and not hasattr(m, "_i2dl_freeze_hook"):
            m._i2dl_freeze_hook = m.register_forward_pre_hook(_bn_stay_eval)
    return count


def unfreeze(model: nn.Module, *prefixes: str) -> int:
    """Undo :func:`freeze` for ``prefixes`` (all parameters if none). Returns the count unfrozen."""
    count = 0
    for name, p in model.named_parameters():
        if _matches(name, prefixes):
            p.requires_grad_(True)
            count += p.numel()
    for name, m in model.named_modules():
        if hasattr(m, "_i2dl_freeze_hook") and _matches(name, prefixes):
            m._i2dl_freeze_hook.remove()
            del m._i2dl_freeze_hook
    return count


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters that will receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def get_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """``(name, layer)`` of the classifier head: ``model.head`` if present, else the last ``nn.Linear``."""
    if isinstance(getattr(model, "head", None), nn.Linear):
        return "head", model.head
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = (name, m)
    if last is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to use as a head")
    return last


def replace_head(model: nn.Module, num_classes: int, seed: int | None = None) -> nn.Linear:
    """Swap the head for a freshly initialised ``nn.Linear(in_features, num_classes)``."""
    name, old = get_head(model)
    if seed is not None:
        torch.manual_seed(seed)
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device, old.weight.dtype)
    parent = model
    *path, leaf = name.split(".")
    for p in path:
        parent = getattr(parent, p)
    setattr(parent, leaf, new)
    if hasattr(model, "hparams") and "num_classes" in model.hparams:
        model.hparams["num_classes"] = num_classes
    return new


def prepare_transfer(model: nn.Module, mode: str, num_classes: int | None = None, lr: float = 1e-3,
                     body_lr_factor: float = 0.1, seed: int | None = None) -> list[dict]:
    """Set a pretrained model up for ``mode`` and return optimizer parameter groups.

    * ``"feature_extraction"``: body frozen, only the (new) head trains at ``lr``.
    * ``"fine_tuning"``: everything trains; the body at ``lr * body_lr_factor``.

    Pass the groups to ``fit(..., optimizer=lambda _: torch.optim.Adam(groups))``.
    """
    if mode not in ("feature_extraction", "fine_tuning"):
        raise ValueError(f"mode must be 'feature_extraction' or 'fine_tuning', got {mode!r}")
    if num_classes is not None:
        replace_head(model, num_classes, seed=seed)
    head_name, head = get_head(model)
    unfreeze(model)
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    if mode == "feature_extraction":
        body_names = [n for n, _ in model.named_parameters() if not _matches(n, [head_name])]
        top = sorted({n.rsplit(".", 2)[0] for n in body_names})
        freeze(model, *top)
        return [{"params": list(head.parameters()), "lr": lr}]
    return [{"params": body, "lr": lr * body_lr_factor}, {"params": list(head.parameters()), "lr": lr}]


@torch.no_grad()
def extract_features(model: nn.Module, x, batch_size: int = 512) -> np.ndarray:
    """Body outputs (the head's inputs) for inputs ``x`` (N, ...), as a (N, D) array."""
    name, head = get_head(model)
    feats = []

    def grab(_m, inp):
        feats.append(inp[0].detach().cpu())

    h = head.register_forward_pre_hook(grab)
    was = model.training
    model.eval()
    try:
        first = next(model.parameters())
        dev = first.device  # run where the model lives
        xt = torch.as_tensor(np.asarray(x), dtype=first.dtype)
        for i in range(0, len(xt), batch_size):
            model(xt[i:i + batch_size].to(dev))
    finally:
        h.remove()
        model.train(was)
    return torch.cat(feats).numpy()


# ------------------------------------------------------------------ the shipped checkpoint
def jitter_digits(X: np.ndarray, seed: int, shift: int = JITTER_SHIFT, noise: float = JITTER_NOISE) -> np.ndarray:
    """A fixed, seeded corruption of images (N, 1, S, S): each is shifted by up to ``shift``
    pixels (zero fill) and gets Gaussian noise of std ``noise``; the "scanner" domain of the
    transfer experiment."""
    crop = RandomCrop(X.shape[-1], padding=shift, seed=seed)
    corrupt = GaussianNoise(noise, seed=seed + 1)
    return np.stack([corrupt(crop(x)) for x in X]).astype(np.float32)


def digits_parts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the two stratified halves of the standard digits training split:
    part A pretrains the shipped checkpoint, part B is the pool of the few labels."""
    d = load_digits(size=16, seed=0)
    return stratified_split(d["y_train"], (0.5, 0.5), seed=seed)


def pretrain_digits_lenet(path: str | Path = PRETRAINED_PATH, epochs: int = 25, seed: int = 0) -> dict:
    """Train the shipped checkpoint: LeNet on part A of the 16x16 digits, with augmentation.

    Data: part A (half, stratified) of the training split of ``load_digits(size=16, seed=0)``,
    all 10 classes, augmented on the fly with the jitter of :func:`jitter_digits` (random
    shifts of up to 2 pixels and Gaussian noise 0.1). Part B, the validation and the test
    images are never used. One thread, fixed seeds and deterministic algorithms make the
    file byte-identical on every run with a given platform and torch version.

    Returns:
        the metrics stored in the checkpoint.
    """
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = load_digits(size=16, seed=0)
        part_a, _ = digits_parts()
        seed_everything(seed)
        model = LeNet(num_classes=10)
        aug = Compose([RandomCrop(16, padding=JITTER_SHIFT, seed=seed), GaussianNoise(JITTER_NOISE, seed=seed + 1)])
        loader = DataLoader(ArrayDataset(d["X_train"][part_a], d["y_train"][part_a], transform=aug), batch_size=32,
                            shuffle=True, seed=seed)
        hist = fit(model, loader, None, epochs=epochs, lr=3e-3, scheduler="cosine", seed=seed, progress=False,
                   restore_best=False, device="cpu")  # the CPU run is the reference
        metrics = {"train_loss": hist.last("train_loss"), "train_accuracy": hist.last("train_accuracy"),
                   "images": int(len(part_a)), "epochs": epochs}
        model.cpu().eval()
        save_checkpoint(path, model, {"seed": seed, "epochs": epochs, "lr": 3e-3, "scheduler": "cosine",
                                      "augmentation": f"RandomCrop(16, padding={JITTER_SHIFT}) + "
                                                      f"GaussianNoise({JITTER_NOISE})",
                                      "data": "load_digits(size=16, seed=0) training split, part A of "
                                              "stratified_split(y_train, (0.5, 0.5), seed=0)",
                                      "script": "scripts/make_pretrained.py",
                                      "platform": platform.machine(), "numpy": np.__version__,
                                      # MKL/oneDNN pick kernels by this: bit-equal reruns need the same one
                                      "cpu_capability": torch.backends.cpu.get_cpu_capability()},
                        metrics, epoch=epochs)
        return metrics
    finally:
        torch.set_num_threads(prev_threads)


def load_pretrained(path: str | Path = PRETRAINED_PATH) -> nn.Module:
    """The shipped LeNet (10 classes) pretrained on part A of the digits, in eval mode."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; recreate it with `python scripts/make_pretrained.py`")
    return load_checkpoint(path)[0]


def target_task_data(shots: int = 10, seed: int = 0) -> dict:
    """The few-label task: ``shots`` labelled images per class drawn from part B of the
    training split, all jittered (:func:`jitter_digits`, seed ``seed``); the test set is the
    validation + test images of the standard split, jittered with a fixed seed."""
    d = load_digits(size=16, seed=0)
    _, part_b = digits_parts()
    idx = part_b[few_per_class(d["y_train"][part_b], shots, seed=seed)]
    X_test = np.concatenate([d["X_val"], d["X_test"]])
    return {"X_few": jitter_digits(d["X_train"][idx], seed), "y_few": d["y_train"][idx],
            "X_test": jitter_digits(X_test, 10_000), "y_test": np.concatenate([d["y_val"], d["y_test"]])}


def _few_label_fit(model, X, y, epochs, lr, seed, optimizer=None):
    loader = DataLoader(ArrayDataset(X, y), batch_size=len(X), shuffle=True, seed=seed)
    return fit(model, loader, None, epochs=epochs, lr=lr, seed=seed, progress=False, restore_best=False,
               optimizer=optimizer or "adam")


def fewshot_transfer(shots: int = 10, seeds: Iterable[int] = (0, 1, 2), epochs: int = 100,
                     path: str | Path = PRETRAINED_PATH) -> dict:
    """Fine-tuning the shipped checkpoint vs the same network from scratch, ``shots`` per class.

    For every seed the same labelled examples train three models for the same number of
    full-batch Adam steps: from scratch (random init, lr 3e-3), feature extraction (frozen
    body, new head, lr 3e-3) and fine-tuning (new head at lr 3e-3, body at 3e-4).

    Returns:
        dict with per-seed test accuracies ``scratch``, ``feature_extraction``,
        ``fine_tuning`` (lists) and their means ``*_mean``.
    """
    res = {"scratch": [], "feature_extraction": [], "fine_tuning": []}
    for seed in seeds:
        data = target_task_data(shots, seed)
        test = DataLoader(ArrayDataset(data["X_test"], data["y_test"]), batch_size=1024)
        seed_everything(seed)
        scratch = LeNet(num_classes=10)
        _few_label_fit(scratch, data["X_few"], data["y_few"], epochs, 3e-3, seed)
        res["scratch"].append(evaluate(scratch, test)["accuracy"])
        for mode in ("feature_extraction", "fine_tuning"):
            model = load_pretrained(path)
            groups = prepare_transfer(model, mode, num_classes=10, lr=3e-3, body_lr_factor=0.1, seed=seed)
            _few_label_fit(model, data["X_few"], data["y_few"], epochs, 3e-3, seed,
                           optimizer=lambda _params, g=groups: torch.optim.Adam(g))
            res[mode].append(evaluate(model, test)["accuracy"])
    for key in list(res):
        res[key + "_mean"] = float(np.mean(res[key]))
    return res


# ------------------------------------------------------------------ autoencoder pretraining
class AutoencoderClassifier(nn.Module):
    """The encoder of a :class:`ConvAutoencoder` followed by a linear ``head`` on its latent code."""

    def __init__(self, encoder: nn.Module, latent_dim: int, num_classes: int = 10):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(latent_dim, num_classes)

    def forward(self, x):
        return self.head(self.encoder(x))


def autoencoder_pretraining(labels_per_class: int = 10, seeds: Iterable[int] = (0, 1, 2), ae_epochs: int = 30,
                            epochs: int = 150, latent_dim: int = 32, denoise_std: float = 0.0) -> dict:
    """Few-label classification with and without autoencoder pretraining on unlabelled digits.

    1. A :class:`ConvAutoencoder` learns to reconstruct the training and validation images
       of the standard 16x16 digits split with their labels unused (with ``denoise_std > 0``
       it is a denoising autoencoder: noisy input, clean target).
    2. ``labels_per_class`` labelled training images per class then train, for the same
       number of full-batch Adam steps: the encoder architecture plus a linear head from
       random init (``scratch``); a linear head on the frozen pretrained encoder
       (``feature_extraction``); and the whole pretrained encoder plus head (``fine_tuning``).

    Returns:
        dict with per-seed test accuracies under those three keys, their ``*_mean``, and the
        autoencoder's final reconstruction loss ``ae_loss``.
    """
    from .zoo import add_noise

    d = load_digits(size=16, seed=0)
    seed_everything(0)
    ae = ConvAutoencoder(image_size=16, latent_dim=latent_dim)
    unlabelled = np.concatenate([d["X_train"], d["X_val"]])
    unl = DataLoader(ArrayDataset(unlabelled), batch_size=64, shuffle=True, seed=0)
    gen = torch.Generator().manual_seed(0)
    batch_fn = (lambda b: (add_noise(b, denoise_std, generator=gen), b)) if denoise_std > 0 else None
    h = fit(ae, unl, None, epochs=ae_epochs, lr=3e-3, loss_fn=nn.functional.mse_loss, seed=0, progress=False,
            restore_best=False, batch_fn=batch_fn, scheduler="cosine")
    test = DataLoader(ArrayDataset(d["X_test"], d["y_test"]), batch_size=1024)
    res = {"scratch": [], "feature_extraction": [], "fine_tuning": [], "ae_loss": h.last("train_loss")}
    for seed in seeds:
        idx = few_per_class(d["y_train"], labels_per_class, seed=seed)
        X, y = d["X_train"][idx], d["y_train"][idx]
        seed_everything(seed)
        scratch = AutoencoderClassifier(ConvAutoencoder(image_size=16, latent_dim=latent_dim).encoder, latent_dim)
        _few_label_fit(scratch, X, y, epochs, 3e-3, seed)
        res["scratch"].append(evaluate(scratch, test)["accuracy"])
        for mode in ("feature_extraction", "fine_tuning"):
            torch.manual_seed(seed)
            model = AutoencoderClassifier(copy.deepcopy(ae.encoder), latent_dim)
            if mode == "feature_extraction":
                freeze(model, "encoder")
            params = [p for p in model.parameters() if p.requires_grad]
            _few_label_fit(model, X, y, epochs, 3e-3, seed, optimizer=lambda _p, ps=params: torch.optim.Adam(ps, 3e-3))
            res[mode].append(evaluate(model, test)["accuracy"])
    for key in ("scratch", "feature_extraction", "fine_tuning"):
        res[key + "_mean"] = float(np.mean(res[key]))
    return res


# ------------------------------------------------------------------ lab 08's pieces, written out
def freeze_body(model: nn.Module, head_name: str = "head") -> int:
    """Stop gradients for every parameter outside the head ``head_name``; the head stays trainable.

    Returns:
        the number of frozen scalars.
    """
    frozen = 0
    for name, p in model.named_parameters():
        in_head = name.startswith(head_name + ".")
        p.requires_grad_(in_head)
        frozen += 0 if in_head else p.numel()
    return frozen


def body_head_groups(model: nn.Module, lr: float, body_lr_factor: float, head_name: str = "head") -> list[dict]:
    """Optimizer parameter groups: the trainable body at ``lr * body_lr_factor``, the head at ``lr``.

    The body group comes first and is left out when no body parameter is trainable (a frozen body).
    """
    body, head = [], []
    for name, p in model.named_parameters():
        if name.startswith(head_name + "."):
            head.append(p)
        elif p.requires_grad:
            body.append(p)
    groups = [{"params": body, "lr": lr * body_lr_factor}] if body else []
    return groups + [{"params": head, "lr": lr}]


def set_train_mode(model: nn.Module, frozen_body: bool, head_name: str = "head") -> None:
    """Training mode; with ``frozen_body`` every top-level part except the head goes back to evaluation mode.

    A frozen body must behave as it did when it was trained: batch norm normalises with its
    running statistics (and does not overwrite them with the few new images), dropout is off.
    """
    model.train()
    if frozen_body:
        for name, child in model.named_children():
            if name != head_name:
                child.eval()


def train_full_batch(model: nn.Module, optimizer, X: torch.Tensor, y: torch.Tensor, steps: int, frozen_body: bool,
                     head_name: str = "head") -> list[float]:
    """The lab's one recipe: ``steps`` full-batch steps on the cross-entropy; returns the loss before each step."""
    losses = []
    for _ in range(steps):
        set_train_mode(model, frozen_body, head_name)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
