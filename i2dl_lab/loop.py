"""The vocabulary every training loop speaks: one history record, early stopping, divergence.

The NumPy :class:`~i2dl_lab.train.Trainer`, the torch :func:`~i2dl_lab.bridge.fit.fit` and
the character-LM loop :func:`~i2dl_lab.sequence.charlm.train_charlm` all

* return a :class:`History`: per iteration ``loss`` and ``grad_norm`` (before clipping);
  per epoch ``epoch``, ``train_loss``, ``lr``, ``time`` (seconds since the start) and, where
  they apply, ``train_accuracy``, ``val_loss``, ``val_accuracy``; the run's ``best_epoch``,
  ``best_value``, ``stop_reason`` and ``seconds`` as attributes;
* stop early with one :class:`EarlyStopping` helper (``early_stopping=patience`` on the
  monitored key, ``monitor="val_loss"`` or ``"val_accuracy"`` ...);
* raise :class:`TrainingDiverged`, carrying the epoch and the iteration, the moment the loss
  (or the gradient norm) stops being finite, with a hint; never a silent NaN run;
* take the same argument names: ``max_grad_norm`` / ``max_grad_value`` (clipping, named
  after what the number is, as ``torch.nn.utils.clip_grad_norm_(max_norm)``), ``progress``
  (what the flag switches: a progress bar), ``early_stopping``, ``monitor``,
  ``restore_best``, ``time_limit`` and ``seed``.

``accuracy`` is spelled out in every key (not ``acc``): the keys are read in notebooks,
and a whole word is what a reader searches for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["History", "EarlyStopping", "TrainingDiverged", "check_finite", "maximize"]

PER_ITERATION = ("loss", "grad_norm")
PER_EPOCH = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "time")


def maximize(monitor: str) -> bool:
    """Whether a larger value of the history key ``monitor`` is better (accuracies, metrics).

    Example:
        >>> maximize("val_accuracy"), maximize("val_loss")
        (True, False)
    """
    return monitor.endswith(("accuracy", "metric"))


class TrainingDiverged(FloatingPointError):
    """The loss (or the gradient norm) became NaN or infinite during training.

    Attributes:
        epoch: 1-based epoch in which it happened.
        iteration: 1-based iteration within that epoch.
        global_iteration: 1-based count of iterations since training started.
        value: the offending loss or gradient norm.
        last_finite_loss: the last finite loss seen (``None`` if there was none).
        history: the :class:`History` recorded up to that point (``None`` if not given).
    """

    def __init__(self, message: str, *, epoch: int, iteration: int, global_iteration: int, value: float,
                 last_finite_loss: float | None, history: History | None = None) -> None:
        super().__init__(message)
        self.epoch, self.iteration, self.global_iteration = epoch, iteration, global_iteration
        self.value, self.last_finite_loss, self.history = value, last_finite_loss, history


def check_finite(value: float, *, epoch: int, iteration: int, global_iteration: int, lr: float,
                 last_finite_loss: float | None, what: str = "the loss", history: History | None = None) -> None:
    """Raise :class:`TrainingDiverged` with the place and a hint when ``value`` is NaN or inf.

    Example:
        >>> check_finite(float("nan"), epoch=2, iteration=5, global_iteration=15, lr=1.0, last_finite_loss=3.2)
        Traceback (most recent call last):
        ...
        i2dl_lab.loop.TrainingDiverged: the loss became nan at epoch 2, iteration 5 of that epoch (iteration 15 \
overall); last finite loss: 3.2. Hint: lower the learning rate (it is 1) or clip the gradients (max_grad_norm=...), \
and check the inputs for NaN/inf and their scaling.
    """
    if math.isfinite(value):
        return
    last = f"{last_finite_loss:.6g}" if last_finite_loss is not None else "none (the very first one was not finite)"
    raise TrainingDiverged(
        f"{what} became {value} at epoch {epoch}, iteration {iteration} of that epoch (iteration "
        f"{global_iteration} overall); last finite loss: {last}. Hint: lower the learning rate (it is {lr:g}) "
        "or clip the gradients (max_grad_norm=...), and check the inputs for NaN/inf and their scaling.",
        epoch=epoch, iteration=iteration, global_iteration=global_iteration, value=value,
        last_finite_loss=last_finite_loss, history=history)


class History(dict):
    """A training run: ``history[key]`` is a list, per iteration or per epoch (module docstring).

    Attributes:
        best_epoch: 1-based epoch with the best monitored value, or ``None``.
        best_value: that value.
        stop_reason: ``"completed"``, ``"early stopping ..."`` or ``"time limit ..."``.
        seconds: wall-clock time of the run.
        device: where it ran (``"cpu"`` for NumPy).

    Example:
        >>> h = History()
        >>> h.log(epoch=1, train_loss=0.9); h.log(epoch=2, train_loss=0.5)
        >>> h["train_loss"], h.last("train_loss"), h.stopped_early
        ([0.9, 0.5], 0.5, False)
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        super().__init__((key, []) for key in keys)  # the keys a loop will log exist from the start
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.stop_reason = "completed"
        self.seconds = 0.0
        self.device = "cpu"

    def log(self, **values) -> None:
        """Append each value to the list of its key."""
        for key, value in values.items():
            self.setdefault(key, []).append(value)

    def last(self, key: str, default=None):
        """The latest value of ``key`` (``default`` when nothing was logged)."""
        values = self.get(key) or []
        return values[-1] if values else default

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason.startswith("early stopping")

    def to_dict(self) -> dict:
        """Plain data (lists and numbers) for JSON or a checkpoint."""
        return {"metrics": {k: list(v) for k, v in self.items()}, "best_epoch": self.best_epoch,
                "best_value": self.best_value, "stop_reason": self.stop_reason, "seconds": self.seconds,
                "device": str(self.device)}

    def plot(self, keys: Iterable[str] | None = None, ax=None):
        """Per-epoch learning curves: losses on the left, accuracies on the right. Returns the figure."""
        import matplotlib.pyplot as plt  # lazily: recording a history must not need a display

        epochs = self.get("epoch", [])
        skip = set(PER_ITERATION) | {"epoch", "lr", "time"}
        keys = list(keys) if keys is not None else [k for k in self if k not in skip]
        loss_keys = [k for k in keys if "loss" in k]
        other = [k for k in keys if k not in loss_keys]
        if ax is None:
            fig, axes = plt.subplots(1, 2 if other else 1, figsize=(10 if other else 5, 3.5), squeeze=False)
            axes = axes[0]
        else:
            axes = [ax, ax]
            fig = ax.figure
        for k in loss_keys:
            axes[0].plot(epochs, self[k], marker=".", label=k)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        for k in other:
            axes[1].plot(epochs, self[k], marker=".", label=k)
        if other:
            axes[1].set_xlabel("epoch")
            axes[1].legend()
        if self.best_epoch is not None:
            axes[0].axvline(self.best_epoch, color="grey", ls=":", lw=1)
        fig.tight_layout()
        return fig


