"""Submissions that attack the grader. Each gets an exact, explained score; the rest of its work still counts.

Every attack replaces the relu exercise (4 points) of an otherwise correct demo notebook
(20 points), so a contained attack scores exactly 16 unless stated otherwise.
"""

import os
import re
import socket
import threading

import pytest

from i2dl_lab.grading.release import release_notebook

from .conftest import CONTAINED, FULL, ROOT, ex, fast_limits, points, relu_only_lost, with_relu
from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout


# ------------------------------------------------------------------ runaway code
def test_infinite_loop_is_stopped_per_exercise(grade):
    r = grade(with_relu("def relu(x):\n    while True:\n        pass\n"))
    msg = "time limit exceeded in exercise 'relu' (4 s wall clock)"
    relu_only_lost(r, feedback=msg, message=msg)


def test_a_loop_costs_the_clock_its_reference_needs_not_the_cap(grade, cfg):
    """relu's reference takes microseconds, so its clock is the floor (1 s here), far below the 30 s cap."""
    r = grade(with_relu("def relu(x):\n    while True:\n        pass\n"),
              config=_with_limits(cfg, wall_per_exercise=30.0, exercise_floor=1.0))
    msg = "time limit exceeded in exercise 'relu' (1 s wall clock)"
    relu_only_lost(r, feedback=msg, message=msg)
    assert r.seconds < 10, r.seconds


def test_a_killed_loop_counts_its_cpu_time(grade, cfg):
    """The child is killed, not reaped: its CPU time still reaches the timing record (it used to read ~0.01 s)."""
    r = grade(with_relu("def relu(x):\n    while True:\n        pass\n"),
              config=_with_limits(cfg, wall_per_exercise=30.0, exercise_floor=1.0))
    relu_only_lost(r, message="time limit exceeded in exercise 'relu' (1 s wall clock)")
    # a second of busy looping; a quarter of it even on a machine three times oversubscribed
    assert 0.25 <= r.timing["child_cpu"] <= r.seconds + 1, r.timing


def test_loop_ignoring_sigint_and_sigterm_at_definition_time(grade):
    body = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass\n"
            "def relu(x):\n    return np.maximum(x, 0)\n")
    r = grade(with_relu(body))
    relu_only_lost(r, message="running the exercise cell failed: time limit exceeded in cell 2 (4 s wall clock)")


@pytest.mark.parametrize("body", [
    "def relu(x):\n    junk = []\n    while True:\n        junk.append(bytes(1 << 28))\n",
    "def relu(x):\n    y = x + 1\n\n    return np.ones((1 << 16, 1 << 16)) * y.sum()\n",
], ids=["growing-list", "huge-array"])
def test_memory_bomb_fails_with_memory_error(grade, body):
    r = grade(with_relu(body))
    relu_only_lost(r, feedback="raised MemoryError at line 4 of the exercise cell",
                   message="0 of 4 hidden cases passed")


@pytest.mark.slow
@pytest.mark.skipif(not ROOT, reason="process limits per child need root to switch to an unprivileged uid")
def test_fork_bomb_is_bounded_and_cleaned_up(grade):
    body = "import os\ndef relu(x):\n    while True:\n        os.fork()\n"
    r = grade(with_relu(body))
    e = relu_only_lost(r)
    # forked copies that survive answer on the shared channel too: a message out of order ends the child
    assert all(c.feedback.startswith(("raised BlockingIOError", "time limit", "the process sent a 'result' message "
                                      "out of order")) for c in e.cases)
    uid = int(re.search(r"uid (\d+)", r.sandbox["user"]).group(1))
    assert not _live(uid)  # every forked process was killed, zombies reaped


def _live(uid):
    import time

    for _ in range(50):  # killed processes may take a moment to be reaped
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/status") as fh:
                    status = fh.read()
            except OSError:
                continue
            if re.search(rf"^Uid:\s+{uid}\s", status, re.M) and "State:\tZ" not in status:
                alive.append(pid)
        if not alive:
            return []
        time.sleep(0.1)
    return alive


# ------------------------------------------------------------------ exiting early
def test_sys_exit_inside_the_function_fails_only_its_cases(grade):
    r = grade(with_relu("import sys\ndef relu(x):\n    sys.exit(0)\n"))
    relu_only_lost(r, feedback="raised SystemExit at line 3 of the exercise cell")


