"""Scores of whole submissions: full, zero, exactly half, deterministic; malformed files are explained."""

import io
import json
import zipfile

import numpy as np
import pytest

from i2dl_lab.grading.grader import case_seed, grade_bytes, safe_feedback
from i2dl_lab.grading.release import release_notebook
from i2dl_lab.grading.submit import submit

from .conftest import FULL, ex, points
from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout

WRONG_SCALE = '''class Scale:
    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return x + self.factor
'''


def test_solution_notebook_scores_full_marks(grade):
    r = grade(D.solution_cells())
    assert r.status == "graded"
    assert points(r) == {"relu": 4.0, "affine": 3.0, "softmax": 3.0, "scale": 2.0, "quiz": 8.0}
    assert r.score == r.max_score == FULL
    assert ex(r, "relu").message == "all 4 hidden cases passed"


def test_released_notebook_scores_zero(grade):
    student, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    r = grade(student)
    assert r.score == 0.0 and r.max_score == FULL
    assert ex(r, "relu").message == "0 of 4 hidden cases passed"
    assert ex(r, "relu").cases[0].feedback == "not implemented yet (the cell still raises NotImplementedError)"


def test_half_done_notebook_scores_exactly_half(grade):
    student, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    done = D.solution_cells()
    cells = student["cells"]
    for i in (2, 4, 6):  # relu, affine, softmax solved; scale and the quiz left blank
        cells[i]["source"] = done[i]["source"]
    r = grade(student)
    assert points(r) == {"relu": 4.0, "affine": 3.0, "softmax": 3.0, "scale": 0.0, "quiz": 0.0}
    assert r.score == FULL / 2


def test_partly_wrong_exercise_scores_its_share_of_cases(grade):
    # right on 2-D inputs (hidden case 1), wrong on 1-D ones (case 2): exactly half of 2 points
    body = D.SCALE.replace("return x * self.factor", "return x * self.factor if x.ndim == 2 else x")
    r = grade(D.solution_cells(scale=body))
    assert [c.passed for c in ex(r, "scale").cases] == [True, False]
    assert ex(r, "scale").points == 1.0 and ex(r, "scale").message == "1 of 2 hidden cases passed"
    assert r.score == FULL - 1.0
    r = grade(D.solution_cells(scale=WRONG_SCALE))
    assert ex(r, "scale").points == 0.0
    assert "values differ (relative error" in ex(r, "scale").cases[0].feedback


def test_same_notebook_graded_twice_gets_the_same_score_and_inputs(grade, cfg):
    body = D.SCALE.replace("return x * self.factor", "return x * self.factor if x.ndim == 2 else x")
    cells = D.solution_cells(scale=body)
    a, b = grade(cells), grade(cells)
    assert a.score == b.score
    assert [c.passed for c in ex(a, "scale").cases] == [c.passed for c in ex(b, "scale").cases]
    s1 = case_seed(cfg.secret, "97", "relu", "a" * 64)
    assert s1 == case_seed(cfg.secret, "97", "relu", "a" * 64)
    assert s1 != case_seed(cfg.secret, "97", "relu", "b" * 64) != case_seed(b"other", "97", "relu", "a" * 64)


def test_quiz_follows_the_seed_rules(grade):
    # q1 right (+2), q2 wrong (-1), q3 "AB" for key "AC": one wrong pick and one missed -> 4 - 2*2 = 0
    r = grade(D.solution_cells(quiz='ANSWERS = {"q1": True, "q2": True, "q3": "AB"}\n'))
    assert ex(r, "quiz").points == 1.0
    r = grade(D.solution_cells(quiz='ANSWERS = {"q1": True, "q2": None, "q3": "A"}\n'))
    assert ex(r, "quiz").points == 4.0  # 2 + 0 + (4 - 2)
    r = grade(D.solution_cells(quiz='ANSWERS = {"q1": False, "q2": True, "q3": ""}\n'))
    assert ex(r, "quiz").points == -2.0  # two wrong true/false answers; the seed sets no floor for the section
    r = grade(D.solution_cells(quiz='ANSWERS = dict(q1=True)\n'))
    assert ex(r, "quiz").points == 0.0 and "not a plain dict literal" in ex(r, "quiz").notes[0]


