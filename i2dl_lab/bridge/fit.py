"""A torch training loop for the labs: ``fit(model, train_loader, val_loader, ...) -> History``.

It speaks the vocabulary of every loop in the course (:mod:`i2dl_lab.loop`): the same
:class:`~i2dl_lab.loop.History` keys as the NumPy Trainer, the same early stopping, the same
:class:`~i2dl_lab.loop.TrainingDiverged` error and the same argument names.

What it does, so that a lab needs no boilerplate:

* ``device="auto"`` picks CUDA, then Apple's MPS, then the CPU; batches from either the
  NumPy :class:`~i2dl_lab.data.DataLoader` or torch's ``DataLoader`` are moved there.
* optimizer by name (``"sgd"``, ``"adam"``, ``"adamw"``) or instance; scheduler by name
  (``"cosine"``, ``"step"``, ``"onecycle"``) or a factory ``f(optimizer) -> scheduler``.
* seeded determinism (``torch.manual_seed`` and deterministic algorithms during the run).
* early stopping on a monitored metric, restoring the best weights at the end.
* checkpoints (``state_dict``, hyperparameters, metrics, zoo name) that
  :func:`load_checkpoint` reloads into an identical model.
* a progress bar from :func:`i2dl_lab.progress.progress` (plain lines under CI/papermill).
* :class:`~i2dl_lab.loop.TrainingDiverged`, with the epoch, the iteration and a hint, the
  moment the loss turns NaN or infinite.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

from ..loop import EarlyStopping, History, check_finite
from ..progress import progress as _progress

__all__ = ["fit", "evaluate", "predict", "select_device", "seed_everything", "save_checkpoint",
           "load_checkpoint", "default_loss", "accuracy", "make_optimizer", "make_scheduler"]


def select_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else MPS (Apple GPUs), else CPU; other values pass through."""
    if isinstance(device, torch.device):
        return device
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's legacy and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_tensor(x, device, float_dtype):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, torch.Tensor):
        if x.is_floating_point():
            x = x.to(float_dtype)
        elif x.dtype in (torch.int32, torch.int16, torch.uint8, torch.int8):
            x = x.long()
        return x.to(device, non_blocking=True)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_tensor(v, device, float_dtype) for v in x)
    if isinstance(x, dict):
        return {k: _to_tensor(v, device, float_dtype) for k, v in x.items()}
    return x


def _split_batch(batch):
    # (x, y) for supervised data; a lone x means "reconstruct the input" (autoencoders).
    if isinstance(batch, (list, tuple)):
        if len(batch) == 2:
            return batch[0], batch[1]
        if len(batch) == 1:
            return batch[0], batch[0]
        raise ValueError(f"a batch must be (x, y) or x, got a tuple of {len(batch)}; pass batch_fn to adapt it")
    return batch, batch


def default_loss(output, target):
    """Cross-entropy for integer targets (also (N, T, C) logits vs (N, T) ids), else MSE."""
    if not target.is_floating_point():
        if output.ndim == 3 and target.ndim == 2:
            return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))
        return F.cross_entropy(output, target)
    return F.mse_loss(output, target)


def accuracy(output, target) -> float | None:
    """Fraction of correct argmax predictions, or None when the task is not classification."""
    if not isinstance(output, torch.Tensor) or target.is_floating_point() or output.ndim < 2:
        return None
    pred = output.argmax(dim=-1)
    if pred.shape != target.shape:
        return None
    return float((pred == target).float().mean())


def make_optimizer(name_or_opt, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9):
    """An optimizer from a name (``sgd``, ``adam``, ``adamw``, ``rmsprop``), instance, or factory."""
    if isinstance(name_or_opt, torch.optim.Optimizer):
        return name_or_opt
    if callable(name_or_opt):
        return name_or_opt(params)
    name = str(name_or_opt).lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'adam', 'adamw', 'rmsprop', an Optimizer or a factory, "
                     f"got {name_or_opt!r}")