def test_os_exit_inside_the_function_is_charged_to_that_exercise(grade):
    r = grade(with_relu("import os\ndef relu(x):\n    os._exit(0)\n"))
    msg = "the process exited with status 0 before finishing (sys.exit/os._exit in your code?)"
    relu_only_lost(r, feedback=msg, message=msg)


def test_os_exit_while_the_cell_is_defined_skips_that_cell(grade):
    r = grade(with_relu("import os\nos._exit(0)\n" + D.RELU))
    relu_only_lost(r, message="running the exercise cell failed: the process exited with status 0 before finishing "
                              "(sys.exit/os._exit in your code?)")


def test_sys_exit_in_a_cell_does_not_stop_later_definitions(grade):
    r = grade(with_relu("import sys\nsys.exit(0)\n" + D.RELU))
    assert r.score == FULL
    assert any("SystemExit" in n for n in r.notes)


def test_exits_outside_exercise_cells_never_run(grade):
    cells = D.solution_cells()
    cells.insert(3, D._code("import os\nos._exit(0)\n"))
    assert grade(cells).score == FULL


# ------------------------------------------------------------------ faking results
def test_printed_fake_score_changes_nothing(grade):
    body = ("def relu(x):\n    print('Score: 100/100')\n    print('{\"ev\": \"done\"}')\n"
            "    print('All tests passed!')\n    return 2 * np.maximum(x, 0) + 1\n")
    r = grade(with_relu(body))
    e = relu_only_lost(r)
    assert e.cases[0].feedback.startswith("values differ (relative error")
    assert "Score: 100/100" in r.output  # kept for the instructor, never parsed


def test_fake_protocol_messages_cannot_raise_the_score(grade):
    body = ('import json, os\n'
            'def relu(x):\n'
            '    fake = json.dumps({"ev": "result", "ex": "scale", "case": 0, "ok": True, "out": 1.0}) + "\\n"\n'
            '    fake += json.dumps({"ev": "done"}) + "\\n"\n'
            '    for fd in range(3, 64):\n'
            '        try:\n'
            '            os.write(fd, fake.encode())\n'
            '        except OSError:\n'
            '            pass\n'
            '    return np.maximum(x, 0)\n')
    r = grade(with_relu(body))
    # the fake answer comes out of order: the child is stopped, relu is charged, the others run in a new child
    relu_only_lost(r, message="the process sent a 'result' message out of order (a forged answer?)")


@pytest.mark.parametrize("patch", [
    "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
    "np.testing.assert_allclose = lambda *a, **k: None\nnp.array_equal = lambda *a, **k: True\n",
    "print.__self__.abs = lambda v: 0\nprint.__self__.max = lambda *a, **k: 0\nprint.__self__.isinstance = "
    "lambda *a: True\n",
    "from i2dl_lab.grading import spec as S\nS.allclose = lambda *a, **k: (lambda e, g: (True, 'ok'))\n"
    "S._compare = lambda *a: (True, 'ok')\nS.Exercise.check = lambda self, e, g: (True, 'ok')\n",
], ids=["numpy", "builtins", "grading-module"])
def test_monkeypatching_the_child_does_not_reach_the_grader(grade, patch):
    body = patch + "def relu(x):\n    return np.abs(x) + 1.0\n"
    r = grade(with_relu(body))
    e = relu_only_lost(r)
    # patched builtins also break the child's own encoder: the answer is then unreadable, still not right
    assert all(c.feedback.startswith(("values differ", "returned", "raised", "running the exercise cell failed"))
               for c in e.cases), e.cases


def test_object_equal_to_everything_is_not_plain_data(grade):
    body = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
            "    def __array__(self, *a, **k):\n        raise RuntimeError\n"
            "def relu(x):\n    return Anything()\n")
    r = grade(with_relu(body))
    relu_only_lost(r, feedback="returned an object of a class defined in the notebook, which is not plain data "
                               "(numbers, arrays, tuples)")


def test_ndarray_subclass_with_custom_eq_is_compared_as_numbers(grade):
    body = ("class Eq(np.ndarray):\n    def __eq__(self, other):\n        return np.ones(self.shape, bool)\n"
            "def relu(x):\n    return np.zeros_like(x).view(Eq) - 1\n")
    relu_only_lost(grade(with_relu(body)))


