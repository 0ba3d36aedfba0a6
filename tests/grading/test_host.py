"""A hostile class, categories 6 (the host) and 7 (grading as an ordinary user): exact scores and messages.

Category 7 runs as root (as CI does) and as an unprivileged user that the set-up creates
(``useradd``); ``run_as_user.py`` starts the grader as that user.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from i2dl_lab.grading.batch import grade_batch
from i2dl_lab.grading.gradebook import Gradebook
from i2dl_lab.grading.sandbox import UID_BASE, SandboxUnavailable, memory

from .conftest import CONTAINED, FULL, ROOT, ex, fast_limits, relu_only_lost, with_relu
from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout

REPO = Path(__file__).resolve().parents[2]
USER = "i2dl-grading-test"



# ================================================================== 6. the host
MANY_PROCESSES = """import os, time
def relu(x):
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            hold = b"1" * (300 << 20)  # 300 MiB, every page written
            time.sleep(0.3)
            os._exit(0)
        kids.append(pid)
    if any(os.waitpid(k, 0)[1] != 0 for k in kids):
        raise RuntimeError("a process was killed")
    return np.maximum(x, 0)
"""


@pytest.mark.skipif(not ROOT, reason="a memory cgroup needs root")
def test_6_the_memory_cap_holds_over_all_of_a_submissions_processes(grade, cfg):
    # 6 x 300 MiB against a 1 GiB cap (the kernel's out-of-memory kills take a few seconds per case)
    r = grade(with_relu(MANY_PROCESSES), config=replace(cfg, limits=fast_limits(wall_per_exercise=40.0,
                                                                               wall_per_submission=80.0)))
    if not r.sandbox["memory"].startswith("cgroup"):
        pytest.skip(f"no memory cgroup here: {r.sandbox['memory']}")
    e = relu_only_lost(r, message="0 of 4 hidden cases passed")
    assert e.cases[0].feedback == "raised RuntimeError at line 12 of the exercise cell"
    # a later case may find the killed processes not yet reaped (the process count is capped too)
    assert {c.feedback for c in e.cases} <= {"raised RuntimeError at line 12 of the exercise cell",
                                            "raised BlockingIOError at line 5 of the exercise cell"}
    assert int(r.sandbox["memory_peak_bytes"]) <= fast_limits().memory_bytes


def test_6_without_a_cgroup_one_process_is_the_whole_submission(grade, monkeypatch):
    monkeypatch.setattr(memory, "create", lambda limit: None)
    r = grade(with_relu(MANY_PROCESSES))
    assert r.sandbox["memory"] == "no cgroup: 1024 MiB address space and a single process (RLIMIT_NPROC 1)"
    relu_only_lost(r, feedback="raised BlockingIOError at line 5 of the exercise cell")


FLOOD = """import os
def relu(x):
    head = b'{"ev": "result", "ex": "relu", "case": 0, "ok": true, "out": {"$l": ['
    for fd in range(3, 64):
        try:
            os.write(fd, head)
            for _ in range(60):
                os.write(fd, b'{},' * 350_000)  # 60 MiB of empty objects in one line
            os.write(fd, b'{}]}}\\n')
        except OSError:
            pass
    return np.maximum(x, 0)
"""


def test_6_a_flood_on_the_answer_pipe_keeps_the_grader_small(tmp_path, course):
    peaks = {}
    for name, cells in (("honest", D.solution_cells()), ("flood", with_relu(FLOOD))):
        D.write(tmp_path / f"{name}.ipynb", D.notebook(cells))
        script = ("import resource\n"
                  "from i2dl_lab.grading.grader import grade_bytes, resolve_lab\n"
                  "from i2dl_lab.grading.sandbox import Limits\n"
                  f"cfg = resolve_lab('97', spec={D.SPEC!r}, source={str(course)!r}, secret=b'x', "
                  "limits=Limits(wall_per_exercise=20.0, exercise_floor=20.0))\n"
                  f"r = grade_bytes(open({str(tmp_path / name)!r} + '.ipynb', 'rb').read(), 'x.ipynb', cfg)\n"
                  "print(r.score, r.exercise('relu').message)\n"
                  "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
        p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
        assert p.returncode == 0, p.stderr
        result, peak = p.stdout.splitlines()
        peaks[name] = int(peak)
    assert result == f"{CONTAINED} the process sent an answer longer than {16 * 2**20} bytes"
    # what the flood adds: the 16 MiB line buffer and its copy, a small multiple of the message cap
    assert peaks["flood"] - peaks["honest"] < 4 * 16, peaks


def test_6_no_writes_outside_the_private_temp(grade):
    tag = uuid.uuid4().hex
    targets = [f"/run/lock/{tag}", f"/var/tmp/{tag}", f"/dev/shm/{tag}", f"/tmp/{tag}"]
    body = ("def relu(x):\n"
            f"    for p in {targets!r}:\n"
            "        with open(p, 'wb') as fh:\n"
            "            fh.write(b'x' * (1 << 20))\n"
            "    return np.maximum(x, 0)\n")
    r = grade(with_relu(body))
    assert r.score == FULL
    assert [t for t in targets if os.path.exists(t)] == []


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (uid, parent pid, command line) of every live process."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
        out[int(pid)] = (uid, ppid, cmd)
    return out


SLEEPER = """import os, time
def relu(x):
    if os.fork() == 0:
        os.setsid()
        time.sleep(300)
        os._exit(0)
    time.sleep(300)
