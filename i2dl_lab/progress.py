"""Progress bars that stay readable in a terminal, in JupyterLab and under papermill/CI.

Interactive sessions get a live tqdm bar. Where a bar would only fill a log with carriage
returns (papermill, CI, output redirected to a file) the same call prints a plain line every
``every`` percent instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def plain_output() -> bool:
    """True when progress should be plain lines rather than a redrawn bar.

    That is the case under CI (``CI`` set), when ``I2DL_PLAIN_PROGRESS`` is set (``i2dl-lab
    run`` sets it for the kernels papermill starts) or when stdout is not attached to a
    terminal or a Jupyter kernel.
    """
    if os.environ.get("CI") or os.environ.get("I2DL_PLAIN_PROGRESS"):
        return True
    if "ipykernel" in sys.modules:
        return False
    return not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())


class _PlainBar:
    """A tqdm look-alike that prints ``desc: k/total (p%) postfix`` at a few checkpoints."""

    def __init__(self, iterable=None, total=None, desc="", every=0.25, file=None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total
        self.desc = desc
        self.n = 0
        self.postfix = ""
        self.file = file or sys.stdout
        self._step = max(1, int(round((total or 0) * every))) if total else None
        self._last_printed = 0

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._step and (self.n - self._last_printed >= self._step or self.n == self.total):
            self._print()

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={_fmt(v)}" for k, v in items.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def write(self, msg: str) -> None:
        print(msg, file=self.file, flush=True)

    def _print(self) -> None:
        self._last_printed = self.n
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        tail = f" {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}/{self.total}{pct}{tail}", file=self.file, flush=True)

    def close(self) -> None:
        if self.total is None or self._last_printed != self.n:
            if self.n:
                self._print()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "",
             disable: bool = False, leave: bool = True) -> Iterator[T]:
    """Wrap ``iterable`` (or count to ``total``) with a progress bar suited to the context.

    Args:
        iterable: what to iterate over; ``None`` for a manual bar driven by ``update``.
        total: number of steps when it cannot be read from ``len(iterable)``.
        desc: label printed before the counts.
        disable: no output at all (the iterable is returned untouched).

    Returns:
        An object that iterates like ``iterable`` and has ``update``, ``set_postfix``,
        ``write`` and ``close`` like ``tqdm.tqdm``.

    Example:
        >>> for _ in progress(range(3), desc="epochs", disable=True):
        ...     pass
    """
    if disable:
        return _Silent(iterable)
    if plain_output():
        return _PlainBar(iterable, total=total, desc=desc)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True)


class _Silent(_PlainBar):
    def _print(self) -> None:
        pass

    def write(self, msg: str) -> None:
        pass
