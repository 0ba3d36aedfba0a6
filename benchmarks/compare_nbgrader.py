"""nbgrader 0.9.6 and this grader side by side on one lab-03 class: points per student and time.

The class is ``bench_grading.make_class``'s (40 submissions: correct, partly done, sign
errors, a corrupt file, an empty notebook, one exercise that loops forever). Both graders get
the same files and run the same checks from ``i2dl_lab/grading/specs/lab03.py``:

* this grader: ``i2dl-lab grade 03 SUBS --jobs 1`` (exercise cells and the import lines they
  use, in its sandbox), run before and after nbgrader so a change in the load shows;
* nbgrader: the solution notebook becomes an nbgrader course (``source/``, ``release/`` made by
  ``nbgrader generate_assignment``, ``submitted/<student>/lab03/``). Each exercise cell is an
  nbgrader answer cell followed by an autograded test cell worth the exercise's points, whose
  hidden part runs the spec's cases through the spec's driver and comparison and ends with
  ``points * passed / cases`` (nbgrader's partial credit); the quiz gets one test cell scoring
  ``ANSWERS`` with the exam rules. Each submission is the student's notebook with nbgrader's
  released metadata and test cells added. ``nbgrader autograde`` runs it top to bottom in a
  Jupyter kernel of this interpreter, with a per-cell timeout equal to this grader's cap on
  an exercise's clock, ``Limits.wall_per_exercise`` (nbgrader's default is 30 s; one fixed
  timeout must also cover the lab's slowest legitimate cell): once on the whole notebooks
  (what nbgrader does) and once on notebooks cut to the cells this grader runs (nbgrader's
  best case).

Printed: points per student from both, the wall and CPU time of each command (CPU from a cgroup
the command starts in, so killed processes count too), where the time went (student code for
this grader; test cells, other cells and the rest for nbgrader), per-submission medians
without the submissions that hit a time limit, the load average and the thread settings.

Where the two differ by design, and how the comparison treats it:

* hidden inputs: nbgrader's test cells hold one fixed draw for the whole class; this grader
  draws per submission (secret + notebook hash). Points agree only where an answer is right or
  wrong whatever the inputs, which is what a grader should measure; nothing is matched up.
* nbgrader gives a test cell 0 on any stderr output (a warning from the student's code
  included) and full marks on a negative partial credit, so the quiz cell floors its score at
  0 (this grader floors the submission's total, not the quiz; no student here goes negative).
* nbgrader runs every cell, so a looping function costs a timeout in every cell that calls it,
  graded or not (ten cells in lab 03); this grader, in each exercise that calls it (three), on
  a clock of 1000x the reference's time (at least ``Limits.exercise_floor``).
* a file nbgrader cannot read records no grades; it counts as 0 points here, as this grader's
  "rejected" does, and both statuses are printed.

    .venv/bin/python benchmarks/compare_nbgrader.py --install    # once: nbgrader 0.9.6 into .cache/ (PyPI)
    .venv/bin/python benchmarks/compare_nbgrader.py [--n 40] [--notebooks whole|graded|both] [--keep DIR]

Exits 1 when any student's points differ between the two graders.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = "03"
ASSIGNMENT = f"lab{LAB}"
NBGRADER = "nbgrader==0.9.6"
DEFAULT_VENV = REPO / ".cache" / "nbgrader-venv"
SECRET = "compare-nbgrader"  # hidden inputs only need to be the same across runs of this benchmark
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

# ----------------------------------------------------------------------------- conversion


def nbgrader_meta(grade_id: str, *, solution: bool = False, points: float | None = None) -> dict:
    """nbgrader's cell metadata (schema 3): an answer cell, or a locked test cell worth ``points``."""
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": points is not None,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = float(points)
    return meta


