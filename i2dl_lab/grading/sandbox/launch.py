"""Launch: starting a child, either a fresh ``python -I`` or a fork of a warm fork server.

Both ways give the same child: its own session (so its process group can be killed), a
scrubbed environment, stdin carrying the :class:`~..protocol.Job`, stdout+stderr on one
captured pipe and the answer pipe as a separate descriptor. Confinement happens inside the
child (:mod:`.confine`) before any student code runs.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

PKG_ROOT = str(Path(__file__).resolve().parents[3])
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from i2dl_lab.grading.sandbox.execute import main; main(int(sys.argv[1]), int(sys.argv[2]))")
_BOOT_SERVER = ("import sys; sys.path.insert(0, {root!r}); "
                "from i2dl_lab.grading.sandbox.launch import serve; serve(int(sys.argv[1]), {spec!r})")


def scrubbed_env(home: str) -> dict:
    """The child's whole environment: no secrets, one thread per maths library, UTF-8."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8",
    }


class Spawned:
    """A child started with a fresh ``python -I`` (the fallback when no fork server runs)."""

    started_by = "new interpreter"

    def __init__(self, python: str, cwd: str, env: dict, proto_w: int):
        self.proc = subprocess.Popen(
            [python, "-I", "-B", "-c", _BOOT.format(root=PKG_ROOT), str(proto_w), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(proto_w,),
            cwd=cwd, env=env, start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self.out_fd = self.proc.stdout.fileno()

    def send_setup(self, line: bytes) -> None:
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def send_job(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        self.proc.stdout.close()


class Forked:
    """A child forked by a :class:`ForkServer`: same sandbox, no interpreter start-up."""

    started_by = "fork server"

    def __init__(self, server: ForkServer, env: dict, cwd: str, proto_w: int, preload=()):
        in_r, self.in_w = os.pipe()
        self.out_fd, out_w = os.pipe()
        self.server = server
        self.status: int | None = None
        self.cpu_seconds: float | None = None
        try:
            self.pid = server.fork([in_r, out_w, proto_w], {"env": env, "cwd": cwd, "preload": list(preload)},
                                   timeout=server.startup)
        finally:
            os.close(in_r)
            os.close(out_w)

    def send_setup(self, line: bytes) -> None:
        try:
            while line:
                line = line[os.write(self.in_w, line):]
        except (BrokenPipeError, OSError):
            pass

    def send_job(self, data: bytes) -> None:
        try:
            with os.fdopen(self.in_w, "wb") as fh:
                fh.write(data)
        except (BrokenPipeError, OSError):
            pass

    def running(self) -> bool:
        """Whether it still runs (its fork server has not reported its exit)."""
        return self.status is None and self.server.alive() and not self.server.exited(self.pid)

    def wait(self, timeout: float) -> int:
        if self.status is None:
            self.status, self.cpu_seconds = self.server.exit_status(self.pid, timeout)
        return self.status

    def close(self) -> None:
        os.close(self.out_fd)


class ForkServer:
    """A trusted Python that has imported NumPy and the lab's spec once, and forks children.

    ``fork`` costs milliseconds; starting Python and importing NumPy costs half a second.
    The server never runs student code, never sees the secret or an expected output, and a
    forked child closes the server's socket before anything else.
    """

    def __init__(self, python: str, spec: dict, startup: float):
        import socket

        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            [python, "-I", "-B", "-c", _BOOT_SERVER.format(root=PKG_ROOT, spec=spec), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd="/", start_new_session=True,
            env=dict(scrubbed_env("/nonexistent"), I2DL_GRADER_PID=str(os.getpid())))
        theirs.close()
        self.startup = startup
        self.buf = b""
        self.exits: dict[int, tuple[int, float]] = {}  # pid -> (wait status, CPU seconds of it and what it waited for)
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
                self.exits[int(msg["exit"])] = (int(msg["status"]), float(msg["cpu"]))
            if key in msg:
                return msg

    def fork(self, fds: list[int], request: dict, timeout: float = 10.0) -> int:
        """Ask for a child; the reply can wait for a preload (importing torch once takes seconds)."""
        import socket

        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        return int(self._next("pid", timeout)["pid"])

    def exited(self, pid: int) -> bool:
        """Whether the server has reported ``pid``'s exit (reads what it sent, without waiting)."""
        while select.select([self.sock], [], [], 0)[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            msg = json.loads(line)
            if "exit" in msg:
                self.exits[int(msg["exit"])] = (int(msg["status"]), float(msg["cpu"]))
        return pid in self.exits

    def exit_status(self, pid: int, timeout: float) -> tuple[int, float]:
        """How the child ``pid`` ended (an exit code, -N for signal N) and the CPU seconds it used.

        The CPU time includes what the child waited for (its PID namespace's processes, when
        they ended in order), as ``wait4`` reports it.
        """
        deadline = time.monotonic() + timeout
        while pid not in self.exits:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("forked child", timeout)
            try:
                self._next("exit", left)
            except TimeoutError:
                raise subprocess.TimeoutExpired("forked child", timeout) from None
        status, cpu = self.exits.pop(pid)
        return os.waitstatus_to_exitcode(status), cpu

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()


_SERVERS: dict[tuple, ForkServer] = {}
_NO_SERVER: set[tuple] = set()  # specs whose fork server failed to start: spawn without retrying


def _drop(server: ForkServer) -> None:
    for key, val in list(_SERVERS.items()):
        if val is server:
            del _SERVERS[key]
    try:
        server.proc.kill()
        server.close()
    except OSError:
        pass


def _server_for(python: str, spec: dict, startup: float) -> ForkServer | None:
    """This thread's fork server for ``spec`` (one per thread: its socket is never shared), or None."""
    key = (python, json.dumps(spec, sort_keys=True), threading.get_ident())
    if key in _NO_SERVER:
        return None
    server = _SERVERS.get(key)
    if server is not None and not server.alive():
        _drop(server)
        server = None
    if server is None:
        try:
            server = _SERVERS[key] = ForkServer(python, spec, startup)
        except (OSError, RuntimeError, TimeoutError, ConnectionError, ValueError):
            _NO_SERVER.add(key)
            return None
    return server


#: Heavy libraries the fork server imports (once) when a job's import lines name them, so a
#: child does not spend its per-cell clock importing them. Only these: the server never
#: imports a module a submission merely names.
PRELOADABLE = frozenset({"torch"})


def start(spec: dict, limits, workdir: str, cwd: str, proto_w: int, python: str | None = None, preload=()):
    """A started child (:class:`Forked` when the fork server works, else :class:`Spawned`)."""
    python = python or sys.executable
    env = scrubbed_env(workdir)
    server = _server_for(python, spec, limits.startup) if limits.fork_server else None
    if server is not None:
        try:
            return Forked(server, env, cwd, proto_w, sorted(PRELOADABLE & set(preload)))
        except (OSError, TimeoutError, ConnectionError, ValueError):
            _drop(server)
    return Spawned(python, cwd, env, proto_w)


# ------------------------------------------------------------------ the fork server's own loop
def _report_exits(sock) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        cpu = usage.ru_utime + usage.ru_stime
        sock.sendall(json.dumps({"exit": pid, "status": status, "cpu": cpu}).encode() + b"\n")


def _become_child(sock, fds: list[int], req: dict, prepared) -> None:
    """In the forked process: drop the server's socket, take the pipes, run the child.

    ``prepared``: the spec the server loaded, with its references already removed.
    """
    import signal

    from .execute import main

    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        os.setsid()
        stdin, out, proto = fds
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(stdin)
        os.close(out)
        os.closerange(3, proto)
        os.closerange(proto + 1, 1 << 16)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        main(proto, req["server"], prepared)
    finally:
        os._exit(70)


def serve(sock_fd: int, spec_locator: dict) -> None:
    """The fork server's loop: preload, then fork one child per request; report each exit at once.

    The references are removed here, once, as each child would remove them before any
    student code (:mod:`.references`): every child forks with them unreachable already.
    """
    import signal
    import socket

    import numpy  # noqa: F401 - preloaded for the children

    from .. import wire  # noqa: F401
    from .confine import die_with_parent, import_roots
    from .execute import load_spec
    from .references import remove_references

    die_with_parent(int(os.environ.get("I2DL_GRADER_PID", "0")) or None)
    import_roots()  # resolved here once; every child confines itself with it
    sock = socket.socket(fileno=sock_fd)
    drivers, defined_in = remove_references(load_spec(spec_locator))
    prepared = (spec_locator, drivers, defined_in)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # a child's exit wakes the select below: no polling clock
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sock.sendall(b'{"ready": true}\n')
    while True:
        ready = select.select([sock, wake_r], [], [])[0]
        if wake_r in ready:
            os.read(wake_r, 4096)
        _report_exits(sock)
        if sock not in ready:
            continue
        msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 3)
        if not msg:
            os._exit(0)  # the grader went away
        req = json.loads(msg)
        for name in PRELOADABLE & set(req.get("preload", ())):
            __import__(name)  # once per server; the children fork with it loaded
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            _become_child(sock, fds, dict(req, server=server), prepared)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