"""


@pytest.mark.skipif(not ROOT, reason="finding a child's processes by its unprivileged uid needs root")
def test_6_kill_9_of_the_grader_takes_every_child_and_the_next_run_sweeps_its_temp(tmp_path, course):
    D.write(tmp_path / "subs" / "ada" / "97_demo.ipynb", D.notebook(with_relu(SLEEPER)))
    env = dict(os.environ, PYTHONPATH=str(REPO), I2DL_GRADING_SECRET="s", I2DL_PLAIN_PROGRESS="1")
    args = [sys.executable, "-m", "i2dl_lab.grading", "grade", "97", str(tmp_path / "subs"), "--db",
            str(tmp_path / "gb.sqlite"), "--spec", D.SPEC, "--source", str(course), "--timeout", "60"]
    grader = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandboxed = []
    for _ in range(300):
        sandboxed = [p for p, (uid, _, _) in _processes().items() if uid >= UID_BASE]
        if len(sandboxed) >= 2:  # the submission and the daemon it started
            break
        time.sleep(0.1)
    assert len(sandboxed) >= 2
    servers = [p for p, (_, ppid, cmd) in _processes().items() if ppid == grader.pid and "serve(" in cmd]
    # the child's cgroup (as root), and its temp folder unless already removed (it goes once the child is confined)
    stale = memory.paths_of(tempfile.gettempdir(), grader.pid)
    assert stale and servers
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    for _ in range(50):
        left = [p for p in sandboxed + servers if p in _processes()]
        if not left:
            break
        time.sleep(0.1)
    assert left == []
    D.write(tmp_path / "next" / "bob" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    p = subprocess.run(args[:5] + [str(tmp_path / "next")] + args[6:], env=env, cwd=REPO, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert [s for s in stale if os.path.exists(s)] == []


# ================================================================== 7. grading as an ordinary user
def test_7_a_confinement_step_that_fails_stops_grading_before_any_submission(tmp_path, cfg):
    D.write(tmp_path / "subs" / "ada" / "97_demo.ipynb", D.notebook(D.solution_cells()))
    broken = replace(cfg, limits=fast_limits(scratch_bytes=-1))  # the private /tmp cannot be mounted
    with pytest.raises(SandboxUnavailable, match=r"cannot isolate submissions here: ConfinementError: shared /tmp "
                                                 r"\(could not mount a private one\)"):
        grade_batch(broken, [tmp_path / "subs"], tmp_path / "gb.sqlite", quiet=True)
    with Gradebook(tmp_path / "gb.sqlite") as book:
        assert book.rows() == []


ATTACK = """import os, signal
def relu(x):
    seen = []
    for p in (KEY, DB, SOLUTION):
        try:
            with open(p, 'ab') as fh:
                fh.write(b'0')
            seen.append('WROTE ' + os.path.basename(p))
        except OSError as e:
            seen.append(type(e).__name__)
    try:
        os.kill(-1, signal.SIGKILL)  # every process this user may signal: the grader too, unless out of reach
        seen.append('killed something')
    except ProcessLookupError:
        seen.append('nothing to kill')
    raise RuntimeError(repr(seen))
