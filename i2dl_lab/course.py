"""Where the course's files are: in an installed wheel, or in a source checkout.

Two artifacts hold the course. A **source checkout** (instructors) has the solution notebooks
in ``labs/`` and the shipped data in ``data/``. The **wheel and sdist** (students) carry the
student release inside the package, written by the build (``setup.py``)::

    i2dl_lab/_release/labs/NN_topic.ipynb    released notebooks (no solutions, no quiz key)
    i2dl_lab/_release/labs/MANIFEST.json     sha256 and version of each
    i2dl_lab/_release/data/...               the files the labs load (pretrained checkpoint)

Code asks this module, never a hard-coded path: :func:`data_file` for a shipped file,
:func:`release_labs` for the student notebooks (made on demand in a checkout).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

RELEASE_DIR = "_release"
#: the files of ``data/`` that the release carries (the labs load them at run time)
SHIPPED_DATA = ("digits_lenet_pretrained.pt",)


def packaged_release() -> Path | None:
    """The release inside the installed package, or None (a source checkout)."""
    root = importlib.resources.files("i2dl_lab").joinpath(RELEASE_DIR)
    return Path(str(root)) if root.is_dir() else None


def checkout_root() -> Path | None:
    """The source checkout this package is imported from (it has ``labs/`` and ``pyproject.toml``)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "labs").is_dir() and (root / "pyproject.toml").is_file() else None


def data_file(name: str) -> Path:
    """A shipped data file: from the package's release when installed, else the checkout's ``data/``."""
    packaged = packaged_release()
    candidates = [packaged / "data" / name] if packaged else []
    root = checkout_root()
    if root:
        candidates.append(root / "data" / name)
    for path in candidates:
        if path.is_file():
            return path
    # the path a caller would expect, so that its own "is missing" message names something real
    return candidates[0] if candidates else Path("data") / name


def release_labs(rebuild: bool = False) -> Path:
    """The folder of released (student) notebooks.

    Installed: the package's ``_release/labs``. In a checkout: ``build/release/labs``, released
    from ``labs/`` now if it is missing, older than a solution notebook, or ``rebuild``.
    """
    packaged = packaged_release()
    if packaged and not rebuild:
        return packaged / "labs"
    root = checkout_root()
    if root is None:
        raise FileNotFoundError("this installation of i2dl-lab carries no student release (i2dl_lab/_release) "
                                "and is not a source checkout; reinstall it from the wheel")
    from .grading.release import release

    out = root / "build" / "release" / "labs"
    sources = sorted((root / "labs").glob("[0-9][0-9]_*.ipynb"))
    manifest = out / "MANIFEST.json"
    stale = (rebuild or not manifest.exists()
             or any(not (out / s.name).exists() or s.stat().st_mtime > manifest.stat().st_mtime for s in sources)
             or {p.name for p in out.glob("[0-9][0-9]_*.ipynb")} != {s.name for s in sources})
    if stale:
        if out.exists():
            for old in out.glob("*.ipynb"):
                old.unlink()
        release(root / "labs", out)
    return out