def make_scheduler(name_or_factory, optimizer, epochs: int, steps_per_epoch: int):
    """Returns ``(scheduler, per_step)``; names: ``cosine``, ``step`` (x0.1 at 1/2 and 3/4), ``onecycle``."""
    if name_or_factory is None:
        return None, False
    if callable(name_or_factory) and not isinstance(name_or_factory, str):
        return name_or_factory(optimizer), False
    name = str(name_or_factory).lower()
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps_per_epoch)), True
    if name == "step":
        ms = [max(1, epochs // 2), max(1, (3 * epochs) // 4)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=sorted(set(ms)), gamma=0.1), False
    if name == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch), True
    raise ValueError(f"scheduler must be None, 'cosine', 'step', 'onecycle' or a factory, got {name_or_factory!r}")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _model_device(model: nn.Module, device) -> torch.device:
    # None: wherever the model's parameters are (no surprise moves between devices).
    if device is None:
        return next((p.device for p in model.parameters()), torch.device("cpu"))
    return select_device(device)


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn: Callable | None = None, device=None,
             batch_fn: Callable | None = None) -> dict:
    """Mean loss (and accuracy for classification) of ``model`` over ``loader``, in eval mode.

    ``device=None`` evaluates where the model's parameters are; the model is not moved.
    """
    device = _model_device(model, device)
    loss_fn = loss_fn or default_loss
    dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    total, n, correct, n_acc = 0.0, 0, 0.0, 0
    for batch in loader:
        batch = _to_tensor(batch, device, dtype)
        x, y = batch_fn(batch) if batch_fn else _split_batch(batch)
        out = model(x)
        bs = _batch_size(x)
        total += float(loss_fn(out, y)) * bs
        n += bs
        acc = accuracy(out, y)
        if acc is not None:
            correct += acc * bs
            n_acc += bs
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate got an empty loader")
    res = {"loss": total / n}
    if n_acc:
        res["accuracy"] = correct / n_acc
    return res


def _batch_size(x) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.shape[0])
    if isinstance(x, (list, tuple)) and x:
        return _batch_size(x[0])
    return 1


