"""Batches: the CLI end to end, parallel jobs, resume after kill -9, CSV, feedback, Dask."""

import csv
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from i2dl_lab.grading.batch import grade_batch
from i2dl_lab.grading.cli import main as cli
from i2dl_lab.grading.gradebook import Gradebook
from i2dl_lab.grading.release import release_notebook
from i2dl_lab.grading.submit import submit

from .conftest import FULL, SECRET
from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout

REPO = Path(__file__).resolve().parents[2]


def make_class(root: Path, n_extra: int = 0) -> dict:
    """A folder of submissions: expected score by student."""
    solution = D.notebook(D.solution_cells())
    student, _ = release_notebook(D.dumps(solution), "97")
    half = json.loads(json.dumps(student))
    for i in (2, 4, 6):
        half["cells"][i]["source"] = solution["cells"][i]["source"]
    D.write(root / "alice" / "97_demo.ipynb", student)
    D.write(root / "bob" / "97_demo.ipynb", student)          # byte-identical to alice's: both graded
    D.write(root / "carol" / "97_demo.ipynb", half)
    D.write(root / "tmp_full.ipynb", D.student_copy(solution))
    submit(root / "tmp_full.ipynb", out=root, student="dave")
    (root / "tmp_full.ipynb").unlink()
    (root / "erin.ipynb").write_bytes(b'{"cells": [ {"cell_type": "code", "sou')
    expected = {"alice": 0.0, "bob": 0.0, "carol": FULL / 2, "dave": FULL, "erin": 0.0}
    slow_relu = "import time\n" + D.RELU.replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\n    time.sleep(0.3)")
    for i in range(n_extra):  # slower (about 1.2 s each) and worth 14 points: q2 and q3 left out
        cells = D.solution_cells(relu=slow_relu, quiz=f'ANSWERS = {{"q1": True, "x": {i}}}\n')
        D.write(root / f"extra{i}.ipynb", D.notebook(cells))
        expected[f"extra{i}"] = 14.0
    return expected


