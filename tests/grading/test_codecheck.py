"""Static planning of what the child runs: only needed import lines, exercise cells, never other code."""

from i2dl_lab.grading.codecheck import plan, read_answers
from i2dl_lab.grading.notebook import parse_notebook

from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout
from .fixtures.lab97_spec import EXERCISES


def cells_of(cells):
    return parse_notebook(D.dumps(D.notebook(cells)))[0]


def test_only_imports_the_exercise_cells_use_are_run():
    cells = D.solution_cells()
    cells[1]["source"] = ("%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
                          "from i2dl_lab.grading import self_check\nprint('setup')\nSEED = 0\n")
    p = plan(cells_of(cells), EXERCISES)
    imports = [u["source"] for u in p.units if u["kind"] == "import"]
    assert imports == ["import numpy as np"]
    assert [u["ex"] for u in p.units if u["kind"] == "exercise"] == ["relu", "affine", "softmax", "scale"]
    assert not p.zero


def test_library_imports_of_graded_names_and_star_imports_are_never_run():
    cells = D.solution_cells()
    cells[1]["source"] += ("from i2dl_lab.grading.demo_reference import relu\n"
                           "from i2dl_lab.grading.demo_reference import *\nfrom .x import y\n")
    p = plan(cells_of(cells), EXERCISES)
    assert all("demo_reference" not in u["source"] and "from .x" not in u["source"] for u in p.units)


def test_syntax_error_in_an_exercise_cell_zeroes_only_that_exercise():
    p = plan(cells_of(D.solution_cells(relu="def relu(x):\n    return np.maximum(x, 0\n")), EXERCISES)
    assert set(p.zero) == {"relu"} and p.zero["relu"].startswith("the exercise cell 2 has a syntax error (line 2")


def test_quiz_answers_are_read_without_running_anything():
    cells = cells_of(D.solution_cells(quiz='import os\nos.system("touch /tmp/pwned")\nANSWERS = {"q1": True}\n'))
    answers, notes = read_answers(cells)
    assert answers == {"q1": True} and not notes
