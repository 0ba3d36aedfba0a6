"""How a lab reports its headline result to the course runner.

A lab calls :func:`headline` once for the number that matters (a test accuracy, a final
loss), with the baseline it must beat, computed in the same notebook. It prints a line
``[headline] NAME: VALUE | baseline BNAME: BVALUE`` that ``i2dl-lab run`` reads from the
executed notebook and shows in its summary table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "[headline]"
_LINE = re.compile(
    r"^\[headline\] (?P<name>[^:|]+): (?P<value>[^|\n]+?)"
    r"(?: \| baseline (?P<bname>[^:|]+): (?P<bvalue>[^|\n]+?))?[ \t]*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Headline:
    """One parsed ``[headline]`` line; ``baseline`` is ``(name, value)`` or ``None``."""

    name: str
    value: str
    baseline: tuple[str, str] | None = None

    def __str__(self) -> str:
        text = f"{self.name}: {self.value}"
        if self.baseline is not None:
            text += f" | baseline {self.baseline[0]}: {self.baseline[1]}"
        return text


def _fmt(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else str(value)


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if ":" in name or "|" in name or "\n" in name:
        raise ValueError(f"{what} may not contain ':', '|' or a newline, got {name!r}")


def headline(name: str, value, fmt: str = ".4f", baseline: tuple[str, object] | None = None) -> str:
    """Print and return the headline line for ``name``.

    Args:
        name: what is measured, e.g. ``"digits test accuracy (your CNN)"``.
        value: the measured number (formatted with ``fmt``) or a ready string.
        fmt: format spec for numbers.
        baseline: ``(bname, bvalue)``, the baseline computed in the same notebook that
            the headline is compared with; ``bvalue`` uses ``fmt`` too.

    Example:
        >>> _ = headline("test accuracy", 0.98123, baseline=("kNN (k=1)", 0.95))
        [headline] test accuracy: 0.9812 | baseline kNN (k=1): 0.9500
    """
    _check_name("headline name", name)
    text = f"{PREFIX} {name}: {_fmt(value, fmt)}"
    if baseline is not None:
        if not (isinstance(baseline, tuple) and len(baseline) == 2):
            raise TypeError(f"baseline must be a (name, value) tuple, got {baseline!r}")
        _check_name("baseline name", baseline[0])
        text += f" | baseline {baseline[0]}: {_fmt(baseline[1], fmt)}"
    print(text)
    return text


def find_headlines(text: str) -> list[Headline]:
    """Every :class:`Headline` printed by :func:`headline` in ``text``, in order."""
    found = []
    for m in _LINE.finditer(text):
        base = (m.group("bname").strip(), m.group("bvalue").strip()) if m.group("bname") else None
        found.append(Headline(m.group("name").strip(), m.group("value").strip(), base))
    return found