@pytest.mark.parametrize("data, message", [
    (b"{\"cells\": [", "not valid JSON (line 1, column 12"),
    (b"", "the file is empty"),
    (b"\xff\xfe{\"cells\": []}", "not UTF-8"),
    (json.dumps({"cells": [], "nbformat": 3}).encode(), "notebook format 3 is not supported"),
    (json.dumps({"cells": [], "nbformat": 4}).encode(), "the notebook has no cells"),
    (json.dumps([1, 2]).encode(), "not a Jupyter notebook"),
    (json.dumps(D.notebook(D.solution_cells(), lab="05")).encode(), "belongs to lab 05, not lab 97"),
])
def test_unreadable_submissions_are_rejected_with_a_reason(grade, data, message):
    r = grade(data, name="broken.ipynb")
    assert r.status == "rejected" and r.score == 0.0 and r.max_score == FULL
    assert message in r.message
    assert all(e.points == 0.0 for e in r.exercises)


def _zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_submit_zip_grades_like_the_notebook(tmp_path, cfg):
    nb = tmp_path / "97_demo.ipynb"
    D.write(nb, D.student_copy(D.notebook(D.solution_cells())))
    z = submit(nb, out=tmp_path / "submissions", student="ada")
    assert z.parent.name == "submissions" and z.name.startswith("ada_97_")
    with zipfile.ZipFile(z) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["lab"] == "97" and manifest["student"] == "ada" and len(manifest["sha256"]) == 64
    r = grade_bytes(z.read_bytes(), z.name, cfg)
    # who and when come from the folder and file the instructor collected (grade_batch), never from the manifest
    assert r.score == FULL and r.student is None and r.submitted_at is None
    assert "the zip's manifest names student 'ada'" in r.notes[0]


@pytest.mark.parametrize("entries, message", [
    ({"../../etc/evil.ipynb": "{}", "manifest.json": "{}"}, "unsafe path '../../etc/evil.ipynb'"),
    ({"/abs.ipynb": "{}"}, "unsafe path '/abs.ipynb'"),
    ({"a.ipynb": "{}", "b.ipynb": "{}"}, "expected exactly one .ipynb in the zip, found 2"),
    ({"a.ipynb": D.dumps(D.notebook(D.solution_cells())), "manifest.json": json.dumps({"sha256": "0" * 64})},
     "does not match the checksum in its manifest"),
])
def test_bad_zips_are_rejected(grade, entries, message):
    r = grade(_zip(entries), name="sub.zip")
    assert r.status == "rejected" and r.score == 0.0
    assert message in r.message


def test_zip_bomb_is_rejected_without_unpacking_it(grade):
    bomb = _zip({"a.ipynb": b"0" * (64 * 2**20)})  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 2**20
    r = grade(bomb, name="bomb.zip")
    assert r.status == "rejected" and "zip bomb" in r.message


def test_safe_feedback_names_the_problem_without_values():
    e = np.array([[0.123456, 2.0]])
    assert safe_feedback(e, np.zeros((2, 1))) == "output has shape (2, 1), expected shape (1, 2)"
    assert safe_feedback(e, np.array([[np.nan, 2.0]])) == "output contains NaN or inf"
    msg = safe_feedback(e, np.array([[0.5, 2.0]]))
    assert msg.startswith("values differ (relative error") and "0.123" not in msg
    assert safe_feedback((e, 1.0), (e,)) == "expected a tuple of 2 values, got 1"


def test_student_code_can_import_the_standard_library_and_numpy(grade):
    body = ("import fractions, statistics, heapq\nfrom collections import OrderedDict\nimport numpy.linalg as la\n"
            "def relu(x):\n    assert fractions.Fraction(1, 2) + statistics.mean([1, 2]) > 0 and la.norm([3, 4]) == 5\n"
            "    return np.maximum(x, 0)\n")
    r = grade(D.solution_cells(relu=body))
    assert r.score == FULL, ex(r, "relu").cases[0]


