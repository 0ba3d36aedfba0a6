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
    detail = {e.id: (e.points, e.max_points, e.message, e.cases[:1]) for e in solution.exercises}
    assert solution.status == "graded", solution.message
    assert solution.score == solution.max_score > 0, detail
    student, _ = release_notebook(data, lab, path.name)
    released = grade_bytes(json.dumps(student).encode(), "released.ipynb", cfg)
    assert released.status == "graded" and released.score == 0.0, released.exercises


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
    pts = {e.id: e.points for e in r.exercises}
    maxes = {e.id: e.max_points for e in r.exercises}
    assert pts[first] == maxes[first] > 0 and r.score == maxes[first], pts


def test_wrapping_a_differently_named_library_function_trips_the_wire():
    """Lab 11's reference calls F.scaled_dot_product_attention_forward (imported lazily); wrapping it scores 0."""
    path = next((REPO / "labs").glob("11_*.ipynb"), None)
    if path is None or not (SPECS / "lab11.py").exists():
        pytest.skip("lab 11 is not in this checkout")
    cfg = resolve_lab("11", source=REPO / "labs", secret=b"real-lab-check")
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("i2dl", {}).get("exercise") == "attention")
    cell["source"] = ("import i2dl_lab.nn.functional as F\n"
                      "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                      "    out, cache = F.scaled_dot_product_attention_forward(q, k, v, attn_mask=mask)\n"
                      "    return out, cache['weights']\n")
    r = grade_bytes(json.dumps(nb).encode(), "wrapper.ipynb", cfg)
    e = next(e for e in r.exercises if e.id == "attention")
    assert e.points == 0.0
    assert e.message == ("your code called the library's reference `scaled_dot_product_attention_forward`; "
                            "graded functions must be your own code (scored 0)")
