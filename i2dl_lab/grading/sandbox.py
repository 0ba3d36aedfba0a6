"""Starting, watching and killing the sandboxed child (the grader's side).

One child per submission (a fresh ``python -I``), started in its own session so that the
whole process group can be killed. When the grader runs as root, the child drops to a
unique unprivileged uid (``UID_BASE + its pid``) before any student code runs, so file
permissions protect the course and the gradebook, ``RLIMIT_NPROC`` bounds its processes, and
everything left behind under that uid can be found and killed. The child's stdout/stderr
is captured and capped; its answers come on a separate pipe, capped too.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Unprivileged uids the children use when the grader is root: UID_BASE + child pid.
UID_BASE = 1_500_000_000

_PKG_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from i2dl_lab.grading._child import main; main(int(sys.argv[1]))")


@dataclass
class Limits:
    """Resource limits of one submission's child process."""

    wall_per_exercise: float = 10.0      # seconds of wall clock per exercise (and per cell load)
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


@dataclass
class ChildRun:
    events: list[dict] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    ended: str = ""          # "done", "timeout", "exit", "signal", "overflow", "startup"
    detail: str = ""         # plain-words description of how it ended
    seconds: float = 0.0
    timed_out_in: str | None = None
    started_by: str = ""


def scrubbed_env(home: str) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8",
    }


def _uid_pids(uid: int) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status", "rb") as fh:
                    for line in fh:
                        if line.startswith(b"Uid:"):
                            if int(line.split()[1]) == uid:
                                pids.append(int(pid))
                            break
            except (OSError, ValueError, IndexError):
                continue
    return pids


def _kill_uid(uid: int) -> None:
    """SIGKILL every process owned by ``uid``, including any that left the process group.

    A helper process switches to ``uid`` and calls ``kill(-1, SIGKILL)``: the kernel signals
    all of that user's processes in one pass, so a fork bomb cannot outrun it.
    """
    for _ in range(5):
        if not _uid_pids(uid):
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked helper
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02)


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def describe_exit(rc: int, limits: Limits) -> str:
    if rc >= 0:
        return f"the process exited with status {rc} before finishing (sys.exit/os._exit in your code?)"
    name = _signal_name(-rc)
    hint = {
        "SIGXCPU": f"it used more than {limits.cpu_seconds} s of CPU time",
        "SIGKILL": "it was killed (out of memory or a resource limit)",
        "SIGSEGV": "it crashed (segmentation fault)",
        "SIGXFSZ": f"it wrote a file larger than {limits.file_bytes} bytes",
        "SIGABRT": "it aborted",
    }.get(name, "it was stopped by a signal")
    return f"the process died from {name}: {hint}"