def exercise_test_source(lab: str, ex, seed: int) -> str:
    """A test cell running exercise ``ex``'s cases (drawn with ``seed``) through the spec; its value is the points."""
    call = f"_ex.run({ex.function}, _copy.deepcopy(_args))"
    return f"""\
# Hidden test of `{ex.function}` ({ex.points:g} points, shared equally by the cases)
{BEGIN_HIDDEN}
import copy as _copy

import numpy as _np

from i2dl_lab.grading.specs import lab{lab} as _spec

_ex = next(e for e in _spec.EXERCISES if e.id == {ex.id!r})
_cases = list(_ex.cases(_np.random.default_rng({seed})))
_passed = 0
for _args in _cases:
    try:
        _ok, _ = _ex.check(_ex.run(_ex.reference, _copy.deepcopy(_args)), {call})
    except Exception:  # a case that raises fails, as in the grader; the other cases still count
        _ok = False
    _passed += _ok is True or _ok is _np.True_
{float(ex.points)!r} * _passed / len(_cases)
{END_HIDDEN}"""


def quiz_test_source(key: dict) -> str:
    """A test cell scoring ``ANSWERS`` with the exam rules; floored at 0 (nbgrader reads a negative as full marks)."""
    return f"""\
# Hidden test of the quiz: true/false +2/-1/0, multiple choice 4 points -2 per wrong selection
{BEGIN_HIDDEN}
from i2dl_lab.grading.spec import QUIZ_RULES as _rules

max(0.0, float(sum(_rules.score(ANSWERS, {key!r}).values())))
{END_HIDDEN}"""


def _test_cell(grade_id: str, points: float, source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": grade_id.replace("_", "-"),
            "metadata": {"nbgrader": nbgrader_meta(grade_id, points=points)}, "outputs": [], "source": source}


def to_nbgrader(nb: dict, lab: str, exercises, quiz_key: dict, seeds: dict[str, int],
                release: dict[str, dict] | None = None) -> dict:
    """``nb`` (a solution or a student notebook of ours) as the same notebook in an nbgrader course.

    Each exercise cell (``{"i2dl": {"exercise": id}}``) becomes the answer cell ``id`` followed
    by the test cell ``test_<id>``; the quiz cell becomes ``quiz`` followed by ``test_quiz``.
    Every other cell is kept as it is. Without ``release`` this is the instructor's source
    notebook. With ``release`` (nbgrader's released cells by grade id) it is a student's copy:
    the test cells and every nbgrader cell's metadata come from nbgrader's release, as a
    student of an nbgrader course would have them; autograde restores the hidden tests.
    """
    from i2dl_lab.grading.spec import QUIZ_RULES

    def answer(cell: dict, grade_id: str) -> dict:
        meta = release[grade_id]["metadata"]["nbgrader"] if release else nbgrader_meta(grade_id, solution=True)
        cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(meta)
        return cell

    def test(grade_id: str, points: float, source: str) -> dict:
        return copy.deepcopy(release[grade_id]) if release else _test_cell(grade_id, points, source)

    by_id = {ex.id: ex for ex in exercises}
    cells = []
    for cell in nb.get("cells", []):
        cell = copy.deepcopy(cell)
        i2dl = (cell.get("metadata") or {}).get("i2dl") or {}
        if cell.get("cell_type") != "code":
            cells.append(cell)
        elif i2dl.get("exercise") in by_id:
            ex = by_id[i2dl["exercise"]]
            cells += [answer(cell, ex.id),
                      test(f"test_{ex.id}", ex.points, exercise_test_source(lab, ex, seeds[ex.id]))]
        elif i2dl.get("quiz") is True and quiz_key:
            points = QUIZ_RULES.max_points(quiz_key)
            cells += [answer(cell, "quiz"), test("test_quiz", points, quiz_test_source(quiz_key))]
        else:
            cells.append(cell)
    return dict(nb, cells=cells)


