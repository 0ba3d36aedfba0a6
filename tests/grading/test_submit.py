"""Hand-in: only released notebooks, the student id asked for once and kept in the workspace."""

import json
import zipfile

import pytest

from i2dl_lab import cli
from i2dl_lab.grading.grader import student_for
from i2dl_lab.grading.notebook import SubmissionError
from i2dl_lab.grading.release import release_notebook
from i2dl_lab.grading.submit import submit
from i2dl_lab.workspace import init_workspace, read_record

from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout


@pytest.fixture
def workspace(tmp_path):
    rel = tmp_path / "release"
    rel.mkdir()
    nb, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    D.write(rel / "97_demo.ipynb", nb)
    init_workspace(tmp_path / "ws", rel)
    return tmp_path / "ws"


def test_solution_notebook_is_refused_with_a_clear_message(tmp_path, capsys):
    nb = D.write(tmp_path / "97_demo.ipynb", D.notebook(D.solution_cells(), kind="solution"))
    with pytest.raises(SubmissionError, match="not a notebook from the student release"):
        submit(nb, out=tmp_path / "s", student="ada")
    assert cli.main(["submit", str(nb), "--student", "ada", "--out", str(tmp_path / "s")]) == 2
    assert "such as a solution notebook from labs/" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_solution_blocks_pasted_into_a_released_notebook_are_refused(tmp_path):
    nb = D.notebook(D.solution_cells(), kind="student")
    with pytest.raises(SubmissionError, match="still holds solution blocks"):
        submit(D.write(tmp_path / "97_demo.ipynb", nb), out=tmp_path / "s", student="ada")


def test_student_id_is_asked_once_and_kept_in_the_workspace(workspace, monkeypatch):
    monkeypatch.delenv("I2DL_STUDENT", raising=False)
    nb = workspace / "97_demo.ipynb"
    with pytest.raises(SubmissionError, match="pass your student id once with --student"):
        submit(nb)
    first = submit(nb, student="ada42")
    assert read_record(workspace)["student"] == "ada42"
    assert first.parent == workspace / "submissions" and first.name.startswith("ada42_97_")
    second = submit(nb)  # no --student: the workspace knows
    with zipfile.ZipFile(second) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["student"] == "ada42" and manifest["release_version"]
    with pytest.raises(SubmissionError, match="belongs to 'ada42'"):
        submit(nb, student="bob")


def test_cli_submit_writes_into_the_workspace_from_any_folder(workspace, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("I2DL_STUDENT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["submit", str(workspace / "97_demo.ipynb"), "--student", "ada"]) == 0
    assert len(list((workspace / "submissions").glob("ada_97_*.zip"))) == 1
    assert not (tmp_path / "submissions").exists()
    assert cli.main(["submit", str(workspace / "97_demo.ipynb")]) == 0  # the id is kept
    assert "submission written" in capsys.readouterr().out
    zips = sorted((workspace / "submissions").glob("ada_97_*.zip"))
    assert len(zips) == 2  # none overwritten, even within a second
    assert {student_for(z, "97") for z in zips} == {"ada"}


def test_two_hand_ins_in_one_second_are_both_kept_and_both_identified(workspace):
    import datetime as dt

    when = dt.datetime(2026, 11, 30, 8, 0, 0, tzinfo=dt.timezone.utc)
    a = submit(workspace / "97_demo.ipynb", student="ada", now=when)
    b = submit(workspace / "97_demo.ipynb", now=when)
    assert (a.name, b.name) == ("ada_97_20261130T080000Z.zip", "ada_97_20261130T080000Z-2.zip")
    assert student_for(a, "97") == student_for(b, "97") == "ada"