def test_wrong_shapes_score_only_the_cases_they_get_right(grade):
    r = grade(with_relu("def relu(x):\n    return np.maximum(x, 0).reshape(-1)\n"))
    e = ex(r, "relu")
    assert [c.passed for c in e.cases] == [False, True, True, False]  # 2-D and 3-D inputs fail
    assert e.points == 2.0 and r.score == FULL - 2.0
    assert e.cases[0].feedback == "output has shape (20,), expected shape (4, 5)"


@pytest.mark.parametrize("expr", ["np.full_like(x, np.nan)", "np.full_like(x, np.inf)"])
def test_nan_and_inf_outputs_fail(grade, expr):
    r = grade(with_relu(f"def relu(x):\n    return {expr}\n"))
    relu_only_lost(r, feedback="output contains NaN or inf")


# ------------------------------------------------------------------ using the reference solution
@pytest.mark.parametrize("body, setup, why", [
    ("from i2dl_lab.grading.demo_reference import relu\n", "",
     "cell 2: the exercise cell must define `relu` at top level"),
    ("from i2dl_lab.grading.demo_reference import relu as r\ndef relu(x):\n    return r(x)\n", "",
     "cell 2: line 1: imports the library's reference `relu` from i2dl_lab.grading.demo_reference"),
    ("def relu(x):\n    return R.relu(x)\n", "import i2dl_lab.grading.demo_reference as R\n",
     "cell 2: line 2: uses the library's reference `R.relu`"),
    ("def relu(x):\n    return np.maximum(x, 0)\nrelu = ref.relu\n",
     "from i2dl_lab.grading import demo_reference as ref\n",
     "cell 2: line 3: uses the library's reference `ref.relu`"),
    ("import importlib\ndef relu(x):\n    return importlib.import_module('i2dl_lab.grading.demo_reference').relu(x)\n",
     "", "cell 2: line 1: imports importlib/builtins"),
    ("def relu(x):\n    return __import__('i2dl_lab.grading.demo_reference').relu(x)\n", "",
     "cell 2: line 2: uses `__import__`"),
    ("def relu(x):\n    return eval('np.maximum(x, 0)')\n", "", "cell 2: line 2: uses `eval`"),
], ids=["import-only", "import-and-wrap", "module-attribute", "alias", "importlib", "__import__", "eval"])
def test_reference_use_found_statically_scores_zero(grade, body, setup, why):
    r = grade(with_relu(body, setup))
    e = relu_only_lost(r)
    if why.startswith("cell 2: the exercise cell must define"):
        assert e.message == "the exercise cell must define `relu` at top level with `def` or `class`; it does not"
    else:
        assert e.message.startswith(why) and e.message.endswith("; scored 0"), e.message


def test_reference_reached_at_run_time_trips_the_wire(grade):
    body = ("import sys\n"
            "def relu(x):\n"
            "    mods = getattr(sys, 'mod' + 'ules')\n"
            "    m = [v for k, v in mods.items() if k.endswith('demo_' + 'reference')][0]\n"
            "    try:\n"
            "        return getattr(m, 're' + 'lu')(x)\n"
            "    except Exception:\n"
            "        return np.maximum(x, 0)\n")
    r = grade(with_relu(body))
    relu_only_lost(r, message="your code called the library's reference `relu`; graded functions must be your own "
                              "code (scored 0)")


# ------------------------------------------------------------------ the course's files
def _probe(paths) -> str:
    return ("import os\n"
            "def relu(x):\n"
            "    seen = []\n"
            f"    for p in {paths!r}:\n"
            "        try:\n"
            "            with open(p, 'rb') as fh:\n"
            "                seen.append(fh.read(200).decode('latin-1'))\n"
            "        except OSError as e:\n"
            "            seen.append(type(e).__name__)\n"
            "    for p in WRITE:\n"
            "        try:\n"
            "            with open(p, 'ab') as fh:\n"
            "                fh.write(b'{\"score\": 100}')\n"
            "            seen.append('WROTE ' + p)\n"
            "        except OSError as e:\n"
            "            seen.append(type(e).__name__)\n"
            "    seen.append(os.environ.get('I2DL_GRADING_SECRET'))\n"
            "    raise RuntimeError(repr(seen))\n")