def run_cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO), I2DL_PLAIN_PROGRESS="1", I2DL_GRADING_SECRET="s3cret")
    return subprocess.run([sys.executable, "-m", "i2dl_lab.grading", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, **kw)


def test_cli_grades_a_class_in_parallel_with_feedback_and_csv(tmp_path, course):
    subs = tmp_path / "subs"
    expected = make_class(subs)
    db, fb, out_csv = tmp_path / "gb.sqlite", tmp_path / "feedback", tmp_path / "grades.csv"
    p = run_cli(["grade", "97", str(subs), "--db", str(db), "--jobs", "2", "--spec", D.SPEC, "--source", str(course),
                 "--feedback", str(fb), "--timeout", "5"])
    assert p.returncode == 0, p.stderr
    assert "4 graded, 1 rejected, 0 grader errors, 0 skipped" in p.stdout
    assert "grading lab 97: 5/5 (100%)" in p.stdout  # the progress bar (plain lines under CI)
    assert os.stat(db).st_mode & 0o777 == 0o600
    p = run_cli(["grades", "--db", str(db), "--csv", str(out_csv)])
    assert p.returncode == 0 and "wrote 5 rows" in p.stdout
    rows = {r["student"]: r for r in csv.DictReader(out_csv.open())}
    assert {s: float(r["score"]) for s, r in rows.items()} == expected
    assert (rows["carol"]["97:relu"], rows["carol"]["97:scale"], rows["carol"]["97:quiz"]) == ("4.0", "0.0", "0.0")
    assert rows["erin"]["status"] == "rejected"
    assert list(rows["dave"])[:9] == ["student", "lab", "score", "max_score", "status", "submitted_at", "graded_at",
                                      "file", "sha256"]
    reports = sorted(p.name for p in (fb / "lab97").glob("*.html"))
    assert [r.split("_")[0] for r in reports] == ["alice", "bob", "carol", "dave", "erin"]
    # the feedback shows per-case results but neither hidden inputs nor expected values
    with Gradebook(db) as book:
        row = next(r for r in book.rows() if r["student"] == "carol")
        result = book.result("97", row["sha256"], "carol")
    html = next((fb / "lab97").glob("carol_*.html")).read_text()
    assert "10 / 20.0 points" in html or "10.0 / 20.0 points" in html
    assert "not implemented yet" in html
    secrets = [c.message for e in result.exercises for c in e.cases if "expected" in c.message]
    assert all(s not in html for s in secrets)
    erin = next((fb / "lab97").glob("erin_*.html")).read_text()
    assert "not valid JSON" in erin


def test_rerun_skips_graded_and_force_regrades_identically(tmp_path, cfg):
    subs = tmp_path / "subs"
    expected = make_class(subs)
    db = tmp_path / "gb.sqlite"
    first = grade_batch(cfg, [subs], db, quiet=True)
    assert first.graded + first.rejected == 5 and first.skipped == 0
    again = grade_batch(cfg, [subs], db, quiet=True)
    assert again.skipped == 5 and not again.results
    forced = grade_batch(cfg, [subs], db, force=True, quiet=True)
    assert {r.student: r.score for r in forced.results} == expected
    with Gradebook(db) as book:
        assert len(book.rows()) == 5


def test_the_gradebook_stores_each_result_as_it_was(tmp_path, cfg):
    subs = tmp_path / "subs"
    make_class(subs)
    db = tmp_path / "gb.sqlite"
    summary = grade_batch(cfg, [subs], db, quiet=True)
    assert any(c.traceback for r in summary.results for e in r.exercises for c in e.cases)
    with Gradebook(db) as book:
        for r in summary.results:  # what is stored is the full record, the same text asdict would give
            assert r.to_json() == json.dumps(dataclasses.asdict(r), default=str)
            assert book.result(r.lab, r.sha256, r.student) == r


def test_grader_errors_are_recorded_and_retried(tmp_path, cfg):
    from dataclasses import replace

    D.write(tmp_path / "subs" / "ada.ipynb", D.notebook(D.solution_cells()))
    broken = replace(cfg, spec={"module": "i2dl_lab.grading.no_such_spec"})
    s = grade_batch(broken, [tmp_path / "subs"], tmp_path / "gb.sqlite", quiet=True)
    assert s.errors == 1
    with Gradebook(tmp_path / "gb.sqlite") as book:
        (row,) = book.rows()
        assert row["status"] == "error" and "internal grading error" in row["message"]
    s = grade_batch(cfg, [tmp_path / "subs"], tmp_path / "gb.sqlite", quiet=True)
    assert s.skipped == 0 and s.results[0].score == FULL


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing_and_resumes(tmp_path, course):
    subs = tmp_path / "subs"
    expected = make_class(subs, n_extra=5)
    db = tmp_path / "gb.sqlite"
    args = ["grade", "97", str(subs), "--db", str(db), "--spec", D.SPEC, "--source", str(course)]
    env = dict(os.environ, PYTHONPATH=str(REPO), I2DL_PLAIN_PROGRESS="1", I2DL_GRADING_SECRET="s3cret")
    proc = subprocess.Popen([sys.executable, "-m", "i2dl_lab.grading", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    n = 0
    while time.monotonic() < deadline and n < 3:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    n = c.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = c.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert 3 <= before < len(expected)
    p = run_cli(args)
    assert p.returncode == 0, p.stderr
    assert f"{before} skipped" in p.stdout
    with Gradebook(db) as book:
        assert {r["student"]: r["score"] for r in book.latest()} == expected


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "tcp-loopback-worker"])
def test_dask_cluster_grades_like_local_processes(tmp_path, cfg, processes):
    distributed = pytest.importorskip("distributed")
    subs = tmp_path / "subs"
    expected = make_class(subs)
    where = {"host": "127.0.0.1", "protocol": "tcp"} if processes else {}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=processes, dashboard_address=":0",
                                  **where) as cluster:
        s = grade_batch(cfg, [subs], tmp_path / "gb.sqlite", dask_address=cluster.scheduler_address, quiet=True)
    assert {r.student: r.score for r in s.results} == expected
    with Gradebook(tmp_path / "gb.sqlite") as book:
        assert {r["student"]: r["score"] for r in book.latest()} == expected
        started = {book.result(r["lab"], r["sha256"], r["student"]).sandbox.get("started_by")
                   for r in book.rows() if r["status"] == "graded"}
    assert started == {"fork server"}  # worker threads get their own fork servers


def test_identical_notebooks_of_two_students_both_count(tmp_path, cfg):
    nb = D.notebook(D.solution_cells())
    D.write(tmp_path / "s" / "ann" / "97_demo.ipynb", nb)
    D.write(tmp_path / "s" / "ben" / "97_demo.ipynb", nb)
    s = grade_batch(cfg, [tmp_path / "s"], tmp_path / "gb.sqlite", quiet=True)
    assert sorted((r.student, r.score) for r in s.results) == [("ann", FULL), ("ben", FULL)]


