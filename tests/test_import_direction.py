"""The package's layers import downwards only (README, "Architecture").

Every ``import`` in ``i2dl_lab`` (module level or inside a function, absolute or relative)
is resolved to the top-level unit it reaches, and each unit may import only the units its
row below lists. ``nn`` is the library and imports nothing from the course around it;
``grading`` never imports a widget.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import i2dl_lab

ROOT = Path(i2dl_lab.__file__).parent

BASE = {"progress", "report"}
LIBRARY = BASE | {"nn", "data", "gradcheck", "loop"}
TOOLKITS = {"classic", "architecture", "models", "sequence", "train", "least_squares", "recipes", "metrics"}
COURSE = {"course", "workspace"}
# unit -> the units it may import (besides itself and the root package's __version__)
ALLOWED: dict[str, set[str]] = {
    "progress": set(),
    "report": set(),
    "nn": set(),
    "gradcheck": set(),
    "loop": set(),
    "data": BASE,
    **{toolkit: LIBRARY | {"train"} for toolkit in TOOLKITS},
    "course": COURSE | {"grading"},  # course builds a release from a checkout (lazily)
    "workspace": COURSE | {"grading"},
    "bridge": LIBRARY | TOOLKITS | {"course"},
    "widgets": LIBRARY | TOOLKITS | {"bridge"},
    "grading": LIBRARY | TOOLKITS | COURSE | {"bridge"},
    "runner": BASE | COURSE | {"grading"},
    "cli": LIBRARY | TOOLKITS | COURSE | {"bridge", "grading", "runner"},
}


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def imported_modules(source: str, module: str, is_pkg: bool) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``source``, relative ones made absolute."""
    package = module if is_pkg else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from pkg import name`` may import a submodule ``pkg.name``: record both
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
    return out


def unit_of(dotted: str) -> str | None:
    """The top-level unit of ``i2dl_lab`` a dotted name lies in (None outside the package)."""
    parts = dotted.split(".")
    if parts[0] != "i2dl_lab":
        return None
    if len(parts) == 1:
        return "i2dl_lab"
    name = parts[1]
    if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file():
        return name
    return "i2dl_lab"  # a name defined in i2dl_lab/__init__.py (the version)


def violations(source: str, module: str, is_pkg: bool = False) -> list[str]:
    own = unit_of(module)
    found = {}
    for line, target in imported_modules(source, module, is_pkg):
        unit = unit_of(target)
        if unit in (None, own, "i2dl_lab") or unit in ALLOWED[own]:
            continue
        found.setdefault((line, unit), f"{module}:{line} imports {target} ({own} may import only "
                                       f"{sorted(ALLOWED[own])})")
    return list(found.values())


def _units() -> set[str]:
    return {p.stem for p in ROOT.iterdir() if (p.suffix == ".py" and p.stem != "__init__")
            or (p.is_dir() and (p / "__init__.py").is_file())}


def test_every_unit_has_a_row():
    assert _units() == set(ALLOWED), "add the new unit to ALLOWED and to the README's architecture table"


def test_imports_point_downwards():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module, is_pkg = _module_name(path)
        found += violations(path.read_text(encoding="utf-8"), module, is_pkg)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("module, is_pkg, source", [
    ("i2dl_lab.nn.layers", False, "from ..bridge import to_torch\n"),
    ("i2dl_lab.nn.functional.core", False, "def f():\n    from ...widgets import lab01\n"),
    ("i2dl_lab.nn", True, "import i2dl_lab.grading.spec\n"),
    ("i2dl_lab.nn.optim", False, "from i2dl_lab import train\n"),
    ("i2dl_lab.nn.module", False, "from .. import classic\n"),
    ("i2dl_lab.grading.specs.lab01", False, "from ...widgets.lab01 import plot_gd_fit\n"),
    ("i2dl_lab.grading", True, "from i2dl_lab.widgets import lab06\n"),
])
def test_a_forbidden_import_is_reported(module, is_pkg, source):
    assert len(violations(source, module, is_pkg)) == 1


@pytest.mark.parametrize("module, is_pkg, source", [
    ("i2dl_lab.nn.layers", False, "from .module import Module\nfrom . import functional as F\n"),
    ("i2dl_lab.grading.specs.lab01", False, "from ...classic import gd_fit\nfrom ..spec import Exercise\n"),
    ("i2dl_lab.widgets.lab10", False, "from ..sequence.gradient_flow import rnn_gradient_norms\n"),
    ("i2dl_lab.cli", False, "from . import __version__\nimport numpy\n"),
])
def test_an_allowed_import_passes(module, is_pkg, source):
    assert violations(source, module, is_pkg) == []
