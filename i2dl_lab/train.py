"""The NumPy training loop: minibatches, optimizer steps, schedules, evaluation, early stopping.

:class:`Trainer` (also exported as :data:`Solver`, the CS231n name) runs any
:class:`~i2dl_lab.nn.module.Module` with any loss that follows the library's contract::

    loss, dscores = loss_fn(scores, y)     # e.g. nn.losses.softmax_loss or nn.CrossEntropyLoss()
    model.backward(dscores)                # accumulates into model.grads

and any optimizer from :mod:`i2dl_lab.nn.optim`. A loss that turns NaN or infinite stops
training at once with :class:`TrainingDiverged`, which says where it happened and what to
try, instead of silently training on NaNs.

Example:
    >>> import numpy as np
    >>> from i2dl_lab.nn import Linear, ReLU, Sequential
    >>> from i2dl_lab.nn.losses import softmax_loss
    >>> from i2dl_lab.nn.optim import Adam
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(int)
    >>> model = Sequential(Linear(2, 32, seed=0), ReLU(), Linear(32, 2, seed=1))
    >>> trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), (X, y), epochs=20, verbose=False)
    >>> history = trainer.fit()
    >>> trainer.check_accuracy(X, y) > 0.9
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .nn._checks import as_float_array, check_int, check_positive
from .nn.optim import clip_grad_norm, clip_grad_value
from .progress import progress

__all__ = ["Trainer", "Solver", "TrainingDiverged", "plot_history", "accuracy"]


class TrainingDiverged(FloatingPointError):
    """The loss (or the gradient norm) became NaN or infinite during training.

    Attributes:
        epoch: 1-based epoch in which it happened.
        iteration: 1-based iteration within that epoch.
        global_iteration: 1-based count of iterations since ``fit`` started.
        last_finite_loss: the last finite loss seen (``None`` if there was none).
        value: the offending loss or gradient norm.
    """

    def __init__(self, message: str, *, epoch: int, iteration: int, global_iteration: int,
                 last_finite_loss: float | None, value: float) -> None:
        super().__init__(message)
        self.epoch, self.iteration, self.global_iteration = epoch, iteration, global_iteration
        self.last_finite_loss, self.value = last_finite_loss, value


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label.

    Args:
        scores: (N, C) class scores (argmax), or one logit per row, (N,) or (N, 1), for a
            binary classifier whose prediction is ``score > 0``.
        y: (N,) integer labels.

    Returns:
        float in [0, 1].

    Example:
        >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
        0.5
    """
    scores = np.asarray(scores)
    y = np.asarray(y).reshape(-1)
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        pred = (scores.reshape(-1) > 0).astype(np.int64)
    else:
        pred = np.argmax(scores.reshape(scores.shape[0], -1), axis=1)
    if pred.shape != y.shape:
        raise ValueError(f"accuracy: {pred.shape[0]} predictions but y has shape {y.shape}")
    return float(np.mean(pred == y))