def test_feedback_escapes_student_controlled_text(tmp_path, cfg):
    from i2dl_lab.grading.feedback import render

    body = "def relu(x):\n    raise ValueError('<script>alert(1)</script>')\n"
    nb = tmp_path / "97_x.ipynb"
    D.write(nb, D.student_copy(D.notebook(D.solution_cells(relu=body))))
    z = submit(nb, out=tmp_path / "s", student="<img src=x onerror=alert(1)>")
    s = grade_batch(cfg, [z], tmp_path / "gb.sqlite", quiet=True)
    with Gradebook(tmp_path / "gb.sqlite") as book:
        (row,) = book.rows()
        html = render(book.result("97", row["sha256"], row["student"]))
    assert "<img" not in html and "<script>" not in html and s.results[0].score == FULL - 4


def test_cli_main_reports_bad_lab_arguments(capsys):
    assert cli(["grade", "x3", "nothing", "--db", "/tmp/never.sqlite"]) == 2
    assert "lab must be a lab number" in capsys.readouterr().err
    assert SECRET  # the suite's secret differs from the public default key


def test_serial_batch_prepares_the_next_submission_while_a_child_runs(tmp_path, cfg, monkeypatch):
    """--jobs 1: submission N+1 is prepared in a thread while N's child runs, one ahead at most; records
    stay in order; a file that cannot be read any more is its own recorded error, the rest grade as ever."""
    import threading

    from i2dl_lab.grading import batch, codecheck

    subs = tmp_path / "subs"
    expected = make_class(subs)
    D.write(subs / "zoe" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    expected["zoe"] = FULL
    events = []
    real_prepare, real_run, real_data = batch.prepare, batch.run_prepared, batch.Item.data

    def prepare(data, name, config, expect=False):
        assert expect  # the expected outputs too: the grading thread only sends the job and reads answers
        events.append(("prepare", name, threading.current_thread() is threading.main_thread()))
        return real_prepare(data, name, config, expect)

    def run_prepared(prepared, waited=None, on_child_busy=None):
        events.append(("run", prepared.result.file, prepared.result.timing["prepare"]))
        out = real_run(prepared, waited, on_child_busy)
        events.append(("ran", prepared.result.file, None))
        return out

    def data(item):
        if item.student == "carol":
            raise FileNotFoundError(f"{item.path} went away")
        return real_data.fget(item)

    parsed_on_main = []
    real_parse = codecheck._parse

    def parse(src):  # two threads parsing at once can fail in CPython 3.11: all parsing is preparing
        parsed_on_main.append(threading.current_thread() is threading.main_thread())
        return real_parse(src)

    monkeypatch.setattr(codecheck, "_parse", parse)
    monkeypatch.setattr(batch, "prepare", prepare)
    monkeypatch.setattr(batch, "run_prepared", run_prepared)
    monkeypatch.setattr(batch.Item, "data", property(data))
    s = grade_batch(cfg, [subs], tmp_path / "gb.sqlite", quiet=True)

    order = [batch.identify(f, cfg.lab, root).student for f, root in batch.collect([subs])]
    assert [r.student for r in s.results] == order
    carol = s.results[order.index("carol")]
    assert carol.status == "error" and "FileNotFoundError" in carol.message and "went away" in carol.message
    assert {r.student: r.score for r in s.results if r.student != "carol"} == \
        {k: v for k, v in expected.items() if k != "carol"}
    assert s.errors == 1 and s.rejected == 1  # erin's corrupt notebook
    assert not any(on_main for kind, _, on_main in events if kind == "prepare")
    assert parsed_on_main and not any(parsed_on_main)  # the quiz cells too
    # each submission is prepared while the one before it runs (once its child works), not earlier;
    # a rejected file runs no child, so the next one is prepared after it
    kinds = "".join({"prepare": "P", "run": "R", "ran": "r"}[k] for k, _, _ in events)

    def prep(j):
        return "P" if j < len(order) and order[j] != "carol" else ""

    want = prep(0)
    for i, student in enumerate(order):
        want += prep(i + 1) if student == "carol" else "Rr" + prep(i + 1) if student == "erin" else \
            "R" + prep(i + 1) + "r"
    assert kinds == want, events
    graded = [r for r in s.results if r.status == "graded"]
    assert graded and all(0 <= r.timing["prepare_waited"] <= r.seconds for r in graded)
