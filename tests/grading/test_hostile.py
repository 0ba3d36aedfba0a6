"""A hostile class, by category: each attack gets an exact score and message.

1 points without the work   2 leaks   3 identity   4 one file stops the batch
5 output injection          6 the host (see test_host.py)   7 an ordinary user (test_host.py)

As in test_adversarial.py, most attacks replace the relu exercise (4 points) of an otherwise
correct demo notebook (20 points), so a contained attack scores exactly 16.
"""

import csv
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from i2dl_lab.grading.batch import grade_batch
from i2dl_lab.grading.cli import main as cli
from i2dl_lab.grading.codecheck import MAX_CELL_BYTES, plan
from i2dl_lab.grading.feedback import render
from i2dl_lab.grading.gradebook import Gradebook
from i2dl_lab.grading.notebook import parse_notebook
from i2dl_lab.grading.release import release_notebook
from i2dl_lab.grading.submit import submit

from .conftest import CONTAINED, FULL, ex, points, relu_only_lost, with_relu
from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout
from .fixtures.lab97_spec import EXERCISES

REPO = Path(__file__).resolve().parents[2]



def _forge(line: str) -> str:
    """Source that writes ``line`` to every descriptor the child might answer on."""
    return ("    for fd in range(3, 64):\n"
            "        try:\n"
            f"            os.write(fd, {line!r}.encode())\n"
            "        except OSError:\n"
            "            pass\n")


# ================================================================== 1. points without the work
def test_1_forged_start_messages_cannot_reset_the_exercise_clock(grade):
    body = ("import os, time\n"
            "def relu(x):\n"
            "    while True:\n"
            "        for fd in range(3, 64):\n"
            "            try:\n"
            "                os.write(fd, b'{\"ev\": \"start\", \"ex\": \"relu\"}\\n')\n"
            "            except OSError:\n"
            "                pass\n"
            "        time.sleep(1)\n")
    t0 = time.monotonic()
    r = grade(with_relu(body))
    relu_only_lost(r, message="the process sent a 'start' message out of order (a forged answer?)")
    assert time.monotonic() - t0 < 20  # the 4 s exercise clock was never reset (the submission allows 40 s)


REF = "import i2dl_lab.grading.demo_reference as R\n"
CALLED = "your code called the library's reference `relu`; graded functions must be your own code (scored 0)"


@pytest.mark.parametrize("setup, body, message, feedback", [
    ("import importlib as L\n" + REF, "    L.reload(R)\n    return getattr(R, 're' + 'lu')(x)\n",
     "0 of 4 hidden cases passed", "raised ModuleNotFoundError at line 2 of the exercise cell"),
    ("import runpy as P\n" + REF, "    return P.run_path(R.__file__)['re' + 'lu'](x)\n",
     "0 of 4 hidden cases passed", "raised KeyError at line 2 of the exercise cell"),
    (REF, "    return R.ACTIVATIONS['re' + 'lu'](x)\n", CALLED, CALLED),
    (REF, "    return R.Dense.activation(x)\n", CALLED, CALLED),
    (REF, "    return getattr(R, 'rec' + 'tify')(x)\n", CALLED, CALLED),
], ids=["reload", "re-run-source", "registry", "class-attribute", "copy-by-dynamic-name"])
def test_1_no_route_reaches_the_reference(grade, setup, body, message, feedback):
    r = grade(with_relu("def relu(x):\n" + body, setup=setup))
    e = relu_only_lost(r, message=message)
    assert e.cases[0].feedback == feedback


def test_1_the_references_source_text_is_not_there_to_read(grade):
    # an honest relu when the source is unreadable, a wrong one (its line count) when it can be read
    body = "def relu(x):\n    return len(C.getlines(R.__file__)) or np.maximum(x, 0)\n"
    r = grade(with_relu(body, setup="import linecache as C\n" + REF))
    assert r.score == FULL, ex(r, "relu").cases[0]