class EarlyStopping:
    """Track the best value of one history key and say when to stop.

    Args:
        patience: stop after this many epochs without improvement (``None``: never stop,
            but still track the best epoch, e.g. to restore its weights).
        monitor: the history key watched; names ending in ``accuracy`` or ``metric`` are
            maximised, the rest minimised.
        min_delta: an improvement must beat the best value by more than this.

    Example:
        >>> stopper = EarlyStopping(patience=2, monitor="val_loss")
        >>> [stopper.update(epoch, v) for epoch, v in enumerate([1.0, 0.8, 0.9, 0.85], start=1)]
        [True, True, False, False]
        >>> stopper.should_stop, stopper.best_epoch, stopper.best_value
        (True, 2, 0.8)
    """

    def __init__(self, patience: int | None, monitor: str, min_delta: float = 0.0) -> None:
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping must be None or a patience >= 1 (epochs), got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience, self.monitor, self.min_delta = patience, monitor, float(min_delta)
        self.higher_is_better = maximize(monitor)
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record the epoch's value; returns whether it is a new best (NaN never is)."""
        value = float(value)
        if self.best_value is None:
            improved = math.isfinite(value)
        elif self.higher_is_better:
            improved = value > self.best_value + self.min_delta
        else:
            improved = value < self.best_value - self.min_delta
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def reason(self, epoch: int) -> str:
        """The ``stop_reason`` text for a stop after ``epoch``."""
        return (f"early stopping at epoch {epoch}: {self.monitor} did not improve for {self.bad_epochs} epochs "
                f"(best {self.best_value:.4g} at epoch {self.best_epoch})")
