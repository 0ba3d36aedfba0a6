"""Build step: the wheel and the sdist carry the student release, never the solutions.

``pip install .``, ``pip wheel .`` and ``python -m build`` all run this. In a checkout,
``build_py`` releases ``labs/`` (the solution notebooks) into ``i2dl_lab/_release/labs`` of
the build and copies the shipped data beside it; ``sdist`` writes the same release into the
source tree it packs and leaves ``labs/`` out (MANIFEST.in), so a wheel built from the sdist
takes the release as ordinary package data. ``i2dl_lab.course`` finds it at run time.

The release transform is loaded from its files alone: an isolated build environment has
setuptools but not numpy, which importing the ``i2dl_lab`` package would need.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
RELEASE = Path("i2dl_lab", "_release")
SHIPPED_DATA = ("digits_lenet_pretrained.pt",)  # keep in step with i2dl_lab.course.SHIPPED_DATA


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _release_module():
    """``i2dl_lab/grading/release.py`` under a private package name (stdlib imports only)."""
    pkg, sub = "_i2dl_build", "_i2dl_build.grading"
    if sub + ".release" in sys.modules:
        return sys.modules[sub + ".release"]
    init = _load(pkg + "._version", ROOT / "i2dl_lab" / "__init__.py")
    top = types.ModuleType(pkg)
    top.__path__, top.__version__ = [str(ROOT / "i2dl_lab")], init.__version__
    grading = types.ModuleType(sub)
    grading.__path__ = [str(ROOT / "i2dl_lab" / "grading")]
    sys.modules[pkg], sys.modules[sub] = top, grading
    _load(sub + ".notebook", ROOT / "i2dl_lab" / "grading" / "notebook.py")
    return _load(sub + ".release", ROOT / "i2dl_lab" / "grading" / "release.py")


def write_release(target: Path) -> None:
    """Release ``labs/`` into ``target/labs`` and copy the shipped data into ``target/data``."""
    if target.exists():
        shutil.rmtree(target)
    _release_module().release(ROOT / "labs", target / "labs")
    (target / "data").mkdir(parents=True)
    for name in SHIPPED_DATA:
        shutil.copy2(ROOT / "data" / name, target / "data" / name)


class BuildPyWithRelease(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or (ROOT / RELEASE).is_dir():
            return  # editable: the checkout is the course; from an sdist: the release is package data already
        write_release(Path(self.build_lib) / RELEASE)


class SdistWithRelease(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        if not (ROOT / RELEASE).is_dir():
            write_release(Path(base_dir) / RELEASE)


setup(cmdclass={"build_py": BuildPyWithRelease, "sdist": SdistWithRelease})
