"""An offline character corpus: the docstrings of Python's own standard library.

Every Python installation carries a few megabytes of English prose about programming in
the docstrings of its standard library, so a character-level language model can be
trained without downloading anything. The corpus is read from the source files with
:mod:`ast` (no module is imported or executed), in a fixed order, so the same Python
installation always yields the same text.

Characters outside printable ASCII are dropped and tabs become four spaces, which keeps
the vocabulary small (about 95 symbols) and the same across Python versions.

Example:
    >>> corpus = CharCorpus(size=2000)
    >>> len(corpus.text), corpus.decode(corpus.encode("def")) == "def"
    (2000, True)
"""

from __future__ import annotations

import ast
import functools
import os
import string
import sysconfig

import numpy as np

__all__ = ["stdlib_docstrings", "CharCorpus", "DEFAULT_MODULES"]

# Public, prose-rich modules first (stable names since 3.8); the rest of the stdlib follows
# in sorted order when a large corpus is asked for.
DEFAULT_MODULES = (
    "textwrap", "string", "functools", "collections", "argparse", "random", "statistics", "fractions",
    "heapq", "bisect", "inspect", "typing", "dataclasses", "json", "calendar", "shutil", "tempfile",
    "logging", "difflib", "pprint", "subprocess", "threading", "tarfile", "configparser", "optparse",
    "pydoc", "pickle", "csv", "gettext", "locale", "unittest", "email", "http", "urllib", "xml",
)

_ALLOWED = frozenset(string.printable) - {"\r", "\x0b", "\x0c"}
_SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo", "__pycache__",
              "ensurepip", "venv", "tkinter"}


def _module_files(stdlib: str, name: str) -> list[str]:
    path = os.path.join(stdlib, *name.split("."))
    if os.path.isfile(path + ".py"):
        return [path + ".py"]
    if os.path.isdir(path):
        found = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".py")]
        return found
    return []


def _all_files(stdlib: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".py")]
    return found


def _docstrings(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= 40:  # one-liners like "Return x." teach little
                docs.append(doc)
    return docs


def _clean(text: str) -> str:
    text = text.replace("\t", "    ")
    return "".join(ch for ch in text if ch in _ALLOWED)


@functools.lru_cache(maxsize=8)
def stdlib_docstrings(size: int = 300_000, stdlib: str | None = None) -> str:
    """The first ``size`` characters of the standard library's docstrings.

    Args:
        size: number of characters wanted (> 0). The text is shorter only if the whole
            standard library has fewer characters of docstrings (several MB: it does not).
        stdlib: directory of the standard library; default is this interpreter's.

    Returns:
        The docstrings, separated by blank lines, cut to ``size`` characters.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"size must be a positive number of characters, got {size!r}")
    stdlib = stdlib or sysconfig.get_paths()["stdlib"]
    if not os.path.isdir(stdlib):
        raise FileNotFoundError(f"standard library directory not found: {stdlib}")
    seen: set[str] = set()
    parts: list[str] = []
    total = 0
    files = [f for m in DEFAULT_MODULES for f in _module_files(stdlib, m)]
    for path in files + _all_files(stdlib):
        if path in seen:
            continue
        seen.add(path)
        for doc in _docstrings(path):
            doc = _clean(doc)
            parts.append(doc)
            total += len(doc) + 2
            if total >= size:
                return "\n\n".join(parts)[:size]
    return "\n\n".join(parts)[:size]


class CharCorpus:
    """The standard-library docstring corpus with its character vocabulary.

    Args:
        size: number of characters (default 300 000, about 0.3 MB).
        text: use this text instead of the standard library (e.g. in tests or for your
            own corpus); ``size`` is then ignored.

    Attributes:
        text: the corpus. vocab: sorted list of its distinct characters (V of them).
        stoi: dict char -> id. ids: the whole text encoded, int64 array of shape (len(text),).

    Example:
        >>> c = CharCorpus(text="abcab")
        >>> c.vocab, c.ids.tolist(), c.decode([2, 0])
        (['a', 'b', 'c'], [0, 1, 2, 0, 1], 'ca')
    """

    def __init__(self, size: int = 300_000, text: str | None = None) -> None:
        self.text = stdlib_docstrings(size) if text is None else str(text)
        if not self.text:
            raise ValueError("the corpus text is empty")
        self.vocab = sorted(set(self.text))
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}
        self.ids = self.encode(self.text)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.text)

    def encode(self, text: str) -> np.ndarray:
        """Characters -> int64 ids; a character outside the vocabulary raises ValueError."""
        try:
            return np.fromiter((self.stoi[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the corpus vocabulary of {self.vocab_size} "
                             f"characters") from None

    def decode(self, ids) -> str:
        """Ids -> text; an id outside [0, V) raises ValueError."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got values in [{ids.min()}, {ids.max()}]")
        return "".join(self.vocab[i] for i in ids)

    def split(self, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the first ``1 - val_fraction`` of the text and of the rest (no shuffling:
        neighbouring characters belong together)."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        cut = int(round(len(self.ids) * (1.0 - val_fraction)))
        return self.ids[:cut], self.ids[cut:]

    def __repr__(self) -> str:
        return f"CharCorpus(chars={len(self.text)}, vocab_size={self.vocab_size})"
