"""`release` turns solution notebooks into student notebooks with nothing secret left in them."""

import ast
import json
import re
from pathlib import Path

import pytest

from i2dl_lab.grading.cli import main as cli
from i2dl_lab.grading.notebook import sha256
from i2dl_lab.grading.release import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    ReleaseError,
    release,
    release_notebook,
)

from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout

LABS = Path(__file__).resolve().parents[2] / "labs"


def secret_lines(nb: dict) -> list[str]:
    """Every non-trivial line inside a solution or hidden-test block that appears nowhere else."""
    inside, outside = [], []
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        state = None
        for line in src.split("\n"):
            s = line.strip()
            if s.startswith((BEGIN_SOLUTION, BEGIN_HIDDEN)):
                state = True
            elif s.startswith((END_SOLUTION, END_HIDDEN)):
                state = None
            elif s:
                (inside if state else outside).append(s)
    return [s for s in inside if s not in outside and len(s) > 3]


def all_text(nb: dict) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def lines(text: str) -> set[str]:
    return {ln.strip() for ln in text.split("\n")}


def test_release_removes_solutions_hidden_tests_and_outputs(tmp_path):
    src = D.source_dir(tmp_path)
    manifest = release(src, tmp_path / "out")
    out = json.loads((tmp_path / "out" / "97_demo.ipynb").read_text())
    text = all_text(out)
    solution = json.loads((src / "97_demo.ipynb").read_text())
    leaked = [s for s in secret_lines(solution) if s in lines(text)]
    assert secret_lines(solution) and not leaked
    assert "hidden-test-marker" not in text and "solution-text-marker" not in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert text.count("raise NotImplementedError()") == 4 and "YOUR ANSWER HERE" in text
    code = [c for c in out["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    for c in code:
        ast.parse("\n".join("" if ln.startswith("%") else ln for ln in c["source"].split("\n")))
    quiz = next(c for c in code if c["metadata"].get("i2dl", {}).get("quiz"))
    assert ast.literal_eval(quiz["source"].split("=", 1)[1]) == {"q1": None, "q2": None, "q3": ""}
    meta = out["metadata"]["i2dl"]
    assert meta["lab"] == "97" and meta["kind"] == "student" and meta["version"].endswith(
        sha256((src / "97_demo.ipynb").read_bytes())[:12])
    entry = manifest["files"]["97_demo.ipynb"]
    assert entry["sha256"] == sha256((tmp_path / "out" / "97_demo.ipynb").read_bytes())
    assert json.loads((tmp_path / "out" / "MANIFEST.json").read_text())["files"] == manifest["files"]


def test_released_notebook_runs_to_its_end_and_ends_with_a_status_cell():
    solution = D.notebook(D.solution_cells())
    out, _ = release_notebook(D.dumps(solution), "97")
    # no cell moves (feedback and tests refer to cells by number), the first code cell loads the guard
    assert [c["metadata"].get("i2dl", {}).get("exercise") for c in out["cells"][2:5]] == ["relu", None, "affine"]
    assert out["cells"][1]["source"].split("\n")[1] == "%load_ext i2dl_lab.grading.runall"
    status = out["cells"][-1]
    assert status["metadata"] == {"i2dl": {"status": True}} and status["id"] == "i2dl-status"
    assert "notebook_status('97', ANSWERS, {'q1': 'tf', 'q2': 'tf', 'q3': 'mc'})" in status["source"]


def test_exercise_metadata_survives_release(tmp_path):
    out, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    ids = [c["metadata"]["i2dl"]["exercise"] for c in out["cells"] if "exercise" in c["metadata"].get("i2dl", {})]
    assert ids == ["relu", "affine", "softmax", "scale"]


@pytest.mark.parametrize("source, match", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "without"),
    ("def f():\n    ### END SOLUTION\n", "without"),
    ("x = (\n### BEGIN SOLUTION\n1)\n### END SOLUTION\n", "does not parse"),
])
def test_release_refuses_broken_markers(source, match):
    nb = D.notebook([D._code(source, exercise="f")])
    with pytest.raises(ReleaseError, match=match):
        release_notebook(D.dumps(nb), "97")


def test_cli_release_selects_labs_and_reports_missing(tmp_path, capsys):
    src = D.source_dir(tmp_path)
    assert cli(["release", "97", "--source", str(src), "--out", str(tmp_path / "o")]) == 0
    assert "released 97_demo.ipynb" in capsys.readouterr().out
    with pytest.raises(ReleaseError, match="lab.s. 42"):
        release(src, tmp_path / "o2", ["42"])


REAL = sorted(LABS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_lab_releases_without_leaking(path, tmp_path):
    data = path.read_bytes()
    out, report = release_notebook(data, re.match(r"\d+", path.name).group(0), path.name)
    solution = json.loads(data)
    text = all_text(out)
    # a solution line may be quoted inside prose (a hint); as a line of its own it must be gone
    assert not [s for s in secret_lines(solution) if s in lines(text)]
    assert report["solutions"] >= 1