def graded_cells_only(nb: dict, exercises) -> dict:
    """``nb`` cut to what this grader runs of it: the import lines its exercise cells use, those cells, the quiz.

    The units come from the grader's own static plan (``codecheck.plan``), in notebook order.
    """
    from i2dl_lab.grading.codecheck import plan
    from i2dl_lab.grading.notebook import parse_notebook

    parsed, _ = parse_notebook(json.dumps(nb).encode())
    cells = []
    for u in plan(parsed, exercises).units:
        if u["kind"] == "exercise":
            cells.append(copy.deepcopy(nb["cells"][u["cell"]]))
        else:
            cells.append({"cell_type": "code", "execution_count": None, "id": f"imports-of-cell-{u['cell']}",
                          "metadata": {}, "outputs": [], "source": u["source"]})
    cells += [copy.deepcopy(c) for c in nb["cells"]
              if c.get("cell_type") == "code" and ((c.get("metadata") or {}).get("i2dl") or {}).get("quiz") is True]
    return dict(nb, cells=cells)


def lab_parts(lab: str):
    """The lab's solution notebook, its exercises, its quiz key and the fixed seed of each exercise's cases."""
    from i2dl_lab.grading.grader import case_seed, load_spec, resolve_lab

    cfg = resolve_lab(lab, source=REPO / "labs")
    exercises = list(load_spec(cfg.spec).EXERCISES)
    # one draw for the whole class, as nbgrader's hidden tests are the same for every student
    seeds = {ex.id: case_seed(SECRET.encode(), lab, ex.id, "the same for every student") for ex in exercises}
    solution = next((REPO / "labs").glob(f"{lab}_*.ipynb"))
    return solution, exercises, cfg.quiz_key, seeds


# ----------------------------------------------------------------------------- running both graders


def install(venv: Path) -> None:
    """Create ``venv`` with nbgrader 0.9.6 (from PyPI); the project's own environment is not touched."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", NBGRADER], check=True)


def _cpu_group() -> tuple[Path, str] | None:
    """A fresh CPU-accounting cgroup (v2, else v1 cpuacct) and its usage file, or None where none can be made."""
    for base, usage in ((Path("/sys/fs/cgroup"), "cpu.stat"), (Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage")):
        if (base / usage).exists():
            group = base / f"i2dl-compare-nbgrader-{os.getpid()}-{time.monotonic_ns()}"
            try:
                group.mkdir()
            except OSError:
                continue
            return group, usage
    return None


def _cpu_seconds(group: Path, usage: str) -> float:
    text = (group / usage).read_text()
    if usage == "cpu.stat":
        return int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("usage_usec"))) / 1e6
    return int(text) / 1e9


def timed(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, float, float, str]:
    """Run ``cmd``; returns the process, its wall seconds, its CPU seconds and how they were counted.

    The command starts in a cgroup of its own, so the CPU of every process it starts counts,
    killed ones included. Without cgroups, ``RUSAGE_CHILDREN`` counts only processes that were
    waited for (a sandbox child killed inside its own PID namespace may be missed).
    """
    cg = _cpu_group()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    join = (lambda: (cg[0] / "cgroup.procs").write_text("0")) if cg else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=join, **kw)
    wall = time.perf_counter() - t0
    if cg:
        cpu, how = _cpu_seconds(*cg), "cgroup"
        try:
            cg[0].rmdir()
        except OSError:
            print(f"note: processes of {cmd[0]} outlived it in {cg[0]}", file=sys.stderr)
        return proc, wall, cpu, how
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), "rusage"


def _cell_seconds(path: Path) -> tuple[float, float]:
    """Seconds an autograded notebook's test cells and its other cells ran (nbclient's timing metadata)."""
    from datetime import datetime

    tests = other = 0.0
    for c in json.loads(path.read_text()).get("cells", []):
        ex = (c.get("metadata") or {}).get("execution") or {}
        if "iopub.execute_input" in ex and "shell.execute_reply" in ex:
            secs = (datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
                    - datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
            if ((c.get("metadata") or {}).get("nbgrader") or {}).get("grade"):
                tests += secs
            else:
                other += secs
    return tests, other


def nbgrader_env(venv: Path, course: Path) -> dict:
    env = dict(os.environ)
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", JUPYTER_PATH=str(course / "jupyter"),
               JUPYTER_CONFIG_DIR=str(course / ".jupyter"), JUPYTER_DATA_DIR=str(course / ".jupyter-data"),
               IPYTHONDIR=str(course / ".ipython"), MPLBACKEND="agg")
    env.pop("VIRTUAL_ENV", None)
    return env


def build_course(course: Path, venv: Path, subs: Path, lab, graded_only: bool, timeout: int) -> list[str]:
    """An nbgrader course in ``course``: the source assignment, nbgrader's release of it, every file of ``subs``.

    ``graded_only``: every notebook is first cut to what this grader runs (:func:`graded_cells_only`).
    """
    from i2dl_lab.grading.notebook import SubmissionError

    solution, exercises, quiz_key, seeds = lab
    name = solution.name

    def convert(nb: dict, release=None) -> dict:
        return to_nbgrader(graded_cells_only(nb, exercises) if graded_only else nb, LAB, exercises, quiz_key, seeds,
                           release)

    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "source" / ASSIGNMENT / name).write_text(json.dumps(convert(json.loads(solution.read_text())), indent=1))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'i2dl'\n"
        f"c.Execute.timeout = {timeout}\n")
    # the kernel nbgrader starts is this interpreter (the lab's packages), under the name the notebooks ask for
    kdir = course / "jupyter" / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    gen = subprocess.run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], cwd=course,
                         env=nbgrader_env(venv, course), capture_output=True, text=True)
    if gen.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{gen.stdout}\n{gen.stderr}")
    released = json.loads((course / "release" / ASSIGNMENT / name).read_text())
    release = {c["metadata"]["nbgrader"]["grade_id"]: c for c in released["cells"] if "nbgrader" in c["metadata"]}
    students = []
    for f in sorted(subs.glob("*.ipynb")):
        dest = course / "submitted" / f.stem / ASSIGNMENT
        dest.mkdir(parents=True)
        data = f.read_bytes()
        try:
            data = json.dumps(convert(json.loads(data), release)).encode()
        except (ValueError, TypeError, KeyError, AttributeError, SubmissionError):
            pass  # not a notebook this conversion can read: nbgrader gets the file as it came, as this grader does
        (dest / name).write_bytes(data)
        students.append(f.stem)
    return students


_READ_GRADES = """\
import json, sys
from nbgrader.api import Gradebook, MissingEntry
out = {}
with Gradebook(sys.argv[1]) as gb:
    for student in sys.argv[3:]:
        try:
            sub = gb.find_submission(sys.argv[2], student)
        except MissingEntry:
            continue
        out[student] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
