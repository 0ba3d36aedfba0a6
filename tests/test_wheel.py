"""The student artifacts: a wheel and an sdist built from a clean copy of the tracked files.

They must hold the released notebooks, the manifest and the data the labs load, and nothing
an instructor keeps back: no solution line, no quiz key, no hidden-test material, no
solution notebooks. Built offline (``--no-build-isolation``: the build step needs only the
standard library and the setuptools already installed).
"""

import ast
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from i2dl_lab.grading.release import BEGIN_HIDDEN, BEGIN_SOLUTION, END_SOLUTION

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted(p.name for p in (ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.slow


def _solution_lines(name: str) -> set[str]:
    """The non-trivial lines inside the solution blocks of one solution notebook that appear
    nowhere outside them (a line such as ``return out`` may be public as well)."""
    inside_lines, outside_lines = set(), set()
    nb = json.loads((ROOT / "labs" / name).read_text())
    for cell in nb["cells"]:
        inside = False
        for ln in "".join(cell["source"]).split("\n"):
            if BEGIN_SOLUTION in ln:
                inside = True
            elif END_SOLUTION in ln:
                inside = False
            elif len(ln.strip()) > 25:
                (inside_lines if inside else outside_lines).add(ln.strip())
    return inside_lines - outside_lines


def _quiz_keys() -> dict:
    """The quiz cell of every solution notebook (each lab has one)."""
    keys = {}
    for name in LABS:
        nb = json.loads((ROOT / "labs" / name).read_text())
        for cell in nb["cells"]:
            if (cell.get("metadata", {}).get("i2dl") or {}).get("quiz"):
                keys[name] = "".join(cell["source"])
    return keys


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("artifacts")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((ROOT / f).read_bytes())
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "Warning" not in build.stdout + build.stderr, build.stdout + build.stderr
    sdist = subprocess.run([sys.executable, "-c", f"from setuptools import build_meta as b; "
                            f"print(b.build_sdist({str(tmp / 'dist')!r}))"], cwd=src, capture_output=True, text=True)
    assert sdist.returncode == 0, sdist.stderr
    (wheel,) = (tmp / "dist").glob("*.whl")
    (tarball,) = (tmp / "dist").glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        wheel_files = {n: zf.read(n) for n in zf.namelist()}
    with tarfile.open(tarball) as tf:
        sdist_files = {m.name.split("/", 1)[1]: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    return {"wheel": wheel_files, "sdist": sdist_files}


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_artifact_holds_the_release_and_the_data(artifacts, kind):
    files = artifacts[kind]
    released = {Path(n).name for n in files if "i2dl_lab/_release/labs/" in n and n.endswith(".ipynb")}
    assert released == set(LABS)
    assert any(n.endswith("i2dl_lab/_release/labs/MANIFEST.json") for n in files)
    (ckpt,) = [data for n, data in files.items() if n.endswith("_release/data/digits_lenet_pretrained.pt")]
    assert ckpt == (ROOT / "data" / "digits_lenet_pretrained.pt").read_bytes()
    assert not any(n.startswith(("labs/", "tests/")) for n in files)  # no solution notebooks, no test keys


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_artifact_has_no_solution_line_quiz_key_or_hidden_tests(artifacts, kind):
    secrets = {name: _solution_lines(name) for name in LABS}
    assert sum(len(v) for v in secrets.values()) > 50  # the check has something to find
    keys = _quiz_keys()
    assert len(keys) == len(LABS)
    notebooks = {n: d for n, d in artifacts[kind].items() if n.endswith(".ipynb")}
    assert len(notebooks) == len(LABS)
    # the library is the reference by design, so solution lines are looked for in the notebooks
    for name, data in notebooks.items():
        text = data.decode("utf-8")
        assert BEGIN_SOLUTION not in text and BEGIN_HIDDEN not in text, name
        nb = json.loads(text)
        assert nb["metadata"]["i2dl"]["kind"] == "student", name
        sources = {ln.strip() for c in nb["cells"] for ln in "".join(c["source"]).split("\n")}
        secret = secrets[Path(name).name]
        assert not secret & sources, (name, sorted(secret & sources)[:3])
        quiz = [c for c in nb["cells"] if (c["metadata"].get("i2dl") or {}).get("quiz")]
        assert len(quiz) == 1, name
        tree = ast.parse("".join(quiz[0]["source"]))
        answers = next(ast.literal_eval(s.value) for s in tree.body if isinstance(s, ast.Assign))
        assert answers and all(v in (None, "") for v in answers.values()), (name, answers)


def test_wheel_metadata_license_and_version(artifacts):
    files = artifacts["wheel"]
    meta = next(data for n, data in files.items() if n.endswith(".dist-info/METADATA")).decode()
    from i2dl_lab import __version__

    assert f"Version: {__version__}\n" in meta and "License-Expression: MIT" in meta
    assert "Requires-Python: >=3.11" in meta and "Provides-Extra: dask" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in files)
