"""The stub check: after the last self-check, exercises become stubs that raise, and a lab whose
headline rests on the student's code must then fail before printing it."""

import nbformat
import pytest

from i2dl_lab.runner import Lab, exercise_names, headlines_of, run_lab, stub_exercises


def _lab(tmp_path, use_student_code: bool):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
                                   "class Counter:\n    pass\n")
    ex.metadata["i2dl"] = {"exercise": "double"}
    check = nbformat.v4.new_code_cell("def self_check(*a):\n    return True\nself_check('01', 'double', double)")
    model = "double(21)" if use_student_code else "2 * 21"
    head = nbformat.v4.new_code_cell(
        f"from i2dl_lab.report import headline\nheadline('answer', {model}, 'd', baseline=('guess', 0))")
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), ex, check, head]
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(nb, path)
    return Lab("01", "01_tiny", path, "Tiny")


def test_exercise_names_lists_functions_and_classes(tmp_path):
    nb = nbformat.read(_lab(tmp_path, True).path, as_version=4)
    assert exercise_names(nb) == ["double", "Counter"]


def test_stub_cell_goes_after_the_last_self_check(tmp_path):
    nb = nbformat.read(_lab(tmp_path, True).path, as_version=4)
    stubbed = stub_exercises(nb)
    assert len(stubbed.cells) == len(nb.cells) + 1
    assert "stub check" in stubbed.cells[3].source and "self_check(" in stubbed.cells[2].source


def test_stub_check_needs_exercises_and_self_checks():
    with pytest.raises(ValueError, match="exercise cells"):
        stub_exercises(nbformat.v4.new_notebook())


@pytest.mark.slow
def test_headline_on_student_code_fails_when_stubbed(tmp_path):
    res = run_lab(_lab(tmp_path, True), out_dir=tmp_path / "out", stub=True)
    assert res.status == "failed" and "stub check: exercise double" in res.error
    assert headlines_of(res.output) == []


@pytest.mark.slow
def test_headline_not_on_student_code_survives_stubbing(tmp_path):
    res = run_lab(_lab(tmp_path, False), out_dir=tmp_path / "out", stub=True)
    assert res.status == "ok" and [h.value for h in res.headlines] == ["42"]