def test_1_a_backward_style_numpy_exercise_may_not_use_torch(grade):
    body = "def relu(x):\n    return T.relu(T.from_numpy(x)).numpy()\n"
    r = grade(with_relu(body, setup="import torch as T\n"))
    relu_only_lost(r, message="cell 2: line 2: uses torch (`T`); this exercise is NumPy only: torch's autograd would "
                              "do the work it asks for; scored 0")


def test_1_importing_torch_in_a_numpy_only_cell_scores_zero(grade):
    r = grade(with_relu("import torch\ndef relu(x):\n    return torch.relu(torch.as_tensor(x)).numpy()\n"))
    relu_only_lost(r, message="cell 2: line 1: imports torch; this exercise is NumPy only: torch's autograd would do "
                              "the work it asks for; scored 0")


# ================================================================== 2. leaks
def test_2_gradebook_and_its_wal_and_shm_are_private_from_creation(tmp_path, grade):
    os.umask(0o022)
    db = tmp_path / "gradebook.sqlite"
    with Gradebook(db) as book:
        r = grade(D.solution_cells())
        r.student = "ada"
        book.record(r)
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"gradebook.sqlite": 0o600, "gradebook.sqlite-wal": 0o600, "gradebook.sqlite-shm": 0o600}


LEAKY = ("def relu(x):\n"
         "    tag = 'leak_' + str(abs(float(x.ravel()[0]))).replace('.', '_')\n"
         "    raise type(tag, (Exception,), {})('the input was ' + repr(x))\n")
LEAKY_SCALE = '''class Scale:
    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return type("leak_" + str(abs(self.factor)).replace(".", "_"), (), {})()
'''


def test_2_hidden_case_feedback_never_shows_what_the_child_raised_or_named(grade):
    r = grade(D.solution_cells(relu=LEAKY, scale=LEAKY_SCALE))
    assert points(r) == {"relu": 0.0, "affine": 3.0, "softmax": 3.0, "scale": 0.0, "quiz": 8.0}
    assert [c.feedback for c in ex(r, "relu").cases] == \
        ["raised an exception class defined in the notebook at line 3 of the exercise cell"] * 4
    assert [c.feedback for c in ex(r, "scale").cases] == \
        ["returned an object of a class defined in the notebook, which is not plain data (numbers, arrays, tuples)"] * 2
    r.student = "ada"
    html = render(r)
    assert "leak_" not in html and "the input was" not in html
    assert "the input was" in ex(r, "relu").cases[0].message  # the instructor still sees it in the gradebook


def test_2_grading_without_a_secret_creates_a_private_key(tmp_path, course):
    D.write(tmp_path / "subs" / "ada" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("I2DL_GRADING")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO), I2DL_PLAIN_PROGRESS="1")
    p = subprocess.run([sys.executable, "-m", "i2dl_lab.grading", "grade", "97", str(tmp_path / "subs"), "--db",
                        str(tmp_path / "gb" / "gb.sqlite"), "--spec", D.SPEC, "--source", str(course)],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    key = tmp_path / "home" / ".config" / "i2dl-lab" / "grading.key"
    assert f"created the grading key {key}" in p.stderr
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text().strip()) == 64


def test_2_the_checkout_and_its_history_are_hidden(grade):
    probes = [str(REPO / ".git" / "HEAD"), str(REPO / "pyproject.toml"), str(REPO / "README.md"),
              str(next((REPO / "labs").glob("03_*.ipynb"))), str(REPO / "tests" / "grading" / "conftest.py")]
    body = ("def relu(x):\n"
            "    seen = []\n"
            f"    for p in {probes!r}:\n"
            "        try:\n"
            "            with open(p, 'rb') as fh:\n"
            "                seen.append(len(fh.read()))\n"
            "        except OSError as e:\n"
            "            seen.append(type(e).__name__)\n"
            "    raise RuntimeError(repr(seen))\n")
    e = relu_only_lost(grade(with_relu(body)))
    seen = e.cases[0].message.split(": ", 1)[1]
    assert all(s in ("'FileNotFoundError'", "0") for s in seen.strip("[]").split(", ")), seen


