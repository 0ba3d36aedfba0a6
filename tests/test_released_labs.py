"""Every released lab runs to its end under papermill as a student first gets it: no error
cell, and its last cell names the exercises still to do (Run All in JupyterLab runs the same
cells in the same kernel)."""

from pathlib import Path

import nbformat
import pytest

from i2dl_lab.grading.release import release
from i2dl_lab.grading.selfcheck import lab_spec
from i2dl_lab.runner import discover_labs, run_lab

LABS = Path(__file__).resolve().parent.parent / "labs"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(LABS, out)
    return {lab.number: lab for lab in discover_labs(out)}


@pytest.mark.slow
@pytest.mark.parametrize("number", [lab.number for lab in discover_labs(LABS)])
def test_released_lab_runs_to_its_end_and_names_unfinished_exercises(released, number, tmp_path):
    res = run_lab(released[number], out_dir=tmp_path)
    assert res.status == "ok", res.error
    nb = nbformat.read(res.output, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]
    last = "".join(o.text for o in nb.cells[-1].outputs if o.output_type == "stream")
    ids = [ex.id for ex in lab_spec(number).EXERCISES]
    assert f"unfinished exercises: {', '.join(ids)}" in last, last
    assert "quiz: 0 of" in last and "the format is fine" in last
