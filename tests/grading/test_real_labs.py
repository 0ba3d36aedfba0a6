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


@pytest.mark.parametrize("lab, path", labs())
def test_one_solved_exercise_scores_exactly_its_points(lab, path):
    cfg = resolve_lab(lab, source=REPO / "labs", secret=b"real-lab-check")
    data = path.read_bytes()
    solution = json.loads(data)
    student, _ = release_notebook(data, lab, path.name)
    first = next(c["metadata"]["i2dl"]["exercise"] for c in solution["cells"]
                 if "exercise" in c.get("metadata", {}).get("i2dl", {}))
    def cells_of(nb):
        return [c for c in nb["cells"] if c.get("metadata", {}).get("i2dl", {}).get("exercise") == first]

    for mine, theirs in zip(cells_of(student), cells_of(solution), strict=True):  # release may drop cells
        mine["source"] = theirs["source"]
    r = grade_bytes(json.dumps(student).encode(), "one.ipynb", cfg)
    pts = {e["id"]: e["points"] for e in r["exercises"]}
    maxes = {e["id"]: e["max_points"] for e in r["exercises"]}
    assert pts[first] == maxes[first] > 0 and r["score"] == maxes[first], pts