@pytest.fixture
def open_course(tmp_path):
    """A course folder other users can enter (as on a real server), with a private key file."""
    import tempfile

    base = tempfile.mkdtemp(prefix="i2dl-course-")
    os.chmod(base, 0o755)
    yield base
    import shutil

    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("private_tmp", [True, False], ids=["private-tmp", "hidden-folders"])
def test_child_cannot_read_secrets_or_write_course_files(open_course, monkeypatch, private_tmp):
    from i2dl_lab.grading import cli as cli_mod
    from i2dl_lab.grading.cli import main as cli
    from i2dl_lab.grading.gradebook import Gradebook

    limits = cli_mod._limits
    monkeypatch.setattr(cli_mod, "_limits", lambda args: __import__("dataclasses").replace(
        limits(args), private_tmp=private_tmp))

    course = open_course
    labs = D.source_dir(__import__("pathlib").Path(course))
    key = os.path.join(course, "grading.key")
    with open(key, "w") as fh:
        fh.write("TOP-SECRET-KEY")
    os.chmod(key, 0o644)  # even a careless world-readable key file stays out of reach
    db = os.path.join(course, "gradebook.sqlite")
    subs = os.path.join(course, "submissions")
    os.makedirs(subs)
    solution = str(labs / "97_demo.ipynb")
    write = [db, os.path.join(course, "results.json"), os.path.join(subs, "other_student.ipynb")]
    cells = with_relu(_probe([key, solution, os.path.join(subs, "ada.ipynb")]), setup=f"WRITE = {write!r}\n")
    cells[2]["source"] = f"WRITE = {write!r}\n" + cells[2]["source"]
    D.write(__import__("pathlib").Path(subs) / "ada.ipynb", D.notebook(cells))
    monkeypatch.setenv("I2DL_GRADING_SECRET", "ENV-SECRET")
    rc = cli(["grade", "97", subs, "--db", db, "--spec", D.SPEC, "--source", str(labs), "--key-file", key,
              "--timeout", "5"])
    assert rc == 0
    with Gradebook(db) as book:
        (row,) = book.rows()
        result = book.result("97", row["sha256"], "ada")
    if not ROOT and not result.sandbox["network"].startswith("isolated"):
        pytest.skip("neither root nor user namespaces: only file permissions protect the course here")
    assert row["score"] == CONTAINED
    seen = ex(result, "relu").cases[0].message
    assert "TOP-SECRET" not in seen and "ENV-SECRET" not in seen and "BEGIN SOLUTION" not in seen
    assert "WROTE" not in seen and "None]" in seen
    assert not os.path.exists(os.path.join(course, "results.json"))
    assert not os.path.exists(os.path.join(subs, "other_student.ipynb"))
    if ROOT and private_tmp:
        assert result.sandbox["scratch"].startswith("private /tmp")
    elif ROOT:  # without a private /tmp the course folders are covered one by one (key file included)
        assert re.match(r"\d+ course path\(s\) hidden$", result.sandbox["files"]), result.sandbox


@pytest.mark.slow
def test_a_gigabyte_of_output_is_capped(grade, cfg):
    from dataclasses import replace

    body = ("import sys\ndef relu(x):\n    chunk = 'x' * (1 << 20)\n    for _ in range(256):\n"
            "        sys.stdout.write(chunk)\n    return np.maximum(x, 0)\n")
    r = grade(with_relu(body), config=replace(cfg, limits=fast_limits(wall_per_exercise=60.0,
                                                                      wall_per_submission=120.0)))
    assert r.score == FULL
    assert len(r.output) <= cfg.limits.output_bytes
    dropped = int(re.search(r"printed (\d+) more bytes", " ".join(r.notes)).group(1))
    assert dropped >= 2**30 - cfg.limits.output_bytes


def test_network_is_unreachable(grade):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def serve():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    t = threading.Thread(target=serve)
    t.start()
    body = ("import socket\ndef relu(x):\n    try:\n"
            f"        socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
            "        status = 'connected'\n    except OSError as e:\n        status = f'refused {e.errno}'\n"
            "    raise RuntimeError(status)\n")
    r = grade(with_relu(body))
    t.join()
    server.close()
    if not r.sandbox["network"].startswith("isolated"):
        pytest.skip(f"this OS gives no network namespace: {r['sandbox']['network']}")
    e = relu_only_lost(r)
    assert not accepted
    assert e.cases[0].message == "RuntimeError: refused 101"  # ENETUNREACH: no interface is up