def test_spec_with_non_plain_case_data_is_a_grader_error_not_a_student_zero(grade, cfg):
    import types
    from dataclasses import replace

    spec = types.ModuleType("bad_spec")
    from i2dl_lab.grading.grader import _SPECS, load_spec

    good = load_spec(cfg.spec)
    bad_ex = replace(good.EXERCISES[0], cases=lambda rng: [(object(),)])
    spec.EXERCISES = [bad_ex]
    _SPECS["bad_spec"] = spec
    r = grade(D.solution_cells(), config=replace(cfg, spec={"module": "bad_spec"}))
    assert r.status == "error" and "spec bug: the cases of exercise 'relu'" in r.message


def test_lab_id_in_metadata_is_compared_as_a_number(grade):
    assert grade(D.notebook(D.solution_cells(), lab=97)).score == FULL
    assert grade(D.notebook(D.solution_cells(), lab="097")).score == FULL


def test_malformed_quiz_answers_are_named_and_count_as_blank(grade):
    # The documented forms only: booleans for true/false, a string of option letters for multiple choice.
    r = grade(D.solution_cells(quiz='ANSWERS = {"q1": "True", "q2": "false", "q3": ["A", "C"], "Q1": True}\n'))
    quiz = ex(r, "quiz")
    assert quiz.points == 0.0  # not -1 per string: a format slip is reported, not punished as a wrong answer
    notes = " | ".join(quiz.notes)
    assert "q1: 'True' is a string; write True without quotes" in notes
    assert "q2: 'false' is a string; write False without quotes" in notes
    assert "q3: write the options as one string such as 'AC', not a list" in notes
    assert "'Q1' is not a question of this quiz (did you mean 'q1'?)" in notes


def test_well_formed_quiz_answers_leave_no_notes(grade):
    r = grade(D.solution_cells(quiz='ANSWERS = {"q1": True, "q2": None, "q3": "ca"}\n'))
    assert ex(r, "quiz").points == 6.0 and ex(r, "quiz").notes == []


@pytest.mark.parametrize("expected, got, passed", [
    (np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]), True),
    (np.array([1.0, 2.0]), np.array([1.0, 2.1]), False),
    (np.array([np.inf, 1.0]), np.array([1e300, 1.0]), False),     # within rtol * inf, yet not an infinity
    (np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), True),
    (np.array([-np.inf, 1.0]), np.array([np.inf, 1.0]), False),
    (np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), True),
    (np.array([1.0, 1.0]), np.array([np.nan, 1.0]), False),
    (np.array([1e308, 1.0]), np.array([-1e308, 1.0]), False),     # the difference overflows
    (np.zeros((0, 3)), np.zeros((0, 3)), True),
    (np.float64(2.5), 2.5, True),
])
def test_allclose_treats_infinities_and_nan_as_numpy_isclose_does(expected, got, passed):
    from i2dl_lab.grading.spec import allclose

    with np.errstate(all="ignore"):
        ok, msg = allclose()(expected, got)
        want = bool(np.isclose(got, expected, rtol=1e-6, atol=1e-8, equal_nan=True).all())
    assert ok is passed and ok is want, msg


def test_a_cell_runs_every_statement_after_one_that_raises():
    """The child runs a cell as one code object; when a statement raises, the next ones still run, each
    once, and the one that raised is named by its line (a definition by its `def` line), as before."""
    from i2dl_lab.grading.sandbox.execute import _define

    src = ("log = []\n"
           "log.append('a'); x = 1 / 0; log.append('b')\n"
           "def boom(f):\n"
           "    raise KeyError('decorated')\n"
           "@boom\n"
           "def g():\n"
           "    pass\n"
           "log.append('c')\n"
           "raise SystemExit(3)\n"
           "def relu(x):\n"
           "    return x\n")
    ns = {"__name__": "__submission__"}
    errors = _define(src, "<cell 5>", ns)
    assert [e[:2] for e in errors] == [[2, "ZeroDivisionError"], [6, "KeyError"], [9, "SystemExit"]]
    assert ns["log"] == ["a", "b", "c"] and "relu" in ns and "g" not in ns and "x" not in ns
    ok = {"__name__": "__submission__"}
    assert _define("def f():\n    return 1\ny = f()\n", "<cell 1>", ok) == [] and ok["y"] == 1
    assert _define("def f(:\n", "<cell 2>", {})[0][:2] == [1, "SyntaxError"]