# ================================================================== 3. identity
def test_3_a_zip_cannot_claim_another_students_identity_or_time(tmp_path, cfg):
    subs = tmp_path / "subs"
    D.write(subs / "alice" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    student, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    D.write(tmp_path / "97_demo.ipynb", student)
    import datetime as dt

    z = submit(tmp_path / "97_demo.ipynb", out=subs / "mallory", student="alice",
               now=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc))
    grade_batch(cfg, [subs], tmp_path / "gb.sqlite", quiet=True)
    with Gradebook(tmp_path / "gb.sqlite") as book:
        rows = {r["student"]: (r["score"], r["submitted_at"][:4]) for r in book.latest()}
        mallory = book.result("97", book.rows()[1]["sha256"], "mallory")
    this_year = time.strftime("%Y")
    assert rows == {"alice": (FULL, this_year), "mallory": (0.0, this_year)}
    assert z.parent.name == "mallory" and "names student 'alice'" in mallory.notes[0]


def test_3_scores_stay_within_zero_and_the_maximum(grade):
    student, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "97")
    quiz = next(c for c in student["cells"] if c.get("metadata", {}).get("i2dl", {}).get("quiz"))
    quiz["source"] = 'ANSWERS = {"q1": False, "q2": True, "q3": ""}\n'
    r = grade(student)
    assert ex(r, "quiz").points == -2.0 and r.score == 0.0
    assert "the parts add up to -2 points; the score is kept within [0, 20]" in r.notes


def _two_submissions(tmp_path):
    subs = tmp_path / "subs"
    half = D.solution_cells(relu="def relu(x):\n    return x\n", affine="def affine_forward(x, w, b):\n    return x\n")
    first = D.write(subs / "ann" / "first.ipynb", D.notebook(D.solution_cells()))
    second = D.write(subs / "ann" / "second.ipynb", D.notebook(half))
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(second, (1_800_000_000, 1_800_000_000))
    (subs / "erin").mkdir()
    (subs / "erin" / "x.ipynb").write_bytes(b'{"cells": [')
    return subs


@pytest.mark.parametrize("policy, score", [("latest", FULL - 7.0), ("best", FULL)])
def test_3_the_instructor_chooses_latest_or_best_and_grades_shows_counts_and_reasons(tmp_path, cfg, capsys, policy,
                                                                                     score):
    subs = _two_submissions(tmp_path)
    grade_batch(cfg, [subs], tmp_path / "gb.sqlite", quiet=True)
    capsys.readouterr()
    assert cli(["grades", "--db", str(tmp_path / "gb.sqlite"), "--policy", policy]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ann", "lab", "97", f"{score:.2f}", "/", "20", "graded", "2", "submission(s),", "0",
                              "rejected"]
    assert out[1].startswith("erin") and "1 submission(s), 1 rejected; x.ipynb: the notebook is not valid JSON" \
        in out[1]