"""


@pytest.fixture(scope="module")
def ordinary_user():
    if not ROOT:
        pytest.skip("creating the unprivileged user needs root (CI runs as root)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    return pwd.getpwnam(USER)


@pytest.mark.parametrize("as_user", [False, True], ids=["root", "ordinary-user"])
def test_7_the_child_cannot_read_keys_touch_the_gradebook_or_kill_the_grader(tmp_path, ordinary_user, as_user):
    home = Path(tempfile.mkdtemp(prefix="i2dl-course-"))
    try:
        labs = D.source_dir(home)
        key, db = home / "grading.key", home / "gb" / "gradebook.sqlite"
        key.write_text("TOP-SECRET-KEY\n")
        key.chmod(0o600)
        setup = f"KEY, DB, SOLUTION = {str(key)!r}, {str(db)!r}, {str(labs / '97_demo.ipynb')!r}\n"
        D.write(home / "subs" / "ada" / "97_demo.ipynb", D.notebook(with_relu(setup + ATTACK)))
        args = [sys.executable, "-m", "i2dl_lab.grading", "grade", "97", str(home / "subs"), "--db", str(db),
                "--spec", D.SPEC, "--source", str(labs), "--key-file", str(key)]
        env = dict(os.environ, PYTHONPATH=str(REPO), I2DL_PLAIN_PROGRESS="1", HOME=str(home))
        if as_user:
            shutil.chown(home, ordinary_user.pw_uid, ordinary_user.pw_gid)
            for p in home.rglob("*"):
                shutil.chown(p, ordinary_user.pw_uid, ordinary_user.pw_gid)
            home.chmod(0o700)
            args = [sys.executable, str(Path(__file__).with_name("run_as_user.py")), USER, *args]
        p = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        with Gradebook(db) as book:
            (row,) = book.rows()
            r = book.result("97", row["sha256"], "ada")
        assert key.read_text() == "TOP-SECRET-KEY\n"
        relu_only_lost(r, message="0 of 4 hidden cases passed")
        assert ex(r, "relu").cases[0].message == \
            "RuntimeError: ['FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError', 'nothing to kill']"
        expected_user = "without capabilities" if as_user else "(unprivileged)"
        assert expected_user in r.sandbox["user"] and r.sandbox["processes"].startswith("own PID namespace")
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ================================================================== spare children (started before their submission)
def _alive(pid: int) -> bool:
    return pid in _processes()


def test_spare_children_serve_one_submission_each_and_end_with_the_batch(cfg):
    from i2dl_lab.grading.grader import grade_bytes
    from i2dl_lab.grading.sandbox import _SPARES, spare_children

    solution = D.notebook(D.solution_cells())
    spares, results = [], []
    with spare_children():
        for i in range(3):
            results.append(grade_bytes(D.dumps(solution) + b" " * i, f"s{i}.ipynb", cfg))
            (spare,) = _SPARES.values()  # the next submission's child, started and confined already
            assert _alive(spare.child.pid)
            spares.append(spare)
    assert [r.score for r in results] == [FULL] * 3
    assert len({s.child.pid for s in spares}) == 3 and not _SPARES
    # the batch's end stopped the last spare and removed what it had; the others each served one submission
    assert not any(_alive(s.child.pid) for s in spares)
    assert not any(os.path.exists(p) for s in spares for p in (s.base, s.cgroup) if p)
    if ROOT:  # each submission ran as the unique uid of the spare started for it
        uids = [int(re.search(r"uid (\d+)", r.sandbox["user"]).group(1)) for r in results]
        assert uids[1:] == [UID_BASE + s.child.pid for s in spares[:2]]


def test_a_spare_started_for_other_limits_is_stopped_not_used(cfg):
    from i2dl_lab.grading.grader import grade_bytes
    from i2dl_lab.grading.sandbox import _SPARES, spare_children

    solution = D.dumps(D.notebook(D.solution_cells()))
    with spare_children():
        grade_bytes(solution, "a.ipynb", cfg)
        (spare,) = _SPARES.values()
        other = replace(cfg, limits=fast_limits(memory_bytes=768 << 20))
        r = grade_bytes(solution + b" ", "b.ipynb", other)
        assert not _alive(spare.child.pid) and not os.path.exists(spare.base)
    assert r.score == FULL
    if ROOT:
        assert int(re.search(r"uid (\d+)", r.sandbox["user"]).group(1)) != UID_BASE + spare.child.pid
        assert "768 MiB" in r.sandbox["memory"]
