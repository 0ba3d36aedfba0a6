"""The NumPy training loop: minibatches, optimizer steps, schedules, evaluation, early stopping.

:class:`Trainer` (also exported as :data:`Solver`, the CS231n name) runs any
:class:`~i2dl_lab.nn.module.Module` with any loss that follows the library's contract::

    loss, dscores = loss_fn(scores, y)     # e.g. nn.losses.softmax_loss or nn.CrossEntropyLoss()
    model.backward(dscores)                # accumulates into model.grads

and any optimizer from :mod:`i2dl_lab.nn.optim`. A loss that turns NaN or infinite stops
training at once with :class:`~i2dl_lab.loop.TrainingDiverged`, which says where it happened and what to
try, instead of silently training on NaNs.

Example:
    >>> import numpy as np
    >>> from i2dl_lab.nn import Linear, ReLU, Sequential
    >>> from i2dl_lab.nn.losses import softmax_loss
    >>> from i2dl_lab.nn.optim import Adam
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(int)
    >>> model = Sequential(Linear(2, 32, seed=0), ReLU(), Linear(32, 2, seed=1))
    >>> trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), (X, y), epochs=20, progress=False)
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

from .loop import EarlyStopping, History, check_finite
from .nn._checks import as_float_array, check_int, check_positive
from .nn.optim import clip_grad_norm, clip_grad_value
from .progress import progress as _progress

__all__ = ["Trainer", "Solver", "plot_history", "accuracy"]


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


def _check_clip(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be None or a positive number, got {value!r}")
    check_positive(name, float(value))
    return float(value)


class Trainer:
    """Train a Module with minibatch gradient descent and keep a history of the run.

    Each epoch visits the training set once in a fresh random order (drawn from ``seed``):
    for every minibatch it zeroes the gradients, runs ``forward``, the loss, ``backward``,
    optional gradient clipping and ``optimizer.step()``. After the epoch it evaluates
    (``model.eval()``, then back to ``model.train()``), records the history and advances the
    scheduler. The argument names and the history are those of every loop in the course
    (:mod:`i2dl_lab.loop`).

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
        max_grad_norm: rescale the gradients when their global L2 norm exceeds this (None: off).
        max_grad_value: clamp every gradient entry into [-max_grad_value, max_grad_value] (None: off).
        early_stopping: stop after this many epochs without improvement of ``monitor``.
        monitor: the history key that picks the best epoch: default ``"val_accuracy"`` (or
            ``"val_metric"``, ``"val_loss"`` without a metric) with ``val_data``, else
            ``"train_loss"``. Names ending in ``accuracy``/``metric`` are maximised.
        restore_best: load the best epoch's parameters back at the end (default: whenever
            early stopping is on).
        seed: seeds the shuffling (and the subsample used for training accuracy): the same
            seed and the same initial model give an identical history. Layers with their own
            randomness draw from their own generators: seed them too (``Dropout(p, seed=...)``).
        metric: ``"accuracy"``, a callable ``metric(scores, y) -> float`` (higher is better,
            logged as ``train_metric``/``val_metric``), or ``None`` (regression).
        num_train_samples: how many training rows (a fixed random subset) to evaluate the
            training metric on each epoch, as in CS231n's Solver; ``None`` for all.
        eval_batch_size: batch size for evaluation passes.
        time_limit: stop after the epoch in which this many seconds have passed.
        progress: show a progress bar (plain lines under CI/papermill) and a line per epoch.

    Attributes:
        history: after :meth:`fit`, the run's :class:`~i2dl_lab.loop.History`: per iteration
            ``loss`` and ``grad_norm`` (before clipping); per epoch ``epoch``, ``train_loss``
            (mean over the epoch's iterations), ``train_accuracy``, ``val_loss``,
            ``val_accuracy``, ``lr`` (used during the epoch), ``time``; and ``best_epoch``,
            ``best_value``, ``stop_reason``, ``seconds``.
    """

    def __init__(self, model, loss_fn: Callable, optimizer, train_data, val_data=None, batch_size: int = 64,
                 epochs: int = 10, scheduler=None, max_grad_norm: float | None = None,
                 max_grad_value: float | None = None, early_stopping: int | None = None, monitor: str | None = None,
                 restore_best: bool | None = None, seed: int | None = 0,
                 metric: str | Callable | None = "accuracy", num_train_samples: int | None = 1000,
                 eval_batch_size: int = 1000, time_limit: float | None = None, progress: bool = True) -> None:
        self._check_parts(model, loss_fn, optimizer, scheduler)
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.X_train, self.y_train = _check_data("train_data", train_data)
        self.X_val, self.y_val = _check_data("val_data", val_data) if val_data is not None else (None, None)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.epochs = check_int("epochs", epochs, 1)
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.max_grad_norm = _check_clip("max_grad_norm", max_grad_norm)
        self.max_grad_value = _check_clip("max_grad_value", max_grad_value)
        self.metric, self.metric_fn, self.metric_name = metric, *_metric(metric)
        self.monitor = monitor or self._default_monitor()
        if self.monitor.startswith("val_") and val_data is None:
            raise ValueError(f"monitor={self.monitor!r} needs val_data")
        if early_stopping is not None:
            early_stopping = check_int("early_stopping", early_stopping, 1)
        self.early_stopping = early_stopping
        self.restore_best = (early_stopping is not None) if restore_best is None else bool(restore_best)
        if num_train_samples is not None:
            num_train_samples = check_int("num_train_samples", num_train_samples, 1)
        self.num_train_samples = num_train_samples
        self.time_limit = _check_clip("time_limit", time_limit)
        self.seed, self.progress = seed, bool(progress)
        self.rng = np.random.default_rng(seed)
        self.history = History()

    @staticmethod
    def _check_parts(model, loss_fn, optimizer, scheduler) -> None:
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

    def _default_monitor(self) -> str:
        if self.X_val is None:
            return "train_loss"
        return f"val_{self.metric_name}" if self.metric_fn is not None else "val_loss"

    # ------------------------------------------------------------------ one step
    def _loss(self, scores, y):
        out = self.loss_fn(scores, y)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError("loss_fn must return (loss, dscores), e.g. nn.losses.softmax_loss; got "
                            f"{type(out).__name__}")
        loss, dscores = out
        return float(loss), dscores

    def _clip(self) -> float:
        """Clip the gradients as asked; returns their global norm before clipping."""
        grads = self.model.grads
        total = float(math.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
        if self.max_grad_value is not None:
            clip_grad_value(grads, self.max_grad_value)
        if self.max_grad_norm is not None:
            clip_grad_norm(grads, self.max_grad_norm)
        return total

    def _step(self, xb, yb, epoch: int, it: int) -> tuple[float, float]:
        """One minibatch: forward, loss, backward, clipping, update. Returns ``(loss, grad_norm)``."""
        self._iteration += 1
        where = dict(epoch=epoch, iteration=it, global_iteration=self._iteration, lr=float(self.optimizer.lr),
                     history=self.history)
        self.model.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as TrainingDiverged
            loss, dscores = self._loss(self.model.forward(xb), yb)
        check_finite(loss, last_finite_loss=self._last_finite, **where)
        with np.errstate(over="ignore", invalid="ignore"):
            self.model.backward(dscores)
            grad_norm = self._clip()
        check_finite(grad_norm, what="the gradient norm", last_finite_loss=loss, **where)
        self.optimizer.step()
        self._last_finite = loss
        return loss, grad_norm

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
    def fit(self) -> History:
        """Train for ``epochs`` epochs (or until early stopping or the time limit); returns ``history``.

        Raises:
            TrainingDiverged: the loss or the gradient norm became NaN/inf (with the epoch,
                the iteration and a hint; ``err.history`` holds the run so far).
        """
        h = self.history = History(self._keys())
        stopper = EarlyStopping(self.early_stopping, self.monitor)
        self._iteration, self._last_finite, best_state = 0, None, None
        self._train_subset = self._pick_train_subset()
        start = time.perf_counter()
        per_epoch = math.ceil(self.X_train.shape[0] / self.batch_size)
        bar = _progress(total=self.epochs * per_epoch, desc="training", disable=not self.progress)
        try:
            for epoch in range(1, self.epochs + 1):
                lr_used = float(self.optimizer.lr)
                epoch_losses = self._train_epoch(epoch, bar)
                row = self._epoch_row(epoch, epoch_losses, lr_used, start)
                h.log(**row)
                bar.write(self._epoch_line(row))
                if self.scheduler is not None:
                    self.scheduler.step()
                if stopper.update(epoch, row[self.monitor]) and self.restore_best:
                    best_state = self.model.state_dict()
                h.best_epoch, h.best_value = stopper.best_epoch, stopper.best_value
                if stopper.should_stop:
                    h.stop_reason = stopper.reason(epoch)
                elif self.time_limit is not None and row["time"] > self.time_limit:
                    h.stop_reason = f"time limit {self.time_limit:g}s reached after epoch {epoch}"
                if h.stop_reason != "completed":
                    bar.write(h.stop_reason)
                    break
        finally:
            bar.close()
            h.seconds = time.perf_counter() - start
        if self.restore_best and best_state is not None:
            self.model.load_state_dict(best_state)
        return h

    def _keys(self) -> list[str]:
        keys = ["loss", "grad_norm", "epoch", "train_loss"]
        if self.metric_fn is not None:
            keys.append(f"train_{self.metric_name}")
        if self.X_val is not None:
            keys += ["val_loss"] + ([f"val_{self.metric_name}"] if self.metric_fn is not None else [])
        return keys + ["lr", "time"]

    def _pick_train_subset(self) -> np.ndarray | None:
        N = self.X_train.shape[0]
        if self.metric_fn is None or self.num_train_samples is None or self.num_train_samples >= N:
            return None
        return np.sort(self.rng.choice(N, self.num_train_samples, replace=False))

    def _train_epoch(self, epoch: int, bar) -> list[float]:
        """One pass over the training set in a fresh order; returns the iteration losses."""
        self.model.train()
        N = self.X_train.shape[0]
        per_epoch = math.ceil(N / self.batch_size)
        order = self.rng.permutation(N)
        losses = []
        for it in range(1, per_epoch + 1):
            idx = order[(it - 1) * self.batch_size: it * self.batch_size]
            loss, grad_norm = self._step(self.X_train[idx], self.y_train[idx], epoch, it)
            self.history.log(loss=loss, grad_norm=grad_norm)
            losses.append(loss)
            bar.update(1)
            if it == per_epoch or it % 10 == 0:
                bar.set_postfix(epoch=epoch, loss=loss)
        return losses

    def _epoch_row(self, epoch: int, losses: list[float], lr_used: float, start: float) -> dict[str, Any]:
        """The per-epoch history entries: training loss and metric, validation loss and metric."""
        row: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if self.metric_fn is not None:
            sub = self._train_subset
            Xs, ys = (self.X_train[sub], self.y_train[sub]) if sub is not None else (self.X_train, self.y_train)
            row[f"train_{self.metric_name}"] = float(self.metric_fn(self._outputs(Xs), ys))
        if self.X_val is not None:
            val_loss, val_metric = self.evaluate(self.X_val, self.y_val)
            row["val_loss"] = val_loss
            if val_metric is not None:
                row[f"val_{self.metric_name}"] = val_metric
        row["lr"] = lr_used
        row["time"] = time.perf_counter() - start
        return row

    def _epoch_line(self, row: dict[str, Any]) -> str:
        parts = [f"epoch {row['epoch']}/{self.epochs}: train loss {row['train_loss']:.4f}"]
        parts += [f"{key.replace('_', ' ')} {row[key]:.4f}" for key in
                  (f"train_{self.metric_name}", "val_loss", f"val_{self.metric_name}") if key in row]
        return ", ".join(parts + [f"lr {row['lr']:.3g}"])

    train = fit  # CS231n's Solver calls it train()

    def __repr__(self) -> str:
        return (f"Trainer(model={type(self.model).__name__}, optimizer={self.optimizer!r}, "
                f"batch_size={self.batch_size}, epochs={self.epochs}, seed={self.seed})")


Solver = Trainer


def _metric(metric) -> tuple[Callable | None, str]:
    """``(function, name)`` of the ``metric`` argument; the name goes into the history keys."""
    if isinstance(metric, str):
        if metric != "accuracy":
            raise ValueError(f"metric must be 'accuracy', a callable or None, got {metric!r}")
        return accuracy, "accuracy"
    if metric is None:
        return None, "accuracy"
    if callable(metric):
        return metric, "metric"
    raise TypeError(f"metric must be 'accuracy', a callable or None, got {type(metric).__name__}")


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
        name = "accuracy" if history.get("train_accuracy") else "metric"
        if history.get(f"train_{name}"):
            a1.plot(epochs, history[f"train_{name}"], "o-", label="train")
            if history.get(f"val_{name}"):
                a1.plot(epochs, history[f"val_{name}"], "o-", label="val")
            if getattr(history, "best_epoch", None):
                a1.axvline(history.best_epoch, color="grey", ls="--", lw=1, label="best epoch")
            a1.set_ylabel(name)
            a1.set_title("metric per epoch")
            a1.legend()
        else:
            a1.plot(epochs, history.get("lr", []), "o-")
            a1.set_ylabel("learning rate")
            a1.set_title("learning rate per epoch")
        a1.set_xlabel("epoch")
    fig.tight_layout()
    return fig