# ================================================================== 4. one file must not stop the batch
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _zip_with_manifest(path: Path, manifest: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("97_demo.ipynb", D.dumps(D.notebook(D.solution_cells())))
        zf.writestr("manifest.json", manifest)


def test_4_json_pathologies_and_odd_names_are_each_one_submissions_result(tmp_path, cfg):
    subs = tmp_path / "subs"
    D.write(subs / "good" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    (subs / "deep").mkdir()
    _zip_with_manifest(subs / "deep" / "s.zip", '{"student": ' + _nested(200_000) + "}")
    (subs / "bigint").mkdir()
    _zip_with_manifest(subs / "bigint" / "s.zip", '{"student": ' + "9" * 50_000 + "}")
    (subs / "bignb").mkdir()
    (subs / "bignb" / "s.ipynb").write_text('{"nbformat": 4, "cells": [], "x": ' + "7" * 50_000 + "}")
    odd = os.fsencode(str(subs)) + b"/st\xffud"
    os.makedirs(odd)
    with open(odd + b"/n\xfe.ipynb", "wb") as fh:
        fh.write(D.dumps(D.notebook(D.solution_cells(relu="def relu(x):\n    raise ValueError('\\udcff')\n"))))
    s = grade_batch(cfg, [subs], tmp_path / "gb.sqlite", quiet=True)
    assert (s.graded, s.rejected, s.errors) == (2, 3, 0)
    with Gradebook(tmp_path / "gb.sqlite") as book:
        rows = {r["student"]: (r["status"], r["score"], r["message"]) for r in book.latest()}
    assert rows["good"] == ("graded", FULL, "")
    assert rows["st\ufffdud"] == ("graded", CONTAINED, "")
    assert rows["deep"][2] == "s.zip: the manifest in the zip is JSON nested too deeply to be read"
    assert rows["bigint"][2].startswith("s.zip: the manifest in the zip holds JSON that cannot be read (ValueError")
    assert rows["bignb"][2].startswith("s.ipynb: the notebook holds JSON that cannot be read (ValueError")


def test_4_a_forged_answer_of_impossible_shape_is_that_submissions_result(grade):
    forged = '{"ev": "result", "ex": "relu", "case": 0, "ok": true, "out": {"$t": [], "$l": []}, "tripwire": 5}\n'
    body = "import os\ndef relu(x):\n" + _forge(forged) + "    return np.maximum(x, 0)\n"
    r = grade(with_relu(body))
    relu_only_lost(r, message="the process sent a line that is not a message of the grading protocol")


def test_4_static_checks_take_linear_time_and_cap_cell_size(cfg):
    lines = "a = b + c\n" * 200_000  # 2 MB: over the cap, so never parsed
    cells = D.solution_cells(relu=lines + D.RELU)
    cells.insert(3, D._code("x = y\n" * 40_000 + "import numpy as np\n"))  # 240 kB, under the cap: parsed once
    parsed, _ = parse_notebook(D.dumps(D.notebook(cells)))
    done = []
    t = threading.Thread(target=lambda: done.append(plan(parsed, EXERCISES)))
    t.start()
    t.join(60)  # about 0.1 s on an idle machine; the check used to take hours on such a cell
    assert done, "the static check did not finish in 60 s"
    assert done[0].zero == {"relu": f"the exercise cell 2 holds {len(lines + D.RELU)} characters; the grader reads "
                                    f"exercise cells of at most {MAX_CELL_BYTES}"}


# ================================================================== 5. output injection
def test_5_csv_cells_are_safe_for_spreadsheets_and_grades_for_terminals(tmp_path, cfg, capsys):
    subs = tmp_path / "subs"
    names = ["=1+2", "@SUM(A1)", "-2+3", "ann\x1b]0;pwned\x07\x1b[2J"]
    for n in names:
        D.write(subs / n / "97_demo.ipynb", D.notebook(D.solution_cells()))
    grade_batch(cfg, [subs], tmp_path / "gb.sqlite", quiet=True)
    out_csv = tmp_path / "grades.csv"
    assert cli(["grades", "--db", str(tmp_path / "gb.sqlite"), "--csv", str(out_csv)]) == 0
    students = sorted(r["student"] for r in csv.DictReader(out_csv.open()))
    assert students == ["'-2+3", "'=1+2", "'@SUM(A1)", "ann]0;pwned[2J"]
    capsys.readouterr()
    assert cli(["grades", "--db", str(tmp_path / "gb.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "ann]0;pwned[2J" in out


def test_5_feedback_html_is_escaped_by_the_template(grade):
    r = grade(D.solution_cells(relu="def relu(x):\n    raise ValueError('<script>alert(1)</script>')\n"))
    r.student, r.notes = "<img src=x onerror=alert(1)>", ["<b>note</b>"]
    html = render(r)
    assert "<img" not in html and "<b>note" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html