@torch.no_grad()
def predict(model: nn.Module, loader, device=None) -> np.ndarray:
    """Concatenated model outputs over ``loader`` (inputs only are used), as a NumPy array."""
    device = _model_device(model, device)
    dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    outs = []
    for batch in loader:
        x, _ = _split_batch(_to_tensor(batch, device, dtype))
        outs.append(model(x).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(outs)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, hparams: dict | None = None,
                    metrics: dict | None = None, optimizer=None, epoch: int | None = None) -> Path:
    """Write model weights, hyperparameters and metrics to ``path`` (atomically).

    The file holds ``state_dict``, ``model_name`` and ``model_hparams`` (for zoo models, so
    :func:`load_checkpoint` can rebuild the model), ``hparams`` (the training settings),
    ``metrics``, ``epoch`` and optionally the optimizer state.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_name": getattr(model, "zoo_name", None),
        "model_hparams": copy.deepcopy(getattr(model, "hparams", None)),
        "hparams": dict(hparams or {}),
        "metrics": dict(metrics or {}),
        "epoch": epoch,
        "torch_version": str(torch.__version__),
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, map_location="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        model: load the weights into this model; if None, rebuild the zoo model recorded
            in the checkpoint.

    Returns:
        ``(model, checkpoint_dict)`` with the model in eval mode.
    """
    ckpt = torch.load(os.fspath(path), map_location=map_location, weights_only=True)
    if model is None:
        from .zoo import build

        if not ckpt.get("model_name"):
            raise ValueError(f"{path} does not record a zoo model; pass the model to load the weights into")
        model = build(ckpt["model_name"], **(ckpt.get("model_hparams") or {}))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def fit(model: nn.Module, train_loader, val_loader=None, *, epochs: int = 10, loss_fn: Callable | None = None,
        optimizer="adam", lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9, scheduler=None,
        device="auto", early_stopping: int | None = None, monitor: str | None = None,
        checkpoint: str | os.PathLike | None = None, seed: int | None = 0, deterministic: bool = True,
        max_grad_norm: float | None = None, max_grad_value: float | None = None, batch_fn: Callable | None = None,
        hparams: dict | None = None, progress: bool = True, restore_best: bool = True,
        time_limit: float | None = None) -> History:
    """Train ``model`` and return its :class:`~i2dl_lab.loop.History`.

    Args:
        model: any ``torch.nn.Module``; moved to ``device``.
        train_loader: iterable of batches ``(x, y)`` (NumPy arrays or tensors) or ``x`` alone
            (then the target is ``x``: autoencoders).
        val_loader: optional validation batches, evaluated after every epoch.
        epochs: passes over ``train_loader``.
        loss_fn: ``loss_fn(output, target) -> scalar tensor``; default :func:`default_loss`.
        optimizer, lr, weight_decay, momentum: see :func:`make_optimizer`.
        scheduler: see :func:`make_scheduler`.
        device: ``"auto"`` (CUDA, MPS, CPU) or an explicit device.
        early_stopping: stop after this many epochs without improvement of ``monitor``.
        monitor: ``"val_loss"`` (default with a val loader), ``"val_accuracy"``, ``"train_loss"``...
            Names ending in ``accuracy`` are maximised, the rest minimised.
        checkpoint: path; the best model so far is saved there (see :func:`save_checkpoint`).
        seed: seeds torch/NumPy/Python before training (``None``: leave the RNGs alone).
        deterministic: use torch's deterministic algorithms during the run.
        max_grad_norm: rescale the gradients when their global L2 norm exceeds this (None: off).
        max_grad_value: clamp every gradient entry into [-max_grad_value, max_grad_value] (None: off).
        batch_fn: ``batch_fn(batch) -> (inputs, targets)`` after moving to the device
            (e.g. ``lambda b: (add_noise(b[0]), b[0])`` for a denoising autoencoder).
        hparams: extra settings stored in the checkpoint next to the fit arguments.
        progress: show a progress bar over epochs.
        restore_best: load the best weights (by ``monitor``) back into the model at the end.
        time_limit: stop after the epoch in which this many seconds have passed.

    Returns:
        History: per iteration ``loss`` and ``grad_norm`` (before clipping); per epoch
        ``epoch``, ``train_loss``, ``lr``, ``time`` and (where they apply) ``train_accuracy``,
        ``val_loss``, ``val_accuracy``; ``best_epoch``, ``best_value``, ``stop_reason``.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (``err.history`` holds the run so far).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    monitor = monitor or ("val_loss" if val_loader is not None else "train_loss")
    if monitor.startswith("val_") and val_loader is None:
        raise ValueError(f"monitor={monitor!r} needs a val_loader")
    dev = select_device(device)
    fit_hparams = {"epochs": epochs, "optimizer": optimizer if isinstance(optimizer, str) else type(optimizer).__name__,
                   "lr": lr, "weight_decay": weight_decay, "scheduler": scheduler if isinstance(scheduler, str) or
                   scheduler is None else getattr(scheduler, "__name__", "custom"), "seed": seed,
                   "early_stopping": early_stopping, "monitor": monitor, "max_grad_norm": max_grad_norm,
                   "max_grad_value": max_grad_value, **(hparams or {})}
    model.to(dev)
    opt = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay, momentum)
    run = _Run(model, train_loader, val_loader, loss_fn or default_loss, batch_fn, dev, opt,
               max_grad_norm, max_grad_value)
    run.sched, run.per_step = make_scheduler(scheduler, opt, epochs, _num_batches(train_loader))
    stopper = EarlyStopping(early_stopping, monitor)
    # nothing may raise between switching determinism on and the ``finally`` that restores it
    prev_det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    _seed_run(train_loader, seed, deterministic)
    bar = _progress(range(1, epochs + 1), desc="fit", disable=not progress)
    try:
        for epoch in bar:
            row = run.epoch(epoch)
            if monitor not in row:
                raise ValueError(f"monitor={monitor!r} is not among the logged metrics {sorted(row)}")
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k: v for k, v in row.items() if k not in ("epoch", "time", "lr")})
            if stopper.update(epoch, row[monitor]):
                run.new_best(restore_best, checkpoint, fit_hparams, stopper.best_value, epoch)
            run.hist.best_epoch, run.hist.best_value = stopper.best_epoch, stopper.best_value
            if stopper.should_stop:
                run.hist.stop_reason = stopper.reason(epoch)
                break
            if time_limit is not None and row["time"] > time_limit:
                run.hist.stop_reason = f"time limit {time_limit}s reached after epoch {epoch}"
                break
    finally:
        if deterministic:
            torch.use_deterministic_algorithms(prev_det[0], warn_only=prev_det[1])
        if hasattr(bar, "close"):
            bar.close()
    return run.finish(restore_best)


def _seed_run(train_loader, seed: int | None, deterministic: bool) -> None:
    if seed is not None:
        seed_everything(seed)
        if hasattr(train_loader, "reseed") and getattr(train_loader, "shuffle", False):
            train_loader.reseed(seed if train_loader.seed is None else train_loader.seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def _num_batches(loader) -> int:
    try:
        return len(loader)
    except TypeError:  # an iterable without a length: schedules count one step per epoch
        return 1


def _grad_norm(params: list[torch.Tensor]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


class _Run:
    """The state of one :func:`fit` call: the model, its optimizer, the history, the best weights."""

    def __init__(self, model, train_loader, val_loader, loss_fn, batch_fn, device, opt,
                 max_grad_norm: float | None, max_grad_value: float | None) -> None:
        self.model, self.train_loader, self.val_loader = model, train_loader, val_loader
        self.loss_fn, self.batch_fn, self.device, self.opt = loss_fn, batch_fn, device, opt
        self.max_grad_norm, self.max_grad_value = max_grad_norm, max_grad_value
        self.dtype = _model_dtype(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.sched, self.per_step = None, False
        self.hist = History(["loss", "grad_norm", "epoch", "train_loss"])
        self.hist.device = str(device)
        self.best_state = None
        self.iteration, self.last_finite = 0, None
        self.t0 = time.perf_counter()

    def step(self, epoch: int, it: int, batch) -> tuple[float, float | None, int]:
        """One batch: forward, loss, backward, clipping, update. Returns ``(loss, accuracy, batch size)``."""
        x, y = self.batch_fn(batch) if self.batch_fn else _split_batch(batch)
        out = self.model(x)
        loss = self.loss_fn(out, y)
        self.iteration += 1
        value = float(loss.detach())
        check_finite(value, epoch=epoch, iteration=it, global_iteration=self.iteration,
                     lr=self.opt.param_groups[0]["lr"], last_finite_loss=self.last_finite, history=self.hist)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(self.params)
        if self.max_grad_value is not None:
            nn.utils.clip_grad_value_(self.params, self.max_grad_value)
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.opt.step()
        if self.sched is not None and self.per_step:
            self.sched.step()
        self.last_finite = value
        self.hist.log(loss=value, grad_norm=grad_norm)
        acc = accuracy(out.detach(), y) if isinstance(out, torch.Tensor) else None
        return value, acc, _batch_size(x)

    def epoch(self, epoch: int) -> dict:
        """Train one pass over the loader, evaluate, log the epoch's row and return it."""
        self.model.train()
        total, n, correct, n_acc = 0.0, 0, 0.0, 0
        for it, batch in enumerate(self.train_loader, 1):
            loss, acc, bs = self.step(epoch, it, _to_tensor(batch, self.device, self.dtype))
            total, n = total + loss * bs, n + bs
            if acc is not None:
                correct, n_acc = correct + acc * bs, n_acc + bs
        if self.sched is not None and not self.per_step:
            self.sched.step()
        row = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if n_acc:
            row["train_accuracy"] = correct / n_acc
        if self.val_loader is not None:
            ev = evaluate(self.model, self.val_loader, self.loss_fn, self.device, self.batch_fn)
            row["val_loss"] = ev["loss"]
            if "accuracy" in ev:
                row["val_accuracy"] = ev["accuracy"]
        row["lr"] = self.opt.param_groups[0]["lr"]
        row["time"] = time.perf_counter() - self.t0
        self.hist.log(**row)
        return row

    def new_best(self, restore_best: bool, checkpoint, fit_hparams: dict, value: float, epoch: int) -> None:
        if restore_best:
            self.best_state = copy.deepcopy(self.model.state_dict())
        if checkpoint is not None:
            save_checkpoint(checkpoint, self.model, fit_hparams, {**self.hist.to_dict()["metrics"], "best": value},
                            epoch=epoch)

    def finish(self, restore_best: bool) -> History:
        if restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.hist.seconds = time.perf_counter() - self.t0
        return self.hist
