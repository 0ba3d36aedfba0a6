"""How a lab reports its headline result to the course runner.

A lab calls :func:`headline` once for the number that matters (a test accuracy, a final
loss). It prints a line ``[headline] <name>: <value>`` that ``i2dl-lab run`` reads from
the executed notebook and shows in its summary table.
"""

from __future__ import annotations

import re

PREFIX = "[headline]"
_LINE = re.compile(r"^\[headline\] (?P<name>[^:]+): (?P<value>.+)$", re.MULTILINE)


def headline(name: str, value: float, fmt: str = ".4f") -> str:
    """Print and return the headline line for ``name``.

    Example:
        >>> _ = headline("test accuracy", 0.98123)
        [headline] test accuracy: 0.9812
    """
    if ":" in name:
        raise ValueError(f"headline name may not contain ':', got {name!r}")
    text = f"{PREFIX} {name}: {format(value, fmt) if isinstance(value, (int, float)) else value}"
    print(text)
    return text


def find_headlines(text: str) -> list[tuple[str, str]]:
    """All ``(name, value)`` pairs printed by :func:`headline` in ``text``."""
    return [(m.group("name"), m.group("value").strip()) for m in _LINE.finditer(text)]
