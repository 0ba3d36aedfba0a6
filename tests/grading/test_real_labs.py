"""Every lab that has a spec and a solution notebook: the solution scores full marks, its release zero."""

import json
import re
from pathlib import Path

import pytest

from i2dl_lab.grading.grader import grade_bytes, resolve_lab
from i2dl_lab.grading.release import release_notebook

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "i2dl_lab" / "grading" / "specs"


def labs():
    out = []
    for nb in sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb")):
        num = re.match(r"\d+", nb.name).group(0)
        if (SPECS / f"lab{num}.py").exists():
            out.append(pytest.param(num, nb, id=nb.stem))
    return out


@pytest.mark.parametrize("lab, path", labs())
def test_solution_full_marks_and_release_zero(lab, path):
    cfg = resolve_lab(lab, source=REPO / "labs", secret=b"real-lab-check")
    data = path.read_bytes()
    solution = grade_bytes(data, path.name, cfg)
    detail = {e["id"]: (e["points"], e["max_points"], e["message"], e["cases"][:1]) for e in solution["exercises"]}
    assert solution["status"] == "graded", solution["message"]
    assert solution["score"] == solution["max_score"] > 0, detail
    student, _ = release_notebook(data, lab, path.name)
    released = grade_bytes(json.dumps(student).encode(), "released.ipynb", cfg)
    assert released["status"] == "graded" and released["score"] == 0.0, released["exercises"]