print(json.dumps(out))
"""


def run_nbgrader(venv: Path, course: Path, students: list[str]) -> dict:
    """``nbgrader autograde`` on the course, timed; per student its points per test cell, or ``None`` if it failed."""
    env = nbgrader_env(venv, course)
    start = time.time()
    proc, wall, cpu, how = timed(["nbgrader", "autograde", ASSIGNMENT], cwd=course, env=env)
    (course / "autograde.log").write_text(proc.stdout + proc.stderr)
    read = subprocess.run([str(venv / "bin" / "python"), "-c", _READ_GRADES, f"sqlite:///{course / 'gradebook.db'}",
                           ASSIGNMENT, *students], capture_output=True, text=True, env=env, check=True)
    grades = json.loads(read.stdout)
    done = {p.parent.parent.name: p for p in (course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")}
    # nbgrader goes through the students in order and writes each autograded notebook when it is done
    # with it: the time since the previous one is that submission's (a failed one's goes to the next)
    order = sorted(done, key=lambda s: done[s].stat().st_mtime)
    stamps = [start] + [done[s].stat().st_mtime for s in order]
    seconds = {s: b - a for s, a, b in zip(order, stamps, stamps[1:])}
    cells = [_cell_seconds(p) for p in done.values()]
    # a submission nbgrader could not process leaves no autograded notebook (its gradebook rows, if any, read 0)
    points = {s: grades.get(s) if s in done else None for s in students}
    return {"wall": wall, "cpu": cpu, "cpu_how": how, "rc": proc.returncode, "points": points, "seconds": seconds,
            "test_cells": sum(t for t, _ in cells), "other_cells": sum(o for _, o in cells)}


def our_points(db: Path) -> tuple[dict[str, dict], dict[str, object]]:
    """Per student the gradebook row (points per exercise) and the full result (times)."""
    from i2dl_lab.grading.gradebook import Gradebook

    with Gradebook(db) as book:
        rows = {r["student"]: r for r in book.latest(LAB)}
        results = {r["student"]: book.result(r["lab"], r["sha256"], r["student"]) for r in rows.values()}
    return rows, results


def run_ours(subs: Path, db: Path, key_file: Path) -> dict:
    """``i2dl-lab grade 03 SUBS --jobs 1``, timed; per student its gradebook row."""
    cli = Path(sys.executable).parent / "i2dl-lab"
    proc, wall, cpu, how = timed([str(cli), "grade", LAB, str(subs), "--db", str(db), "--key-file", str(key_file),
                                  "--jobs", "1", "--source", str(REPO / "labs")], cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"i2dl-lab grade failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    rows, results = our_points(db)
    student_code = sum(c.seconds or 0.0 for r in results.values() for e in r.exercises for c in e.cases)
    timed_out = {s for s, r in results.items() if any("time limit" in (e.message or "") for e in r.exercises)}
    parts: dict[str, float] = {}
    for r in results.values():
        for k, v in (getattr(r, "timing", None) or {}).items():
            parts[k] = parts.get(k, 0.0) + float(v)
    return {"wall": wall, "cpu": cpu, "cpu_how": how, "rows": rows, "student_code": student_code,
            "seconds": {s: r.seconds for s, r in results.items()}, "timed_out": timed_out, "parts": parts}


def compare(students: list[str], ours: dict, theirs: dict) -> list[str]:
    """Print both graders' points per student; returns the students whose totals differ."""
    print(f"  {'student':8} {'this grader':>21} {'nbgrader':>21}")
    differ = []
    for s in students:
        mine, their = ours["rows"].get(s), theirs["points"].get(s)
        mine_total = float(mine["score"]) if mine else 0.0
        their_total = float(sum(v or 0.0 for v in their.values())) if their else 0.0
        notes = [f"{ex} {float(p):g} vs {float((their or {}).get(f'test_{ex}') or 0.0):g}"
                 for ex, p in (mine["exercises"] if mine else {}).items()
                 if abs(float(p) - float((their or {}).get(f"test_{ex}") or 0.0)) > 1e-6]
        ok = abs(mine_total - their_total) <= 1e-6
        differ += [] if ok else [s]
        print(f"  {s:8} {mine_total:7.3f} ({mine['status'] if mine else 'missing':>11}) {their_total:7.3f} "
              f"({'graded' if their is not None else 'failed':>11})" + ("" if ok else "  DIFFER: " + "; ".join(notes)))
    return differ


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40, help="submissions in the class (default 40)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"nbgrader's environment (default {DEFAULT_VENV})")
    ap.add_argument("--install", action="store_true", help=f"create --venv with {NBGRADER} from PyPI first")
    ap.add_argument("--notebooks", choices=["whole", "graded", "both"], default="both",
                    help="what nbgrader runs: the whole notebooks (what nbgrader does), only the cells this grader "
                         "runs, or both (default)")
    ap.add_argument("--keep", type=Path, default=None, help="build the class and the courses here and keep them")
    args = ap.parse_args()
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    os.environ.setdefault("I2DL_PLAIN_PROGRESS", "1")
    if args.install:
        install(args.venv)
    if not (args.venv / "bin" / "nbgrader").exists():
        raise SystemExit(f"no nbgrader in {args.venv}; create it once with: {sys.executable} {sys.argv[0]} --install")

    from bench_grading import make_class  # benchmarks/ is this script's folder

    from i2dl_lab.grading.sandbox import Limits

    lab = lab_parts(LAB)
    timeout = int(Limits().wall_per_exercise)
    modes = ["whole", "graded"] if args.notebooks == "both" else [args.notebooks]
    with tempfile.TemporaryDirectory(prefix="i2dl-nbgrader-") as tmp:
        root = args.keep or Path(tmp)
        for d in ["subs", *modes]:
            shutil.rmtree(root / d, ignore_errors=True)
        for f in ["grading.key", "ours-1.sqlite", "ours-2.sqlite"]:
            (root / f).unlink(missing_ok=True)
        (root / "subs").mkdir(parents=True)
        kinds = make_class(root / "subs", args.n)
        key_file = root / "grading.key"
        key_file.write_text(SECRET + "\n")
        key_file.chmod(0o600)
        courses = {m: root / m for m in modes}
        for m, course in courses.items():
            course.mkdir()
            students = build_course(course, args.venv, root / "subs", lab, m == "graded", timeout)
        # this grader before and after nbgrader, so a change in the shared load shows
        load = [os.getloadavg()]
        ours = [run_ours(root / "subs", root / "ours-1.sqlite", key_file)]
        load.append(os.getloadavg())
        theirs = {}
        for m, course in courses.items():
            theirs[m] = run_nbgrader(args.venv, course, students)
            load.append(os.getloadavg())
        ours.append(run_ours(root / "subs", root / "ours-2.sqlite", key_file))
        load.append(os.getloadavg())

    n = len(students)
    print(f"lab {LAB}: {n} submissions {dict(kinds)}; {os.cpu_count()} cores; "
          + ", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARS)
          + f"; nbgrader's per-cell timeout {timeout} s = this grader's cap on an exercise's clock")
    regrade = [s for s in students if (ours[0]["rows"].get(s) or {}).get("score")
               != (ours[1]["rows"].get(s) or {}).get("score")]
    differ = {}
    for m in modes:
        what = "whole notebooks" if m == "whole" else "only the cells this grader runs"
        print(f"nbgrader on {what} (autograde exit code {theirs[m]['rc']}) vs this grader:")
        differ[m] = compare(students, ours[0], theirs[m])
    walls = [o["wall"] for o in ours]
    slow = ours[0]["timed_out"]
    rest = [s for s in students if s not in slow]

    def median_of(seconds: dict) -> str:
        vals = [seconds[s] for s in rest if s in seconds]
        return f"{statistics.median(vals):.3f} s" if vals else "n/a"

    print(f"this grader, --jobs 1: wall {walls[0]:.2f} s and {walls[1]:.2f} s (before / after nbgrader) = "
          f"{statistics.mean(walls) / n:.3f} s per submission; CPU {ours[0]['cpu']:.2f} s and {ours[1]['cpu']:.2f} s "
          f"({ours[0]['cpu_how']}); student code {ours[0]['student_code']:.2f} s of the first run; median per "
          f"submission {median_of(ours[0]['seconds'])}" + (f" without the {len(slow)} that hit a time limit "
          f"({', '.join(sorted(slow))}), which took {sum(ours[0]['seconds'][s] for s in slow):.1f} s" if slow else ""))
    if ours[0]["parts"]:
        print("  where its time went (first run, summed over submissions, as the grader records it): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in ours[0]["parts"].items()))
    for m in modes:
        t = theirs[m]
        print(f"nbgrader autograde, {m} notebooks: wall {t['wall']:.2f} s = {t['wall'] / n:.3f} s per submission, "
              f"{t['wall'] / statistics.mean(walls):.1f}x this grader's; CPU {t['cpu']:.2f} s ({t['cpu_how']}); "
              f"test cells ran {t['test_cells']:.2f} s, other cells {t['other_cells']:.2f} s, the rest is kernel "
              f"start-up and nbgrader; median per submission {median_of(t['seconds'])}"
              + (f", {sum(t['seconds'].get(s, 0.0) for s in slow):.1f} s for {', '.join(sorted(slow))}"
                 if slow else ""))
    print("load average (1, 5, 15 min) before and after each run: "
          + " | ".join(", ".join(f"{x:.2f}" for x in la) for la in load))
    failed = False
    if regrade:
        print(f"this grader gave other points on its second run to: {', '.join(regrade)}")
        failed = True
    for m in modes:
        if differ[m]:
            print(f"POINTS DIFFER ({m} notebooks) for {len(differ[m])} of {n} students: {', '.join(differ[m])}")
            failed = True
        else:
            print(f"points agree for all {n} students ({m} notebooks)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