def hideable(paths) -> tuple[list[str], list[str]]:
    """Split ``paths`` into those the child may hide and those it must see (they hold Python or the grader)."""
    keep = [_PKG_ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(),
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


class _Spawned:
    """A child started with a fresh ``python -I`` (the fallback when no fork server runs)."""

    def __init__(self, python: str, cwd: str, env: dict, proto_w: int):
        self.proc = subprocess.Popen(
            [python, "-I", "-B", "-c", _BOOT.format(root=_PKG_ROOT), str(proto_w)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(proto_w,),
            cwd=cwd, env=env, start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self.out_fd = self.proc.stdout.fileno()

    def send_job(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        self.proc.stdout.close()


class _Forked:
    """A child forked by the fork server (:class:`_Zygote`): same sandbox, no interpreter start-up."""

    def __init__(self, zygote: _Zygote, env: dict, cwd: str, proto_w: int):
        in_r, self.in_w = os.pipe()
        self.out_fd, out_w = os.pipe()
        self.zygote = zygote
        self.status: int | None = None
        try:
            self.pid = zygote.fork([in_r, out_w, proto_w], {"env": env, "cwd": cwd})
        finally:
            os.close(in_r)
            os.close(out_w)

    def send_job(self, data: bytes) -> None:
        try:
            with os.fdopen(self.in_w, "wb") as fh:
                fh.write(data)
        except (BrokenPipeError, OSError):
            pass

    def wait(self, timeout: float) -> int:
        if self.status is None:
            self.status = self.zygote.exit_status(self.pid, timeout)
        return self.status

    def close(self) -> None:
        os.close(self.out_fd)


_BOOT_ZYGOTE = ("import sys; sys.path.insert(0, {root!r}); "
                "from i2dl_lab.grading._child import zygote; zygote(int(sys.argv[1]), {spec!r})")


class _Zygote:
    """A fork server: a trusted Python that has imported NumPy and the lab's spec once.

    Each submission's child is forked from it (``fork`` costs milliseconds; starting Python
    and importing NumPy costs half a second), then applies exactly the sandbox a freshly
    started child applies. The server never runs student code, never sees the secret or an
    expected output, and the forked child closes the server's socket before anything else.
    """

    def __init__(self, python: str, spec: dict, startup: float):
        import socket

        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            [python, "-I", "-B", "-c", _BOOT_ZYGOTE.format(root=_PKG_ROOT, spec=spec), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd="/", env=scrubbed_env("/nonexistent"), start_new_session=True)
        theirs.close()
        self.buf = b""
        self.exits: dict[int, int] = {}
        msg = self._read(startup)
        if msg.get("ready") is not True:
            raise RuntimeError(f"fork server did not start: {msg}")

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("fork server did not answer")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("fork server closed its socket")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def _next(self, key: str, timeout: float) -> dict:
        while True:
            msg = self._read(timeout)
            if "exit" in msg:
                self.exits[int(msg["exit"])] = int(msg["status"])
            if key in msg:
                return msg

    def fork(self, fds: list[int], request: dict) -> int:
        import socket

        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        return int(self._next("pid", 10.0)["pid"])

    def exit_status(self, pid: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while pid not in self.exits:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("forked child", timeout)
            try:
                self._next("exit", left)
            except TimeoutError:
                raise subprocess.TimeoutExpired("forked child", timeout) from None
        return os.waitstatus_to_exitcode(self.exits.pop(pid))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()


_ZYGOTES: dict[tuple, _Zygote] = {}
_NO_ZYGOTE: set[tuple] = set()  # specs whose fork server failed to start: spawn without retrying


def _drop_zygote(z: _Zygote) -> None:
    for key, val in list(_ZYGOTES.items()):
        if val is z:
            del _ZYGOTES[key]
    try:
        z.proc.kill()
        z.close()
    except OSError:
        pass


def _zygote_for(python: str, spec: dict, startup: float) -> _Zygote | None:
    """This thread's fork server for ``spec`` (one per thread: its socket is never shared), or None to spawn."""
    import threading

    key = (python, json.dumps(spec, sort_keys=True), threading.get_ident())
    if key in _NO_ZYGOTE:
        return None
    z = _ZYGOTES.get(key)
    if z is not None and not z.alive():
        _drop_zygote(z)
        z = None
    if z is None:
        try:
            z = _ZYGOTES[key] = _Zygote(python, spec, startup)
        except (OSError, RuntimeError, TimeoutError, ConnectionError, ValueError):
            _NO_ZYGOTE.add(key)
            return None
    return z


def run_child(job: dict, limits: Limits, budget: float | None = None, python: str | None = None,
              hide=()) -> ChildRun:
    """Run one child on ``job`` (see :mod:`._child`) and collect its events and output."""
    run = ChildRun()
    t_start = time.monotonic()
    total = min(limits.wall_per_submission, budget) if budget is not None else limits.wall_per_submission
    base = tempfile.mkdtemp(prefix="i2dl-grade-")
    os.chmod(base, 0o711)
    work = os.path.join(base, "work")
    os.mkdir(work, 0o700)
    root = os.geteuid() == 0
    python = python or sys.executable
    r_fd, w_fd = os.pipe()
    child = None
    uid = None
    try:
        z = _zygote_for(python, job["spec"], limits.startup) if limits.fork_server else None
        if z is not None:
            try:
                child = _Forked(z, scrubbed_env(work), base, w_fd)
            except (OSError, TimeoutError, ConnectionError, ValueError):
                child = None
                _drop_zygote(z)
        if child is None:
            child = _Spawned(python, base, scrubbed_env(work), w_fd)
        run.started_by = "fork server" if isinstance(child, _Forked) else "new interpreter"
        os.close(w_fd)
        w_fd = -1
        if root:
            uid = UID_BASE + child.pid
            os.chown(work, uid, uid)
        job = dict(job, sandbox={"workdir": work, "uid": uid, "gid": uid, "limits": limits.as_dict(),
                                 "hide": hideable(hide)[0]})
        child.send_job(json.dumps(job, allow_nan=False).encode())
        _watch(child, r_fd, run, limits, t_start, total)
    finally:
        if w_fd >= 0:
            os.close(w_fd)
        os.close(r_fd)
        if child is not None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if uid is not None:
                _kill_uid(uid)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILLed processes do go away
                pass
            child.close()
        shutil.rmtree(base, ignore_errors=True)
        run.seconds = time.monotonic() - t_start
    return run


def _watch(proc, r_fd, run: ChildRun, limits: Limits, t_start: float, total: float) -> None:
    sel = selectors.DefaultSelector()
    out_fd = proc.out_fd
    sel.register(out_fd, selectors.EVENT_READ)
    sel.register(r_fd, selectors.EVENT_READ)
    out = bytearray()
    buf = bytearray()
    proto_total = 0
    phase_deadline = t_start + limits.startup
    phase = "startup"
    open_fds = 2
    done = False
    while open_fds and not done:
        now = time.monotonic()
        deadline = min(t_start + total, phase_deadline)
        if now >= deadline:
            run.ended = "timeout"
            run.timed_out_in = phase
            if t_start + total <= phase_deadline:
                run.detail = (f"time limit exceeded: the submission's {limits.wall_per_submission:g} s wall clock "
                              "ran out")
            else:
                run.detail = f"time limit exceeded in {phase} ({limits.wall_per_exercise:g} s wall clock)"
            return
        for key, _ in sel.select(deadline - now):
            try:
                data = os.read(key.fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fd)
                open_fds -= 1
                continue
            if key.fd == out_fd:
                room = limits.output_bytes - len(out)
                if room > 0:
                    out += data[:room]
                run.output_dropped += max(0, len(data) - max(room, 0))
                run.output = out.decode("utf-8", "replace")
                continue
            proto_total += len(data)
            if proto_total > limits.protocol_bytes:
                run.ended = "overflow"
                run.detail = f"the process sent more than {limits.protocol_bytes} bytes of answers"
                return
            buf += data
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf = bytearray(rest)
                try:
                    ev = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(ev, dict) or not isinstance(ev.get("ev"), str):
                    continue
                run.events.append(ev)
                kind = ev["ev"]
                if kind in ("ready", "load", "start", "loaded", "end"):
                    phase_deadline = time.monotonic() + limits.wall_per_exercise
                    phase = {"ready": "between cells", "load": f"cell {ev.get('cell')}",
                             "loaded": "between cells", "start": f"exercise {ev.get('ex')!r}",
                             "end": "between exercises"}[kind]
                if kind == "done":
                    done = True
                    break
    if done and out_fd in sel.get_map():
        # what the child printed before "done" may still sit in the pipe: take it without waiting
        while select.select([out_fd], [], [], 0.05)[0] and len(out) < limits.output_bytes:
            try:
                data = os.read(out_fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            out += data[: limits.output_bytes - len(out)]
    run.output = out.decode("utf-8", "replace")
    if done:
        run.ended, run.detail = "done", "finished"
        return
    try:
        rc = proc.wait(max(0.1, min(5.0, t_start + total - time.monotonic())))
    except subprocess.TimeoutExpired:
        run.ended, run.detail = "timeout", "the process closed its pipes but did not exit"
        return
    if not any(e.get("ev") == "ready" for e in run.events):
        run.ended = "startup"
        run.detail = f"the grading sandbox failed to start (exit status {rc}): {run.output[-2000:]}"
        return
    run.ended = "signal" if rc < 0 else "exit"
    run.detail = describe_exit(rc, limits)
