"""The sandboxed child that runs a submission's code, split by job.

launch      start the child: a fork of a warm fork server, or a fresh ``python -I``
confine     in the child, before student code: namespaces, private /tmp, hidden course
            folders, private /proc, resource limits, an unprivileged uid
execute     in the child: define the exercise cells, run the cases, answer on the channel
supervise   in the grader: clocks, output caps, the answer channel, killing what is left

:func:`run_child` puts them together for one :class:`~..protocol.Job`. When the grader runs
as root, the child drops to a unique unprivileged uid (``UID_BASE`` + its pid) before any
student code runs, so file permissions protect the course and the gradebook,
``RLIMIT_NPROC`` bounds its processes, and everything left behind under that uid can be
found and killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..protocol import Box, Job, Setup
from . import memory
from .launch import PKG_ROOT, PRELOADABLE, scrubbed_env, start
from .supervise import ChildRun, describe_exit, kill_uid, watch

__all__ = ["Limits", "ChildRun", "run_child", "preflight", "SandboxUnavailable", "hideable", "scrubbed_env",
           "describe_exit", "UID_BASE", "spare_children", "keep_spare_children", "discard_spares"]

#: Unprivileged uids the children use when the grader is root: UID_BASE + child pid.
UID_BASE = 1_500_000_000


@dataclass
class Limits:
    """Resource limits of one submission's child process.

    An exercise's wall clock is derived from what it needs: ``reference_multiple`` times the
    seconds its reference took on the same inputs, timed by the grader on the same machine
    when it computes the expected outputs (so a slower CPU gets proportionally more time),
    never less than ``exercise_floor`` (start-up effects: a first call, a lazy import) nor
    more than ``wall_per_exercise``. A cell load and the time between exercises get
    ``wall_per_exercise``. A looping exercise therefore costs ``exercise_floor`` seconds for
    a lab of small inputs, not ``wall_per_exercise``.
    """

    wall_per_exercise: float = 10.0      # seconds of wall clock at most per exercise (and per cell load)
    exercise_floor: float = 3.0          # seconds of wall clock at least per exercise
    reference_multiple: float = 1000.0   # an exercise's clock: this many times its reference's seconds
    wall_per_submission: float = 60.0    # seconds of wall clock for the whole submission
    startup: float = 30.0                # seconds to start Python and import NumPy + the spec
    cpu_seconds: int = 60                # RLIMIT_CPU after start-up
    memory_bytes: int = 2 * 2**30        # RLIMIT_AS
    file_bytes: int = 16 * 2**20         # RLIMIT_FSIZE
    nproc: int = 16                      # RLIMIT_NPROC (per uid; unique uid per child as root)
    output_bytes: int = 32 * 1024        # captured stdout/stderr kept (the rest is counted, dropped)
    protocol_bytes: int = 128 * 2**20    # answers the child may send
    scratch_bytes: int = 64 * 2**20      # size of the child's private /tmp (its working directory)
    private_tmp: bool = True             # give the child its own /tmp, /var/tmp, /dev/shm (tmpfs, capped)
    fork_server: bool = True             # fork children from a warm server instead of starting Python each time

    def as_dict(self) -> dict:
        return asdict(self)

    def exercise_seconds(self, reference_seconds: float) -> float:
        """The wall clock of an exercise whose reference ran ``reference_seconds`` on its cases.

        >>> lim = Limits()
        >>> lim.exercise_seconds(0.0001), lim.exercise_seconds(0.005), lim.exercise_seconds(2.0)
        (3.0, 5.0, 10.0)
        """
        return min(self.wall_per_exercise, max(self.exercise_floor, self.reference_multiple * reference_seconds))


def hideable(paths) -> tuple[list[str], list[str]]:
    """Split ``paths`` into those the child may hide and those it must see (they hold Python or the grader)."""
    keep = [PKG_ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(),
            str(Path(sys.executable).resolve().parent)]
    ok, skipped = [], []
    for p in paths:
        if not p:
            continue
        p = str(Path(p).resolve())
        if p == "/" or any(k == p or k.startswith(p.rstrip("/") + "/") for k in keep):
            skipped.append(p)
        else:
            ok.append(p)
    return sorted(set(ok)), sorted(set(skipped))


def _git_dirs(root: Path) -> list[str]:
    """The repository behind the checkout ``root``: its .git, and for a worktree the main checkout too."""
    dot = root / ".git"
    if dot.is_dir():
        return [str(dot)]
    if not dot.is_file():
        return []
    text = dot.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return []
    gitdir = (root / text[len("gitdir:"):].strip()).resolve()
    common = gitdir
    if (gitdir / "commondir").is_file():
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    out = [str(gitdir), str(common)]
    if common.name == ".git":
        out.append(str(common.parent))  # the main worktree: another copy of the course, solutions included
    return out


def course_paths() -> tuple[str | None, list[str]]:
    """Where the course lives: the checkout the package runs from (or None), and what else to hide.

    The child keeps only what Python imports from a checkout (the package, a virtual
    environment inside it); the rest of it, its git history (a worktree's main checkout
    included) and the grading specs are hidden.
    """
    root = Path(PKG_ROOT)
    if not ((root / "pyproject.toml").exists() or (root / ".git").exists()):
        return None, []
    return str(root), [*_git_dirs(root), str(root / "i2dl_lab" / "grading" / "specs")]


#: What :func:`_hidden` resolved, by the caller's ``hide``: a batch launches every child with the
#: same paths, and resolving them (a ``readlink`` per component) and reading the checkout's
#: ``.git`` each time cost a launch as much as the rest of its set-up.
_HIDDEN: dict[tuple, tuple[str | None, list[str]]] = {}


def _hidden(hide) -> tuple[str | None, list[str]]:
    """The checkout and the resolved paths a child started with ``hide`` must cover (see :func:`course_paths`).

    Kept for later launches only once every path exists: a path that does not exist yet (a
    feedback folder written during the batch) is resolved again at each launch until it
    does, so where it appears is where it is hidden. (A ``.git`` made later inside the
    checkout is covered with the checkout itself.)
    """
    key = tuple(hide)
    hit = _HIDDEN.get(key)
    if hit is not None:
        return hit
    checkout, course = course_paths()
    found = (checkout, hideable([*hide, *course])[0])
    if all(os.path.lexists(p) for p in found[1]):
        _HIDDEN[key] = found
    return found


_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.M)


def _imported_roots(job: Job) -> set[str]:
    r"""Top-level module names the job's code imports on any line (``import torch.nn as tnn`` -> ``torch``).

    Lines inside function bodies count too: the fork server preloads the heavy ones, so an
    import inside a graded function does not spend that exercise's clock. A name that only
    looks imported (a line in a string) at most preloads a library the server may preload.

    >>> from ..protocol import Unit
    >>> sorted(_imported_roots(Job(spec={}, units=[Unit("import", None, 1, "import numpy as np, torch.nn as tnn"),
    ...     Unit("exercise", "a", 2, "def f(x):\n    from scipy.special import expit\n    return expit(x)")],
    ...     tasks=[])))
    ['numpy', 'scipy', 'torch']
    """
    out = set()
    for u in job.units:
        for frm, names in _IMPORT_LINE.findall(u.source):
            for name in [frm] if frm else names.split(","):
                root = name.strip().split(" ")[0].split(".")[0]
                if root.isidentifier():
                    out.add(root)
    return out


#: Seconds a child that said ``Done`` gets to end by itself before it is killed. It ends at
#: once (``os._exit`` right after ``Done``); waiting for that instead of killing it means its
#: PID namespace is gone when its exit is reported (process 1 ends last), so nothing is left.
EXIT_AFTER_DONE = 2.0


def _stop(child, uid: int | None, cgroup: str | None, done: bool) -> None:
    """End the child and everything it started: let a finished child exit, kill the rest.

    A child that said ``Done`` is waited for (its exit is an event from the fork server, no
    clock); any other, or one that does not exit in :data:`EXIT_AFTER_DONE` seconds, loses
    its process group to ``SIGKILL``. As root, whatever its unique uid still runs is killed
    too, unless its memory cgroup, which holds every process it started, is already empty.
    """
    exited = False
    if done:
        try:
            child.wait(EXIT_AFTER_DONE)
            exited = True
        except subprocess.TimeoutExpired:
            pass
    if not exited and _kill_pid_namespace(child.pid):
        try:  # the child reaps its namespace, so its CPU time (``wait4``) includes the submission's processes
            child.wait(EXIT_AFTER_DONE)
            exited = True
        except subprocess.TimeoutExpired:
            pass
    if not exited:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILLed processes do go away
            pass
    if uid is not None and not (cgroup is not None and memory.empty(cgroup)):
        kill_uid(uid)
    child.close()


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(k) for k in fh.read().split()]
    except (OSError, ValueError):
        return []


def _kill_pid_namespace(pid: int) -> bool:
    """SIGKILL what process 1 of the child's PID namespace waits for; False if the child made no namespace yet.

    Killing the child's process group at once would kill the child and process 1 before they
    reap anything, and the CPU time of the submission's code would go uncounted (``wait4``
    counts only what was reaped). Killed this way, process 1 reaps the submission's process
    and ends, taking the rest of the namespace with it (the kernel), and the child reaps it.
    """
    killed = False
    for init in _children(pid):
        for kid in _children(init):
            try:
                fd = os.pidfd_open(kid)
            except OSError:
                continue
            try:
                if kid in _children(init):  # still process 1's (the pid was not reused before the pidfd pinned it)
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    killed = True
            except OSError:
                pass
            finally:
                os.close(fd)
    return killed


def _remove_soon(path: str):
    """Start removing the child's temp folder in a thread; returns the future to wait on.

    On a disk mounted with ``discard`` one ``rmdir`` waits milliseconds for the journal, so
    the removal starts as early as it may and runs while the child works; ``run_child``
    waits for it before returning (nothing is left behind when it returns).
    """
    global _REMOVER
    if _REMOVER is None:
        from concurrent.futures import ThreadPoolExecutor

        _REMOVER = ThreadPoolExecutor(1, thread_name_prefix="i2dl-grading-cleanup")
    return _REMOVER.submit(shutil.rmtree, path, True)


_REMOVER = None


_SWEPT: list[bool] = []


class SandboxUnavailable(RuntimeError):
    """The child could not be confined fully, so it refused to run student code."""


def preflight(spec: dict, limits: Limits, hide=()) -> dict:
    """Start one empty child and return its sandbox report; :class:`SandboxUnavailable` if it refuses.

    ``grade`` calls this before the first submission: grading as an ordinary user either
    isolates fully or stops here with the reason, never a silently weaker sandbox.
    """
    from ..protocol import Ready

    run = run_child(Job(spec=spec, units=[], tasks=[]), limits, hide=hide)
    report = next((m.sandbox for m in run.messages if isinstance(m, Ready)), {})
    if report.get("refused"):  # a child that did not start at all (a broken spec) is each submission's error
        raise SandboxUnavailable(f"the grading sandbox cannot isolate submissions here: {report['refused']}")
    return report


@dataclass
class _Started:
    """A child started and told how to confine itself, waiting for its job."""

    child: object            # launch.Forked or launch.Spawned
    base: str                # its temp folder (``work`` inside)
    r_fd: int                # the answer pipe's reading end
    uid: int | None
    cgroup: str | None
    key: tuple               # what it was started for (see :func:`_key`)
    preloaded: frozenset     # heavy libraries it was forked with


def _key(spec: dict, limits: Limits, hide, python: str) -> tuple:
    return (python, json.dumps(spec, sort_keys=True), json.dumps(limits.as_dict(), sort_keys=True),
            tuple(hide), threading.get_ident())


def _launch(spec: dict, limits: Limits, hide, python: str, preload) -> _Started:
    """Start a child and send it its :class:`~..protocol.Setup`: it confines itself, says Ready, waits for a job."""
    base = tempfile.mkdtemp(prefix=f"{memory.PREFIX}{os.getpid()}-")
    os.chmod(base, 0o711)
    work = os.path.join(base, "work")
    os.mkdir(work, 0o700)
    r_fd, w_fd = os.pipe()
    child = uid = None
    cgroup = memory.create(limits.memory_bytes)
    try:
        child = start(spec, limits, work, base, w_fd, python, preload=preload)
        os.close(w_fd)
        w_fd = -1
        if os.geteuid() == 0:
            uid = UID_BASE + child.pid
            os.chown(work, uid, uid)
        checkout, hidden = _hidden(hide)
        box = Box(workdir=work, uid=uid, limits=limits.as_dict(), hide=list(hidden),
                  checkout=checkout, cgroup=cgroup)
        child.send_setup(Setup(spec=spec, box=box).to_line())
        return _Started(child, base, r_fd, uid, cgroup, _key(spec, limits, hide, python), frozenset(preload))
    except BaseException:
        _discard(_Started(child, base, r_fd, uid, cgroup, (), frozenset()))
        raise
    finally:
        if w_fd >= 0:
            os.close(w_fd)


def _discard(started: _Started) -> None:
    """Stop a started child that will not be used and remove what it had."""
    if started.child is not None:
        _stop(started.child, started.uid, started.cgroup, done=False)
    os.close(started.r_fd)
    if started.cgroup is not None:
        memory.remove(started.cgroup)
    shutil.rmtree(started.base, ignore_errors=True)


#: The next submission's child, by grading thread, while :func:`spare_children` is on: started
#: and confined while the grader scores, records and prepares, so a submission does not wait
#: for its child to start. Forked from the fork server like any child, it holds nothing of the
#: course; each is used by one submission only, with its own namespaces, cgroup and uid.
_SPARES: dict[int, _Started] = {}
_KEEP_SPARES: list[bool] = [False]


def _take_spare(key: tuple, preload: set) -> _Started | None:
    """The spare started for ``key``, if it is alive and has ``preload``; otherwise None (it is discarded)."""
    spare = _SPARES.pop(threading.get_ident(), None)
    if spare is None:
        return None
    if spare.key == key and preload <= spare.preloaded and spare.child.running():
        return spare
    _discard(spare)
    return None


def discard_spares() -> None:
    """Stop every spare child this process holds (the end of a batch, or of a worker process)."""
    for tid in list(_SPARES):
        spare = _SPARES.pop(tid, None)
        if spare is not None:
            _discard(spare)


@contextlib.contextmanager
def spare_children():
    """Within this block, each child run leaves a spare child for the next one (see :data:`_SPARES`)."""
    _KEEP_SPARES[0] = True
    try:
        yield
    finally:
        _KEEP_SPARES[0] = False
        discard_spares()


def keep_spare_children() -> None:
    """For a grading worker process: spare children on until it exits (they are stopped then)."""
    import atexit

    if not _KEEP_SPARES[0]:
        _KEEP_SPARES[0] = True
        atexit.register(discard_spares)


def run_child(job: Job, limits: Limits, budget: float | None = None, python: str | None = None,
              hide=(), exercise_seconds: dict[str, float] | None = None, while_running=None,
              on_message=None, on_watch=None) -> ChildRun:
    """Run one child on ``job`` and collect its messages and output.

    ``exercise_seconds``: the wall clock of each task by exercise id (default and most:
    ``limits.wall_per_exercise``); read as each task starts, so ``while_running`` may fill it.
    ``while_running``: called once the child has its job, before its messages are read: the
    grader's own work (the expected outputs) then runs while the child works, on another core.
    ``on_message``: called with each message the child sent in order, as it arrives.
    ``on_watch``: called once the grader's own work is done and it starts reading the child's
    messages (it mostly waits from then on: the serial batch prepares the next submission).
    The child is a spare started earlier when one is waiting for the same spec, limits and
    hidden paths; within :func:`spare_children` the spare for the next run is started while
    this child works (its start-up and confinement overlap this child's run).
    """
    if not _SWEPT:  # the first child of this process clears what graders killed with -9 left behind
        _SWEPT.append(bool(memory.sweep_stale(tempfile.gettempdir())))
    run = ChildRun()
    t_start = time.monotonic()
    total = min(limits.wall_per_submission, budget) if budget is not None else limits.wall_per_submission
    python = python or sys.executable
    preload = PRELOADABLE & _imported_roots(job)
    started = _take_spare(_key(job.spec, limits, hide, python), preload) or \
        _launch(job.spec, limits, hide, python, preload)
    child, base = started.child, started.base
    run.started_by = child.started_by
    removing: list = []
    try:
        child.send_job(job.to_json())
        t_own = time.monotonic()
        if while_running is not None:
            while_running()
        if _KEEP_SPARES[0] and child.started_by == "fork server":
            _keep_spare(job.spec, limits, hide, python, started.preloaded | preload)
        run.overlapped_seconds = time.monotonic() - t_own
        # With a private /tmp the confined child works in its own tmpfs and cannot see this folder
        # once it is ready: remove it then, while the child works.
        on_ready = (lambda: removing.append(_remove_soon(base))) if limits.private_tmp else None
        if on_watch is not None:
            on_watch()
        watch(child, started.r_fd, run, limits, t_start, total, job,
              exercise_seconds if exercise_seconds is not None else {}, on_ready, on_message)
        if run.startup_seconds is not None:  # its Ready was read after that work: count only the wait beyond it
            run.startup_seconds = max(0.0, run.startup_seconds - run.overlapped_seconds)
    finally:
        t_end = time.monotonic()
        os.close(started.r_fd)
        _stop(child, started.uid, started.cgroup, done=run.ended == "done")
        run.cpu_seconds = getattr(child, "cpu_seconds", None)
        if started.cgroup is not None:
            run.cpu_seconds = memory.cpu_seconds(started.cgroup) or run.cpu_seconds  # every process, reaped or killed
            run.memory_peak = memory.peak(started.cgroup)
            memory.remove(started.cgroup)
        (removing or [_remove_soon(base)])[0].result()
        run.seconds = time.monotonic() - t_start
        run.cleanup_seconds = run.seconds - (t_end - t_start)
    return run


def _keep_spare(spec: dict, limits: Limits, hide, python: str, preload) -> None:
    """Start the next run's child now (see :data:`_SPARES`); without one the next run starts its own."""
    old = _SPARES.pop(threading.get_ident(), None)
    if old is not None:  # not taken by this run (other limits): it serves no one
        _discard(old)
    try:
        _SPARES[threading.get_ident()] = _launch(spec, limits, hide, python, preload)
    except (OSError, TimeoutError, ConnectionError, ValueError):
        pass
