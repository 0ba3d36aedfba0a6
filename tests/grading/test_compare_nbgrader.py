"""The lab-03 notebook as benchmarks/compare_nbgrader.py hands it to nbgrader (nbgrader itself is not needed).

The side-by-side benchmark is only a comparison if nbgrader grades what this grader grades:
one autograded test cell per exercise worth the spec's points, whose hidden part scores the
spec's cases the way the grader does (per case, partial credit), and a quiz cell scored with
the exam rules. These tests execute the generated test cells in-process.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from i2dl_lab.grading.spec import QUIZ_RULES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cmp():
    spec = importlib.util.spec_from_file_location("compare_nbgrader", REPO / "benchmarks" / "compare_nbgrader.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lab(cmp):
    return cmp.lab_parts("03")


@pytest.fixture(scope="module")
def source(cmp, lab):
    solution, exercises, key, seeds = lab
    return cmp.to_nbgrader(json.loads(solution.read_text()), "03", exercises, key, seeds)


def _nbgrader(cell) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def _run_cell(source: str, ns: dict):
    """Execute a cell's code in ``ns`` and return its last expression's value, as a kernel would display it."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), ns)  # noqa: S102 - the benchmark's own generated test cell
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns) if last else None  # noqa: S307


def _solutions(solution_nb) -> dict:
    ns: dict = {"np": np}
    for c in solution_nb["cells"]:
        if "exercise" in ((c.get("metadata") or {}).get("i2dl") or {}):
            exec(c["source"] if isinstance(c["source"], str) else "".join(c["source"]), ns)  # noqa: S102
    return ns


def test_every_exercise_has_its_test_cell_with_the_specs_points(source, lab):
    _, exercises, key, _ = lab
    cells = source["cells"]
    graded = [(i, _nbgrader(c)) for i, c in enumerate(cells) if _nbgrader(c)]
    answers = {m["grade_id"]: i for i, m in graded if m["solution"]}
    tests = {m["grade_id"]: (i, m) for i, m in graded if m["grade"]}
    assert set(answers) == {ex.id for ex in exercises} | {"quiz"}
    assert set(tests) == {f"test_{ex.id}" for ex in exercises} | {"test_quiz"}
    for ex in exercises:
        i, meta = tests[f"test_{ex.id}"]
        assert i == answers[ex.id] + 1, f"the test of {ex.id} must follow its answer cell"
        assert meta["points"] == float(ex.points) and meta["locked"] and not meta["solution"]
        assert cells[answers[ex.id]]["metadata"]["i2dl"]["exercise"] == ex.id
    assert tests["test_quiz"][1]["points"] == QUIZ_RULES.max_points(key)
    total = sum(m["points"] for _, m in tests.values())
    assert total == sum(ex.points for ex in exercises) + QUIZ_RULES.max_points(key)
    ids = [c.get("id") for c in cells]
    assert len(ids) == len(set(ids)), "cell ids must stay unique"


def test_a_correct_notebook_earns_every_point_and_wrong_answers_none(source, lab):
    solution, exercises, _, _ = lab
    ns = _solutions(json.loads(solution.read_text()))
    by_id = {_nbgrader(c)["grade_id"]: "".join(c["source"]) for c in source["cells"] if _nbgrader(c).get("grade")}
    for ex in exercises:
        src = by_id[f"test_{ex.id}"]
        assert "### BEGIN HIDDEN TESTS" in src and "### END HIDDEN TESTS" in src
        assert _run_cell(src, dict(ns)) == pytest.approx(float(ex.points))
        wrong = dict(ns)
        wrong[ex.function] = lambda *args: None
        assert _run_cell(src, wrong) == 0.0


def test_partial_credit_is_per_case_as_in_the_grader(source, lab):
    """A ReLU that is right only on 2-D inputs passes one of the three hidden cases: 1/3 of a point."""
    solution, exercises, _, seeds = lab
    relu = next(ex for ex in exercises if ex.id == "relu_forward")
    cases = relu.cases(np.random.default_rng(seeds["relu_forward"]))
    assert sorted(np.ndim(c[0]) for c in cases) == [1, 2, 3]
    ns = _solutions(json.loads(solution.read_text()))

    def relu_2d_only(x):
        if x.ndim != 2:
            raise ValueError("only 2-D")
        return np.maximum(x, 0), x

    ns["relu_forward"] = relu_2d_only
    src = next("".join(c["source"]) for c in source["cells"] if _nbgrader(c).get("grade_id") == "test_relu_forward")
    assert _run_cell(src, ns) == pytest.approx(1 / 3)