def _check_data(name: str, data) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y), got {type(data).__name__}"
                        + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))
    X = as_float_array(f"{name}[0] (X)", data[0])
    y = np.asarray(data[1])
    if X.ndim < 1 or y.ndim < 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: X and y must have the same number of rows, got X {X.shape} and y {y.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return X, y


def _parse_clip(grad_clip) -> tuple[str, float] | None:
    if grad_clip is None:
        return None
    if isinstance(grad_clip, (int, float, np.floating, np.integer)) and not isinstance(grad_clip, bool):
        check_positive("grad_clip", float(grad_clip))
        return "norm", float(grad_clip)
    if isinstance(grad_clip, (tuple, list)) and len(grad_clip) == 2 and grad_clip[0] in ("norm", "value"):
        check_positive(f"grad_clip {grad_clip[0]}", float(grad_clip[1]))
        return grad_clip[0], float(grad_clip[1])
    raise ValueError(
        "grad_clip must be None, a positive number (clip the global gradient norm) or "
        f"('norm', max_norm) / ('value', clip_value), got {grad_clip!r}"
    )


class Trainer:
    """Train a Module with minibatch gradient descent and keep a history of the run.

    Each epoch visits the training set once in a fresh random order (drawn from ``seed``):
    for every minibatch it zeroes the gradients, runs ``forward``, the loss, ``backward``,
    optional gradient clipping and ``optimizer.step()``. After the epoch it evaluates
    (``model.eval()``, then back to ``model.train()``), records the history and advances the
    scheduler.

    Args:
        model: a Module (``forward``, ``backward``, ``params``, ``grads``, ``train``, ``eval``).
        loss_fn: ``loss, dscores = loss_fn(scores, y)``: a function from
            :mod:`i2dl_lab.nn.losses` or a loss Module such as ``CrossEntropyLoss()``.
        optimizer: an optimizer from :mod:`i2dl_lab.nn.optim` built on ``model``.
        train_data: ``(X, y)``, X of shape (N, ...) and y of shape (N, ...).
        val_data: ``(X_val, y_val)`` or ``None``.
        batch_size: minibatch size (the last batch of an epoch may be smaller).
        epochs: passes over the training set.
        scheduler: an :mod:`i2dl_lab.nn.lr_scheduler` scheduler on ``optimizer``, stepped once
            per epoch.
        grad_clip: ``None``; a number (clip the global L2 norm of all gradients to it);
            ``("norm", max_norm)`` or ``("value", clip_value)``.
        early_stopping_patience: stop after this many epochs without improvement of the
            monitored validation number (needs ``val_data``); the best parameters are
            restored at the end.
        restore_best: restore the parameters of the best validation epoch at the end
            (default: whenever early stopping is on).
        seed: seeds the shuffling (and the subsample used for training accuracy): the same
            seed and the same initial model give an identical history. Layers with their own
            randomness draw from their own generators: seed them too (``Dropout(p, seed=...)``).
        metric: ``"accuracy"``, a callable ``metric(scores, y) -> float`` (higher is better),
            or ``None`` (regression). The monitored validation number is this metric, or the
            validation loss when ``metric`` is ``None``.
        num_train_samples: how many training rows (a fixed random subset) to evaluate the
            training metric on each epoch, as in CS231n's Solver; ``None`` for all.
        eval_batch_size: batch size for evaluation passes.
        verbose: show a progress bar (plain lines under CI/papermill) and a line per epoch.

    Attributes:
        history: after :meth:`fit`, a dict with

            * ``"loss"``: training loss of every iteration;
            * ``"grad_norm"``: global gradient norm of every iteration (before clipping);
            * ``"epoch"``: 1, 2, ... (per-epoch lists below are aligned with it);
            * ``"train_loss"``: mean iteration loss of each epoch;
            * ``"train_acc"``, ``"val_acc"``: the metric per epoch (empty when ``metric`` is
              ``None``; ``val_*`` empty without ``val_data``);
            * ``"val_loss"``: validation loss per epoch;
            * ``"lr"``: learning rate used during each epoch;
            * ``"best_epoch"``: 1-based epoch with the best validation number (``None``
              without validation data); ``"stopped_early"``: bool; ``"time"``: seconds.
    """

    def __init__(self, model, loss_fn: Callable, optimizer, train_data, val_data=None, batch_size: int = 64,
                 epochs: int = 10, scheduler=None, grad_clip=None, early_stopping_patience: int | None = None,
                 restore_best: bool | None = None, seed: int | None = 0,
                 metric: str | Callable | None = "accuracy", num_train_samples: int | None = 1000,
                 eval_batch_size: int = 1000, verbose: bool = True) -> None:
        for attr in ("forward", "backward", "params", "grads", "zero_grad", "train", "eval"):
            if not hasattr(model, attr):
                raise TypeError(f"model must be a Module (missing {attr!r}), got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss, dscores = loss_fn(scores, y), got {loss_fn!r}")
        for attr in ("step", "lr"):
            if not hasattr(optimizer, attr):
                raise TypeError(f"optimizer must come from i2dl_lab.nn.optim (missing {attr!r}), "
                                f"got {type(optimizer).__name__}")
        if scheduler is not None:
            if not hasattr(scheduler, "step"):
                raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
            if getattr(scheduler, "optimizer", optimizer) is not optimizer:
                raise ValueError("scheduler drives a different optimizer than the one given to the Trainer")
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.X_train, self.y_train = _check_data("train_data", train_data)
        self.X_val, self.y_val = _check_data("val_data", val_data) if val_data is not None else (None, None)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.epochs = check_int("epochs", epochs, 1)
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.grad_clip = _parse_clip(grad_clip)
        if early_stopping_patience is not None:
            early_stopping_patience = check_int("early_stopping_patience", early_stopping_patience, 1)
            if val_data is None:
                raise ValueError("early_stopping_patience needs val_data to monitor")
        self.early_stopping_patience = early_stopping_patience
        self.restore_best = (early_stopping_patience is not None) if restore_best is None else bool(restore_best)
        if self.restore_best and val_data is None:
            raise ValueError("restore_best needs val_data to pick the best epoch")
        if isinstance(metric, str):
            if metric != "accuracy":
                raise ValueError(f"metric must be 'accuracy', a callable or None, got {metric!r}")
            self.metric_fn: Callable | None = accuracy
        elif metric is None or callable(metric):
            self.metric_fn = metric
        else:
            raise TypeError(f"metric must be 'accuracy', a callable or None, got {type(metric).__name__}")
        self.metric = metric
        if num_train_samples is not None:
            num_train_samples = check_int("num_train_samples", num_train_samples, 1)
        self.num_train_samples = num_train_samples
        self.seed, self.verbose = seed, bool(verbose)
        self.rng = np.random.default_rng(seed)
        self.history: dict[str, Any] = {}

    # ------------------------------------------------------------------ one step
    def _loss(self, scores, y):
        out = self.loss_fn(scores, y)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("loss_fn must return (loss, dscores), e.g. nn.losses.softmax_loss; got "
                            f"{type(out).__name__}")
        loss, dscores = out
        return float(loss), dscores

    def _diverged(self, what: str, value: float, epoch: int, it: int, git: int, last: float | None):
        last_txt = f"{last:.6g}" if last is not None else "none (the very first loss was not finite)"
        raise TrainingDiverged(
            f"{what} became {value} at epoch {epoch}, iteration {it} of that epoch "
            f"(iteration {git} overall); last finite loss: {last_txt}. "
            f"Hint: lower the learning rate (it is {self.optimizer.lr:g}) or clip the gradients "
            "(grad_clip=max_norm), and check the input scaling.",
            epoch=epoch, iteration=it, global_iteration=git, last_finite_loss=last, value=value,
        )

    def _clip(self) -> float:
        grads = self.model.grads
        if self.grad_clip is None:
            return float(math.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
        kind, value = self.grad_clip
        if kind == "norm":
            return clip_grad_norm(grads, value)
        total = float(math.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
        clip_grad_value(grads, value)
        return total

    # ------------------------------------------------------------------ evaluation
    def _outputs(self, X, batch_size: int | None = None) -> np.ndarray:
        """Model outputs for all rows of ``X`` in evaluation mode (mode restored after)."""
        X = as_float_array("X", X)
        bs = self.eval_batch_size if batch_size is None else check_int("batch_size", batch_size, 1)
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            outs = [self.model.forward(X[i:i + bs]) for i in range(0, X.shape[0], bs)]
        finally:
            self.model.train(was_training)
        return np.concatenate(outs, axis=0)

    def evaluate(self, X, y, batch_size: int | None = None) -> tuple[float, float | None]:
        """``(loss, metric)`` on ``(X, y)`` in evaluation mode (``metric`` is ``None`` without one).

        The forward passes run in batches; the loss is computed once on all outputs."""
        scores = self._outputs(X, batch_size)
        with np.errstate(over="ignore", invalid="ignore"):
            loss, _ = self._loss(scores, np.asarray(y))
        metric = float(self.metric_fn(scores, np.asarray(y))) if self.metric_fn is not None else None
        return loss, metric

    def check_accuracy(self, X, y, batch_size: int | None = None, num_samples: int | None = None) -> float:
        """The metric (accuracy by default) of the model on ``(X, y)``, in evaluation mode.

        Args:
            X: inputs (N, ...); y: targets (N,).
            batch_size: rows per forward pass (default ``eval_batch_size``).
            num_samples: evaluate on a random subset of this many rows (seeded), as CS231n.
        """
        X = as_float_array("X", X)
        y = np.asarray(y)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must have the same number of rows, got X {X.shape} and y {y.shape}")
        if num_samples is not None and num_samples < X.shape[0]:
            idx = np.random.default_rng(self.seed).choice(X.shape[0], num_samples, replace=False)
            X, y = X[idx], y[idx]
        scores = self._outputs(X, batch_size)
        fn = self.metric_fn if self.metric_fn is not None else accuracy
        return float(fn(scores, y))

    def predict(self, X, batch_size: int | None = None) -> np.ndarray:
        """Predictions for ``X`` in evaluation mode.

        With ``metric="accuracy"`` these are class labels (argmax of the scores, or
        ``score > 0`` for a single logit); otherwise the model's raw outputs. Use
        :meth:`predict_scores` for the raw outputs in every case.
        """
        scores = self._outputs(X, batch_size)
        if self.metric == "accuracy":
            if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
                return (scores.reshape(-1) > 0).astype(np.int64)
            return np.argmax(scores, axis=1)
        return scores

    def predict_scores(self, X, batch_size: int | None = None) -> np.ndarray:
        """The model's raw outputs for ``X`` (evaluation mode)."""
        return self._outputs(X, batch_size)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict[str, Any]:
        """Train for ``epochs`` epochs (or until early stopping); returns ``history``.

        Raises:
            TrainingDiverged: the loss or the gradient norm became NaN/inf.
        """
        N = self.X_train.shape[0]
        per_epoch = math.ceil(N / self.batch_size)
        h: dict[str, Any] = {"loss": [], "grad_norm": [], "epoch": [], "train_loss": [], "train_acc": [],
                             "val_acc": [], "val_loss": [], "lr": [], "best_epoch": None,
                             "stopped_early": False, "time": 0.0}
        self.history = h
        monitor_higher = self.metric_fn is not None
        best_value, best_state, since_best = None, None, 0
        train_subset = None
        if self.metric_fn is not None and self.num_train_samples is not None and self.num_train_samples < N:
            train_subset = np.sort(self.rng.choice(N, self.num_train_samples, replace=False))
        last_finite: float | None = None
        git = 0
        start = time.perf_counter()
        bar = progress(total=self.epochs * per_epoch, desc="training", disable=not self.verbose)
        try:
            for epoch in range(1, self.epochs + 1):
                self.model.train()
                lr_used = float(self.optimizer.lr)
                order = self.rng.permutation(N)
                epoch_losses = []
                for it in range(1, per_epoch + 1):
                    git += 1
                    idx = order[(it - 1) * self.batch_size: it * self.batch_size]
                    xb, yb = self.X_train[idx], self.y_train[idx]
                    self.model.zero_grad()
                    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as TrainingDiverged
                        scores = self.model.forward(xb)
                        loss, dscores = self._loss(scores, yb)
                    if not math.isfinite(loss):
                        self._diverged("the loss", loss, epoch, it, git, last_finite)
                    with np.errstate(over="ignore", invalid="ignore"):
                        self.model.backward(dscores)
                        gnorm = self._clip()
                    if not math.isfinite(gnorm):
                        self._diverged("the gradient norm", gnorm, epoch, it, git, loss)
                    self.optimizer.step()
                    last_finite = loss
                    h["loss"].append(loss)
                    h["grad_norm"].append(gnorm)
                    epoch_losses.append(loss)
                    bar.update(1)
                    if it == per_epoch or it % 10 == 0:
                        bar.set_postfix(epoch=epoch, loss=loss)
                h["epoch"].append(epoch)
                h["lr"].append(lr_used)
                h["train_loss"].append(float(np.mean(epoch_losses)))
                if self.metric_fn is not None:
                    Xs, ys = ((self.X_train[train_subset], self.y_train[train_subset]) if train_subset is not None
                              else (self.X_train, self.y_train))
                    h["train_acc"].append(float(self.metric_fn(self._outputs(Xs), ys)))
                line = f"epoch {epoch}/{self.epochs}: train loss {h['train_loss'][-1]:.4f}"
                if h["train_acc"]:
                    line += f", train {self._metric_name()} {h['train_acc'][-1]:.4f}"
                stop = False
                if self.X_val is not None:
                    val_loss, val_metric = self.evaluate(self.X_val, self.y_val)
                    h["val_loss"].append(val_loss)
                    line += f", val loss {val_loss:.4f}"
                    if val_metric is not None:
                        h["val_acc"].append(val_metric)
                        line += f", val {self._metric_name()} {val_metric:.4f}"
                    value = val_metric if monitor_higher else val_loss
                    better = best_value is None or (value > best_value if monitor_higher else value < best_value)
                    if better and math.isfinite(value):
                        best_value, since_best = value, 0
                        h["best_epoch"] = epoch
                        if self.restore_best:
                            best_state = self.model.state_dict()
                    else:
                        since_best += 1
                        if self.early_stopping_patience is not None and since_best >= self.early_stopping_patience:
                            stop = True
                line += f", lr {lr_used:.3g}"
                bar.write(line)
                if self.scheduler is not None:
                    self.scheduler.step()
                if stop:
                    h["stopped_early"] = True
                    bar.write(f"early stopping: no improvement for {since_best} epochs; "
                              f"best epoch {h['best_epoch']}")
                    break
        finally:
            bar.close()
            h["time"] = time.perf_counter() - start
        if self.restore_best and best_state is not None:
            self.model.load_state_dict(best_state)
        return h

    train = fit  # CS231n's Solver calls it train()

    def _metric_name(self) -> str:
        if self.metric == "accuracy":
            return "acc"
        return getattr(self.metric, "__name__", "metric")

    def __repr__(self) -> str:
        return (f"Trainer(model={type(self.model).__name__}, optimizer={self.optimizer!r}, "
                f"batch_size={self.batch_size}, epochs={self.epochs}, seed={self.seed})")


Solver = Trainer


def plot_history(history, ax=None):
    """Plot a training history: loss per iteration (and validation loss per epoch) and the
    metric per epoch (or the learning rate when there is no metric).

    Args:
        history: ``Trainer.history`` (or a Trainer).
        ax: ``None`` (a new figure with two panels), one Axes (loss only), or two Axes.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt  # lazily: importing the Trainer must not need a display

    if hasattr(history, "history") and not isinstance(history, Mapping):
        history = history.history
    if not isinstance(history, Mapping) or "loss" not in history:
        raise TypeError("plot_history needs a Trainer history dict (with a 'loss' list)")
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax))
        fig = axes[0].figure
    else:
        axes = [ax]
        fig = ax.figure
    loss = np.asarray(history["loss"], dtype=float)
    a0 = axes[0]
    a0.plot(np.arange(1, loss.size + 1), loss, lw=0.8, alpha=0.7, label="train (per iteration)")
    epochs = np.asarray(history.get("epoch", []))
    if epochs.size and loss.size:
        per_epoch = loss.size / epochs.size
        if history.get("val_loss"):
            a0.plot(epochs * per_epoch, history["val_loss"], "o-", label="val (per epoch)")
    a0.set_xlabel("iteration")
    a0.set_ylabel("loss")
    a0.set_title("loss")
    a0.legend()
    if len(axes) > 1:
        a1 = axes[1]
        if history.get("train_acc"):
            a1.plot(epochs, history["train_acc"], "o-", label="train")
            if history.get("val_acc"):
                a1.plot(epochs, history["val_acc"], "o-", label="val")
            if history.get("best_epoch"):
                a1.axvline(history["best_epoch"], color="grey", ls="--", lw=1, label="best epoch")
            a1.set_ylabel("metric")
            a1.set_title("metric per epoch")
            a1.legend()
        else:
            a1.plot(epochs, history.get("lr", []), "o-")
            a1.set_ylabel("learning rate")
            a1.set_title("learning rate per epoch")
        a1.set_xlabel("epoch")
    fig.tight_layout()
    return fig