# ------------------------------------------------------------------ edited notebooks
def test_deleted_exercise_cell_scores_zero_for_that_exercise(grade):
    cells = D.solution_cells()
    del cells[2]
    msg = "no exercise cell for 'relu': expected a code cell that defines `relu` (was the cell deleted?)"
    relu_only_lost(grade(cells), message=msg, feedback=msg)


@pytest.mark.parametrize("edit", ["strip-metadata", "other-id"])
def test_cell_with_lost_or_changed_metadata_is_still_found(grade, edit):
    cells = D.solution_cells()
    cells[2]["metadata"] = {} if edit == "strip-metadata" else {"i2dl": {"exercise": "affine"}}
    r = grade(cells)
    assert r.score == FULL
    assert "no cell carries the exercise id 'relu'" in ex(r, "relu").notes[0]


@pytest.mark.parametrize("later_is_right", [False, True])
def test_duplicated_cell_last_definition_counts(grade, later_is_right):
    cells = D.solution_cells()
    copy = D._code("def relu(x):\n    return x\n", exercise="relu")  # wrong: every case has negatives
    cells.insert(2 if later_is_right else 3, copy)
    r = grade(cells)
    e = ex(r, "relu")
    assert e.points == (4.0 if later_is_right else 0.0)
    assert e.notes[0].startswith("2 cells carry exercise id 'relu' (cells 2, 3); all run in order, so the last "
                                    "definition counts")


def test_tampered_helper_cells_are_not_run(grade):
    cells = D.solution_cells()
    cells.insert(3, D._code("self_check = lambda *a, **k: True\nrelu = lambda x: x\n"
                            "from i2dl_lab.grading.demo_reference import relu\n"))
    assert grade(cells).score == FULL


def test_released_notebook_with_wrong_lab_in_metadata_is_rejected(grade):
    student, _ = release_notebook(D.dumps(D.notebook(D.solution_cells())), "03")
    r = grade(student)
    assert r.status == "rejected" and r.message.endswith("belongs to lab 03, not lab 97")


# ------------------------------------------------------------------ the other limits
def _with_limits(cfg, **kw):
    from dataclasses import replace

    return replace(cfg, limits=fast_limits(**kw))


def test_submission_wall_clock_bounds_several_slow_exercises(grade, cfg):
    loop = "def {name}(*a):\n    while True:\n        pass\n"
    cells = D.solution_cells(relu=loop.format(name="relu"), affine=loop.format(name="affine_forward"))
    r = grade(cells, config=_with_limits(cfg, wall_per_exercise=3.0, wall_per_submission=5.0))
    assert points(r) == {"relu": 0.0, "affine": 0.0, "softmax": 0.0, "scale": 0.0, "quiz": 8.0}
    assert ex(r, "relu").message == "time limit exceeded in exercise 'relu' (3 s wall clock)"
    assert ex(r, "affine").message in ("time limit exceeded: the submission's 5 s wall clock ran out",
                                          "not run: the submission used up its 5 s time limit")  # a slow restart
    assert ex(r, "softmax").message == ex(r, "scale").message == \
        "not run: the submission used up its 5 s time limit"


def test_cpu_time_limit_kills_a_busy_child(grade, cfg):
    r = grade(with_relu("def relu(x):\n    while True:\n        pass\n"),
              config=_with_limits(cfg, wall_per_exercise=30.0, cpu_seconds=2))
    relu_only_lost(r, message="the process died from SIGXCPU: it used more than 2 s of CPU time")


def test_file_size_limit_stops_disk_filling(grade):
    body = ("def relu(x):\n    with open('big.bin', 'wb') as fh:\n        for _ in range(64):\n"
            "            fh.write(b'0' * (1 << 20))\n    return np.maximum(x, 0)\n")
    r = grade(with_relu(body))
    e = relu_only_lost(r, feedback="raised OSError at line 4 of the exercise cell")
    assert "File too large" in e.cases[0].message