def test_the_quiz_cell_scores_with_the_exam_rules_and_never_below_zero(source, lab):
    _, _, key, _ = lab
    src = next("".join(c["source"]) for c in source["cells"] if _nbgrader(c).get("grade_id") == "test_quiz")
    assert _run_cell(src, {"ANSWERS": dict(key)}) == QUIZ_RULES.max_points(key)
    assert _run_cell(src, {"ANSWERS": {q: None for q in key}}) == 0.0
    one_wrong = {q: (not v if isinstance(v, bool) else None) for q, v in key.items()}
    assert sum(QUIZ_RULES.score(one_wrong, key).values()) < 0  # the exam's rules would go negative
    assert _run_cell(src, {"ANSWERS": one_wrong}) == 0.0  # nbgrader reads a negative as full marks


def test_a_student_copy_takes_nbgraders_released_test_cells(cmp, lab):
    """With a release, test cells and metadata come from it verbatim; the student's own cells stay theirs."""
    solution, exercises, key, seeds = lab
    nb = json.loads(solution.read_text())
    release = {f"test_{ex.id}": {"cell_type": "code", "id": f"t{i}", "metadata": {"nbgrader": {
        "grade": True, "grade_id": f"test_{ex.id}", "points": float(ex.points), "checksum": f"c{i}"}},
        "outputs": [], "source": "# released"} for i, ex in enumerate(exercises)}
    release.update({ex.id: {"metadata": {"nbgrader": {"grade_id": ex.id, "solution": True, "checksum": "s"}}}
                    for ex in exercises})
    release["quiz"] = {"metadata": {"nbgrader": {"grade_id": "quiz", "solution": True}}}
    release["test_quiz"] = {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "test_quiz", "grade": True}},
                            "source": "# released quiz", "outputs": []}
    out = cmp.to_nbgrader(nb, "03", exercises, key, seeds, release)
    tests = [c for c in out["cells"] if _nbgrader(c).get("grade")]
    assert [c["source"] for c in tests] == ["# released"] * len(exercises) + ["# released quiz"]
    mine = {c["metadata"]["i2dl"]["exercise"]: c for c in out["cells"] if "exercise" in c["metadata"].get("i2dl", {})}
    orig = {c["metadata"]["i2dl"]["exercise"]: c for c in nb["cells"] if "exercise" in c["metadata"].get("i2dl", {})}
    for ex_id, c in mine.items():
        assert c["source"] == orig[ex_id]["source"] and c["metadata"]["nbgrader"]["checksum"] == "s"


def test_graded_cells_only_keeps_what_the_grader_runs(cmp, lab):
    solution, exercises, _, _ = lab
    cut = cmp.graded_cells_only(json.loads(solution.read_text()), exercises)
    sources = ["".join(c["source"]) for c in cut["cells"]]
    kinds = [((c.get("metadata") or {}).get("i2dl") or {}) for c in cut["cells"]]
    assert sorted(k["exercise"] for k in kinds if "exercise" in k) == sorted(ex.id for ex in exercises)
    assert sum(k.get("quiz") is True for k in kinds) == 1
    assert sources[0].strip() == "import numpy as np"  # the only import line the exercise cells use
    assert not any("self_check(" in s or "make_spirals" in s for s in sources)


def test_the_comparison_names_every_student_whose_points_differ(cmp, capsys):
    """A failed nbgrader run counts 0, like a rejected notebook; any other gap is reported, however small."""
    ours = {"rows": {
        "a": {"score": 5.0, "status": "graded", "exercises": {"relu_forward": 1.0, "quiz": 4.0}},
        "b": {"score": 5.0, "status": "graded", "exercises": {"relu_forward": 1.0, "quiz": 4.0}},
        "c": {"score": 0.0, "status": "rejected", "exercises": {"relu_forward": 0.0, "quiz": 0.0}},
        "d": {"score": 1.0, "status": "graded", "exercises": {"relu_forward": 1.0, "quiz": 0.0}}}}
    theirs = {"points": {"a": {"test_relu_forward": 1.0, "test_quiz": 4.0},
                         "b": {"test_relu_forward": 2 / 3, "test_quiz": 4.0},
                         "c": None,
                         "d": {"test_relu_forward": 1.0, "test_quiz": 1e-3}}}
    assert cmp.compare(["a", "b", "c", "d"], ours, theirs) == ["b", "d"]
    out = capsys.readouterr().out
    assert "relu_forward 1 vs 0.666667" in out and "quiz 0 vs 0.001" in out
