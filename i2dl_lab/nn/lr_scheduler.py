"""Learning-rate schedules, as functions of the epoch and as schedulers driving an optimizer.

Each schedule exists twice:

* a plain function ``lr = schedule(epoch, base_lr, ...)`` (vectorised over ``epoch`` when
  it is an array), handy for plotting a schedule before training with it;
* a scheduler class, used like ``torch.optim.lr_scheduler``: construct it on an optimizer
  (it reads ``optimizer.lr`` as the base rate and sets the epoch-0 rate), then call
  ``sched.step()`` once per epoch, *after* that epoch's optimizer steps. ``sched.step()``
  writes the new rate into ``optimizer.lr``.

The values equal torch's schedulers of the same name (``tests/nn/test_lr_scheduler.py``
compares 30 epochs). :class:`InverseTimeLR` is the lecture's ``lr0 / (1 + decay * epoch)``
(torch has it only as a ``LambdaLR``).

Example:
    >>> import numpy as np
    >>> step_lr(np.arange(6), base_lr=0.1, step_size=2, gamma=0.5)
    array([0.1  , 0.1  , 0.05 , 0.05 , 0.025, 0.025])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_int, check_positive

__all__ = [
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "InverseTimeLR",
    "step_lr",
    "exponential_lr",
    "cosine_lr",
    "inverse_time_lr",
]


def _check_epoch(epoch):
    e = np.asarray(epoch)
    if not (np.issubdtype(e.dtype, np.integer) or np.issubdtype(e.dtype, np.floating)):
        raise TypeError(f"epoch must be a number or an array of numbers, got dtype {e.dtype}")
    if e.size and np.min(e) < 0:
        raise ValueError(f"epoch must be >= 0, got minimum {np.min(e)}")
    return e


def _out(values, epoch):
    return float(values) if np.ndim(epoch) == 0 else values


# ---------------------------------------------------------------------------- plain functions
def step_lr(epoch, base_lr: float, step_size: int, gamma: float = 0.1):
    """Step decay: multiply the rate by ``gamma`` every ``step_size`` epochs.

    ``lr(e) = base_lr * gamma ** floor(e / step_size)``; same as ``torch``'s ``StepLR``.

    Args:
        epoch: int or array of ints (>= 0).
        base_lr: rate at epoch 0 (> 0).
        step_size: epochs between decays (int >= 1).
        gamma: decay factor (> 0).

    Returns:
        float (scalar epoch) or array shaped like ``epoch``.
    """
    check_positive("base_lr", base_lr)
    step_size = check_int("step_size", step_size, 1)
    check_positive("gamma", gamma)
    e = _check_epoch(epoch)
    return _out(base_lr * gamma ** np.floor_divide(e, step_size), epoch)


def exponential_lr(epoch, base_lr: float, gamma: float):
    """Exponential decay ``lr(e) = base_lr * gamma ** e`` (torch's ``ExponentialLR``).

    Args:
        epoch: number or array (>= 0).
        base_lr: rate at epoch 0 (> 0).
        gamma: factor per epoch (> 0; < 1 decays).
    """
    check_positive("base_lr", base_lr)
    check_positive("gamma", gamma)
    e = _check_epoch(epoch)
    return _out(base_lr * gamma ** e.astype(np.float64), epoch)


def inverse_time_lr(epoch, base_lr: float, decay_rate: float):
    """The lecture's decay ``lr(e) = base_lr / (1 + decay_rate * e)``.

    Args:
        epoch: number or array (>= 0).
        base_lr: rate at epoch 0 (> 0).
        decay_rate: >= 0; 0 keeps the rate constant.

    Returns:
        float (scalar epoch) or array shaped like ``epoch``.

    Example:
        >>> inverse_time_lr(np.arange(4), base_lr=0.1, decay_rate=1.0)
        array([0.1       , 0.05      , 0.03333333, 0.025     ])
    """
    check_positive("base_lr", base_lr)
    if not np.isscalar(decay_rate) or decay_rate < 0:
        raise ValueError(f"decay_rate must be a non-negative number, got {decay_rate!r}")
    e = _check_epoch(epoch)
    return _out(base_lr / (1.0 + decay_rate * e.astype(np.float64)), epoch)


def cosine_lr(epoch, base_lr: float, T_max: int, eta_min: float = 0.0, warmup_epochs: int = 0,
              warmup_start_lr: float = 0.0):
    """Cosine annealing from ``base_lr`` down to ``eta_min`` at epoch ``T_max``, optional warmup.

    Without warmup (torch's ``CosineAnnealingLR``)::

        lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2

    With ``warmup_epochs = W > 0`` the rate first rises linearly from ``warmup_start_lr``
    (epoch 0) to ``base_lr`` (epoch ``W``), then follows the cosine over the remaining
    ``T_max - W`` epochs, reaching ``eta_min`` at epoch ``T_max``. Past ``T_max`` the cosine
    continues (it rises again), as in torch.

    Args:
        epoch: number or array (>= 0).
        base_lr: peak rate (> 0).
        T_max: epoch at which the rate reaches ``eta_min`` (int >= 1).
        eta_min: floor of the schedule (>= 0).
        warmup_epochs: length of the linear warmup (int in [0, T_max)).
        warmup_start_lr: rate at epoch 0 when warming up (>= 0).
    """
    check_positive("base_lr", base_lr)
    T_max = check_int("T_max", T_max, 1)
    warmup_epochs = check_int("warmup_epochs", warmup_epochs, 0)
    if warmup_epochs >= T_max:
        raise ValueError(f"warmup_epochs must be smaller than T_max={T_max}, got {warmup_epochs}")
    if not np.isscalar(eta_min) or eta_min < 0:
        raise ValueError(f"eta_min must be a non-negative number, got {eta_min!r}")
    if not np.isscalar(warmup_start_lr) or warmup_start_lr < 0:
        raise ValueError(f"warmup_start_lr must be a non-negative number, got {warmup_start_lr!r}")
    e = _check_epoch(epoch).astype(np.float64)
    W = warmup_epochs
    cos_phase = eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * (e - W) / (T_max - W))) / 2
    if W:
        warm = warmup_start_lr + (base_lr - warmup_start_lr) * e / W
        cos_phase = np.where(e < W, warm, cos_phase)
    return _out(cos_phase, epoch)


# ---------------------------------------------------------------------------- scheduler classes
class LRScheduler:
    """Base class: ``step()`` advances the epoch and writes :meth:`lr_at` into the optimizer.

    Args:
        optimizer: anything with a float ``lr`` attribute (every class in ``optim``), or
            ``None`` to use the scheduler only as a function (then give ``base_lr``).
        base_lr: rate at epoch 0; defaults to ``optimizer.lr``.

    Attributes:
        last_epoch: the epoch whose rate is current (0 right after construction).
        last_lr: that rate.
    """

    def __init__(self, optimizer=None, base_lr: float | None = None) -> None:
        if optimizer is None and base_lr is None:
            raise TypeError("a scheduler needs an optimizer (with an lr attribute) or base_lr")
        if optimizer is not None and not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have an 'lr' attribute, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr if base_lr is None else base_lr)
        check_positive("base_lr", self.base_lr)
        self.last_epoch = -1
        self.last_lr = self.base_lr
        self.step()

    def lr_at(self, epoch):
        """Rate at ``epoch`` (number or array); does not change any state."""
        raise NotImplementedError  # pragma: no cover

    def __call__(self, epoch):
        return self.lr_at(epoch)

    def step(self) -> float:
        """Advance one epoch, set ``optimizer.lr`` and return the new rate."""
        self.last_epoch += 1
        self.last_lr = float(self.lr_at(self.last_epoch))
        if self.optimizer is not None:
            self.optimizer.lr = self.last_lr
        return self.last_lr

    def get_last_lr(self) -> list[float]:
        """The current rate in a one-element list, as ``torch`` returns one per group."""
        return [self.last_lr]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def extra_repr(self) -> str:
        return f"base_lr={self.base_lr:g}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (see :func:`step_lr`)."""

    def __init__(self, optimizer=None, step_size: int = 10, gamma: float = 0.1, base_lr: float | None = None):
        self.step_size = check_int("step_size", step_size, 1)
        check_positive("gamma", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer, base_lr)

    def lr_at(self, epoch):
        return step_lr(epoch, self.base_lr, self.step_size, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, step_size={self.step_size}, gamma={self.gamma:g}"


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch (see :func:`exponential_lr`)."""

    def __init__(self, optimizer=None, gamma: float = 0.9, base_lr: float | None = None):
        check_positive("gamma", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer, base_lr)

    def lr_at(self, epoch):
        return exponential_lr(epoch, self.base_lr, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma:g}"


class InverseTimeLR(LRScheduler):
    """``lr0 / (1 + decay_rate * epoch)`` (see :func:`inverse_time_lr`)."""

    def __init__(self, optimizer=None, decay_rate: float = 1.0, base_lr: float | None = None):
        if not np.isscalar(decay_rate) or decay_rate < 0:
            raise ValueError(f"decay_rate must be a non-negative number, got {decay_rate!r}")
        self.decay_rate = float(decay_rate)
        super().__init__(optimizer, base_lr)

    def lr_at(self, epoch):
        return inverse_time_lr(epoch, self.base_lr, self.decay_rate)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay_rate={self.decay_rate:g}"


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing to ``eta_min`` at ``T_max``, optional linear warmup (see :func:`cosine_lr`)."""

    def __init__(self, optimizer=None, T_max: int = 10, eta_min: float = 0.0, warmup_epochs: int = 0,
                 warmup_start_lr: float = 0.0, base_lr: float | None = None):
        self.T_max = check_int("T_max", T_max, 1)
        self.warmup_epochs = check_int("warmup_epochs", warmup_epochs, 0)
        if self.warmup_epochs >= self.T_max:
            raise ValueError(f"warmup_epochs must be smaller than T_max={T_max}, got {warmup_epochs}")
        self.eta_min, self.warmup_start_lr = float(eta_min), float(warmup_start_lr)
        super().__init__(optimizer, base_lr)  # its first step() validates eta_min and warmup_start_lr

    def lr_at(self, epoch):
        return cosine_lr(epoch, self.base_lr, self.T_max, self.eta_min, self.warmup_epochs, self.warmup_start_lr)

    def extra_repr(self) -> str:
        warm = f", warmup_epochs={self.warmup_epochs}" if self.warmup_epochs else ""
        return f"{super().extra_repr()}, T_max={self.T_max}, eta_min={self.eta_min:g}{warm}"