def test_child_gets_a_fresh_private_directory_and_a_scrubbed_environment(grade, monkeypatch):
    from i2dl_lab.grading.sandbox import scrubbed_env

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
    body = ("import os\ndef relu(x):\n"
            "    raise RuntimeError(repr((os.getcwd(), os.listdir('.'), sorted(os.environ), os.getuid())))\n")
    r = grade(with_relu(body))
    e = relu_only_lost(r)
    cwd, listing, env, uid = eval(e.cases[0].message.split(": ", 1)[1])  # noqa: S307 - our own repr
    assert listing == [] and not os.path.exists(cwd)
    assert env == sorted(scrubbed_env("x")) and "leak-me" not in e.cases[0].message
    if ROOT:
        assert uid != 0
    cwds = {eval(c.message.split(": ", 1)[1])[0] for c in e.cases}  # noqa: S307
    assert len(cwds) == 1  # one directory per submission, shared by its exercises


def test_many_files_cannot_fill_the_disk(grade):
    body = ("def relu(x):\n    for i in range(1000):\n        with open(f'/tmp/f{i}.bin', 'wb') as fh:\n"
            "            fh.write(b'0' * (8 << 20))\n    return np.maximum(x, 0)\n")
    r = grade(with_relu(body))
    if not r.sandbox.get("scratch", "").startswith("private"):
        pytest.skip(f"no private /tmp on this OS: {r.sandbox.get('scratch')}")
    e = relu_only_lost(r, feedback="raised OSError at line 4 of the exercise cell")
    assert "No space left on device" in e.cases[0].message


def test_child_holds_no_socket_to_the_fork_server(grade):
    body = ("import os\ndef relu(x):\n    links = []\n    for fd in os.listdir('/proc/self/fd'):\n"
            "        try:\n            links.append(os.readlink('/proc/self/fd/' + fd))\n"
            "        except OSError:\n            pass\n    raise RuntimeError(repr(sorted(links)))\n")
    r = grade(with_relu(body))
    e = relu_only_lost(r)
    links = eval(e.cases[0].message.split(": ", 1)[1])  # noqa: S307 - our own repr
    assert r.sandbox["started_by"] == "fork server"
    assert not [ln for ln in links if ln.startswith("socket:")], links
    assert len({ln for ln in links if ln.startswith("pipe:")}) == 2  # stdout+stderr, and the answer pipe


@pytest.mark.parametrize("fork_server", [True, False], ids=["fork-server", "new-interpreter"])
def test_both_ways_of_starting_children_grade_alike(grade, cfg, fork_server):
    from dataclasses import replace

    conf = replace(cfg, limits=fast_limits(fork_server=fork_server))
    assert grade(D.solution_cells(), config=conf).score == FULL
    r = grade(with_relu("import os\ndef relu(x):\n    os._exit(3)\n"), config=conf)
    relu_only_lost(r, message="the process exited with status 3 before finishing (sys.exit/os._exit in your code?)")
    assert r.sandbox["started_by"] == ("fork server" if fork_server else "new interpreter")


@pytest.mark.parametrize("body, message", [
    ("import ctypes\ndef relu(x):\n    return ctypes.string_at(0)\n",
     "the process died from SIGSEGV: it crashed (segmentation fault)"),
    ("import os, signal\ndef relu(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
     "the process died from SIGKILL: it was killed (out of memory or a resource limit)"),
], ids=["segfault", "killed-like-the-oom-killer"])
def test_a_crashing_child_costs_only_that_exercise(grade, body, message):
    relu_only_lost(grade(with_relu(body)), message=message, feedback=message)


def test_child_cannot_see_the_grader_process_or_its_command_line(grade):
    body = ("import os\ndef relu(x):\n    seen = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "    try:\n        with open(f'/proc/{os.getppid()}/cmdline', 'rb') as fh:\n"
            "            cmd = fh.read().decode()\n    except OSError as e:\n        cmd = type(e).__name__\n"
            "    raise RuntimeError(repr((len(seen), str(os.getpid()) in seen, cmd)))\n")
    r = grade(with_relu(body))
    if not r.sandbox.get("processes", "").startswith("own PID namespace"):
        pytest.skip(f"no private /proc here: {r.sandbox.get('processes')}")
    e = relu_only_lost(r)
    n, me, cmd = eval(e.cases[0].message.split(": ", 1)[1])  # noqa: S307 - our own repr
    assert n == 1 and me and cmd == "FileNotFoundError"
