"""The i2dl-lab CLI and the papermill runner, on tiny notebooks the tests write."""

import os

import nbformat
import pytest

from i2dl_lab import cli
from i2dl_lab.runner import LabNotFound, discover_labs, format_summary, parse_value, run_labs, select_labs


def _write_lab(folder, name, title, body, params="EPOCHS = 1"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nGoals."), cell, nbformat.v4.new_code_cell(body)]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def course(tmp_path):
    labs = tmp_path / "labs"
    labs.mkdir()
    _write_lab(labs, "01_passing", "Lab one: it works",
               "from i2dl_lab.report import headline\nheadline('epochs seen', EPOCHS, 'd')")
    _write_lab(labs, "02_failing", "Lab two: it breaks", "raise RuntimeError('broken on purpose')")
    (labs / "notes.ipynb").write_text("{}")  # not NN_topic: ignored
    return labs


def test_discover_reads_titles_in_course_order(course):
    labs = discover_labs(course)
    assert [lab.name for lab in labs] == ["01_passing", "02_failing"]
    assert labs[0].title == "Lab one: it works"


def test_select_by_number_name_or_path(course):
    labs = discover_labs(course)
    assert [lab.name for lab in select_labs(labs, ["2"])] == ["02_failing"]
    assert [lab.name for lab in select_labs(labs, ["02_failing", "01"])] == ["01_passing", "02_failing"]
    assert [lab.name for lab in select_labs(labs, [str(course / "01_passing.ipynb")])] == ["01_passing"]


def test_unknown_lab_lists_the_labs_that_exist(course):
    with pytest.raises(LabNotFound, match="01_passing, 02_failing"):
        select_labs(discover_labs(course), ["07"])


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("true", True), ("None", None), ("mnist", "mnist")])
def test_parameter_values_are_typed(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.slow
def test_run_reports_failure_and_headline_and_passes_parameters(course, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--labs-dir", str(course), "--out", str(out), "-p", "EPOCHS", "7"])
    printed = capsys.readouterr().out
    assert code == 1  # one lab fails, so the run fails
    assert (out / "01_passing.ipynb").exists() and (out / "02_failing.ipynb").exists()
    row_ok = next(line for line in printed.splitlines() if line.startswith("01_passing"))
    row_bad = next(line for line in printed.splitlines() if line.startswith("02_failing"))
    assert " ok " in row_ok and "epochs seen: 7" in row_ok  # the -p value reached the notebook
    assert " failed " in row_bad and "broken on purpose" in row_bad
    assert "2 labs, 1 ok, 1 failed" in printed


@pytest.mark.slow
def test_run_of_passing_labs_exits_zero(course, tmp_path):
    results = run_labs(discover_labs(course)[:1], out_dir=tmp_path / "o", echo=None)
    assert [r.status for r in results] == ["ok"]
    assert [(h.name, h.value, h.baseline) for h in results[0].headlines] == [("epochs seen", "1", None)]
    assert "1 labs, 1 ok, 0 failed" in format_summary(results)


def test_list_prints_titles(course, capsys):
    assert cli.main(["list", "--labs-dir", str(course)]) == 0
    assert "02_failing  Lab two: it breaks" in capsys.readouterr().out


def test_missing_labs_folder_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["list", "--labs-dir", str(tmp_path / "nope")]) == 2
    assert "labs folder not found" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "usage: i2dl-lab" in capsys.readouterr().out


def _params_lab(folder):
    body = "print('widths', WIDTHS, type(LR).__name__, LR)"
    return _write_lab(folder, "03_params", "Lab three: parameters", body,
                      params='SEED = 0\nLR = 0.1\nEPOCHS = 2\nDATASET = "digits"\nWIDTHS = [16, 32]\nPLOT = True')


def test_unknown_parameter_is_an_error_listing_the_valid_ones(tmp_path, capsys):
    labs = tmp_path / "labs"
    labs.mkdir()
    _params_lab(labs)
    code = cli.main(["run", "03", "--labs-dir", str(labs), "--out", str(tmp_path / "o"), "-p", "EPOCH", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no parameter EPOCH" in err and "SEED, LR, EPOCHS, DATASET, WIDTHS, PLOT" in err
    assert not (tmp_path / "o").exists()  # nothing ran


@pytest.mark.parametrize("name, text, message", [
    ("EPOCHS", "3.5", "EPOCHS of lab 03_params takes an integer (default 2), got '3.5'"),
    ("LR", "fast", "LR of lab 03_params takes a number (default 0.1), got 'fast'"),
    ("PLOT", "yes", "PLOT of lab 03_params takes a boolean"),
    ("WIDTHS", "[16, oops", "WIDTHS of lab 03_params takes a list"),
])
def test_values_are_typed_from_the_parameters_cell(tmp_path, capsys, name, text, message):
    labs = tmp_path / "labs"
    labs.mkdir()
    _params_lab(labs)
    assert cli.main(["run", "--labs-dir", str(labs), "--out", str(tmp_path / "o"), "-p", name, text]) == 2
    assert message in capsys.readouterr().err


def test_lab_parameters_types_values_like_the_defaults(tmp_path):
    from i2dl_lab.runner import lab_parameters

    lab = discover_labs(_params_lab(tmp_path).parent)[0]
    typed = lab_parameters(lab, {"LR": "1", "EPOCHS": "4", "WIDTHS": "[8, 8, 8]", "DATASET": "123", "PLOT": "false"})
    assert typed == {"LR": 1.0, "EPOCHS": 4, "WIDTHS": [8, 8, 8], "DATASET": "123", "PLOT": False}
    assert type(typed["LR"]) is float


@pytest.mark.slow
def test_yaml_parameters_pass_structured_values(tmp_path, capsys):
    labs = tmp_path / "labs"
    labs.mkdir()
    _params_lab(labs)
    out = tmp_path / "o"
    code = cli.main(["run", "--labs-dir", str(labs), "--out", str(out), "-y", "WIDTHS: [4, 8, 16]", "-p", "LR", "2"])
    assert code == 0, capsys.readouterr()
    text = (out / "03_params.ipynb").read_text()
    assert "widths [4, 8, 16] float 2.0" in text


def test_bad_yaml_is_a_clear_error(tmp_path, capsys):
    labs = tmp_path / "labs"
    labs.mkdir()
    _params_lab(labs)
    assert cli.main(["run", "--labs-dir", str(labs), "-y", "- just a list"]) == 2
    assert "expected a YAML mapping NAME: VALUE" in capsys.readouterr().err


def _threads_lab(folder):
    body = ("import numpy\nimport threadpoolctl\nfrom i2dl_lab.report import headline\n"
            "pools = threadpoolctl.threadpool_info()\n"
            "headline('blas threads', max(p['num_threads'] for p in pools if p['user_api'] == 'blas'), 'd')")
    _write_lab(folder, "01_threads", "Lab one: thread pools", body)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("flag, expected", [([], "1"), (["--threads", "2"], "2")])
def test_lab_kernels_get_the_requested_blas_threads(tmp_path, capsys, monkeypatch, flag, expected):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the flag wins over the environment...
    (tmp_path / "labs").mkdir()
    labs = _threads_lab(tmp_path / "labs")
    assert cli.main(["run", "--labs-dir", str(labs), "--out", str(tmp_path / "out"), *flag]) == 0
    assert f"blas threads: {expected}" in capsys.readouterr().out
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"  # ...and is restored after the run


@pytest.mark.slow
def test_threads_zero_leaves_the_environment(tmp_path, capsys, monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "2")
    (tmp_path / "labs").mkdir()
    labs = _threads_lab(tmp_path / "labs")
    assert cli.main(["run", "--labs-dir", str(labs), "--out", str(tmp_path / "out"), "--threads", "0"]) == 0
    assert "blas threads: 2" in capsys.readouterr().out


def test_negative_threads_is_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--threads", "-1"])
    assert "expected a whole number >= 0, got -1" in capsys.readouterr().err
