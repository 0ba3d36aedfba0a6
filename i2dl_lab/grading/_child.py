"""The sandboxed side of grading: runs in a fresh Python started by :mod:`.sandbox`.

Everything in this module runs before any student code, as trusted code: it reads the
job from stdin, imports the lab's spec (for the drivers), replaces the library's reference
implementations by tripwires, applies the sandbox (network namespace, resource limits, an
unprivileged user), and only then executes the exercise cells and calls the graded
functions on the inputs the grader sent. Results go back as JSON lines on a dedicated pipe,
outputs converted to plain data by :mod:`.wire`. The grader trusts none of it: it checks
every message and computes the expected values itself.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
import traceback

MAX_JOB_BYTES = 256 * 2**20


class ReferenceUnavailable(Exception):
    """Raised when graded code calls the library's reference implementation."""


_TRIPPED: set[str] = set()


def _tripwire(name: str):
    def tripwire(*args, **kwargs):
        _TRIPPED.add(name)
        raise ReferenceUnavailable(f"the library's `{name}` is not available while grading; "
                                   "graded code must compute the result itself")

    tripwire.__name__ = tripwire.__qualname__ = name
    return tripwire


def _load_spec(locator: dict):
    import importlib
    import importlib.util

    if "path" in locator:
        spec = importlib.util.spec_from_file_location("_i2dl_graded_spec", locator["path"])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(locator["module"])


def _disarm_references(spec_mod) -> dict:
    """Drivers by exercise id; the references become tripwires wherever the library holds them."""
    from .spec import Exercise

    exercises = list(spec_mod.EXERCISES)
    drivers = {ex.id: ex.driver for ex in exercises}
    refs = {id(ex.reference): ex.function for ex in exercises}
    # library objects a reference calls by name (``F.affine_forward`` inside a wrapper)
    called = set()
    for ex in exercises:
        called |= _code_names(getattr(ex.reference, "__code__", None))
    _import_named(called)  # a reference that imports the library lazily: load it now, so it is disarmed too
    wires = {}
    mods = [m for n, m in list(sys.modules.items())
            if m is not None and (n == "i2dl_lab" or n.startswith("i2dl_lab.") or m is spec_mod)]
    for mod in mods:
        library = not getattr(mod, "__name__", "").startswith("i2dl_lab.grading") or mod is spec_mod
        for key, val in list(vars(mod).items()):
            if id(val) in refs:
                name = refs[id(val)]
                setattr(mod, key, wires.setdefault(name, _tripwire(name)))
            elif (library and key in called and callable(val) and not isinstance(val, type(sys))
                  and str(getattr(val, "__module__", "")).startswith("i2dl_lab.")
                  and not str(getattr(val, "__module__", "")).startswith("i2dl_lab.grading")):
                setattr(mod, key, wires.setdefault(key, _tripwire(key)))
            elif isinstance(val, Exercise):
                object.__setattr__(val, "reference", wires.setdefault(val.function, _tripwire(val.function)))
    for ex in exercises:
        object.__setattr__(ex, "reference", wires.setdefault(ex.function, _tripwire(ex.function)))
    return drivers


def _import_named(names: set[str]) -> None:
    import importlib

    for name in sorted(n for n in names if n == "i2dl_lab" or n.startswith("i2dl_lab.")):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr in names:
            if attr.isidentifier() and not hasattr(mod, attr) and hasattr(mod, "__path__"):
                try:
                    importlib.import_module(f"{name}.{attr}")
                except ImportError:
                    pass


def _code_names(code) -> set[str]:
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _import_roots() -> set[str]:
    """Real paths Python needs to keep importing: its prefixes, executable folder and sys.path."""
    return {os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, sys.exec_prefix,
                                          os.path.dirname(os.path.realpath(sys.executable)), *sys.path]
            if p and os.path.isabs(p) and os.path.exists(p)}


def _cover_keeping(libc, folder: str, names, flags: int, options: bytes) -> tuple[bool, list[str], str]:
    """Mount an empty tmpfs over ``folder`` and bind its entries ``names`` back at their paths.

    Directory descriptors opened before the mount keep the covered entries reachable, so
    they can be bound back from ``/proc/self/fd``. Returns ``(mounted, kept, error)``.
    """
    import ctypes

    MS_BIND, MS_REC = 4096, 16384
    fds = {n: os.open(os.path.join(folder, n), os.O_RDONLY) for n in names}
    kept: list[str] = []
    try:
        if libc.mount(b"tmpfs", os.fsencode(folder), b"tmpfs", flags, options) != 0:
            return False, kept, f"could not cover {folder}: {os.strerror(ctypes.get_errno())}"
        for n, fd in fds.items():
            target = os.path.join(folder, n)
            os.mkdir(target, 0o755)
            if libc.mount(os.fsencode(f"/proc/self/fd/{fd}"), os.fsencode(target), None, MS_BIND | MS_REC, None):
                return True, kept, f"could not keep {target} visible: {os.strerror(ctypes.get_errno())}"
            kept.append(target)
    finally:
        for fd in fds.values():
            os.close(fd)
    return True, kept, ""


def _private_tmp(libc, box: dict) -> str:
    """Size-capped private /tmp (holding the working directory), /var/tmp and /dev/shm.

    RLIMIT_FSIZE caps one file; these caps bound the total a submission can write, and the
    shared /tmp of the machine (other graders' folders included) becomes invisible. A course
    checkout or virtual environment that itself lives under one of those folders (a clone in
    /tmp) is bound back at its own path, or the child could not import the rest of NumPy or
    torch; course folders inside it are covered afterwards by :func:`_hide`.
    """
    import ctypes

    MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"shared /tmp: {os.strerror(ctypes.get_errno())}"
    size = int(box["limits"].get("scratch_bytes", 64 * 2**20))
    work = box["workdir"]
    top = "/" + work.strip("/").split("/")[0]  # the folder the working directory lives in (/tmp)
    roots = _import_roots()
    done, kept = [], []
    for d in dict.fromkeys([top, "/tmp", "/var/tmp", "/dev/shm"]):
        if not os.path.isdir(d):
            continue
        prefix = os.path.realpath(d).rstrip("/") + "/"
        names = {r[len(prefix):].split("/")[0] for r in roots if r.startswith(prefix)}
        mounted, kept_here, error = _cover_keeping(libc, d, names, MS_NOSUID | MS_NODEV,
                                                   f"size={size},mode=1777".encode())
        if mounted:
            done.append(d)
            kept += kept_here
        if mounted and error:
            return error
    if top not in done:
        return "shared /tmp (could not mount a private one)"
    os.makedirs(work, 0o700)
    if box.get("uid") is not None and os.geteuid() == 0:
        os.chown(work, box["uid"], box["gid"])
    os.chdir(work)
    note = f"; {', '.join(kept)} kept visible (Python imports from there)" if kept else ""
    return f"private {', '.join(done)} ({size // 2**20} MiB each){note}"


def _hide(libc, paths) -> str:
    """Cover course folders (solutions, gradebook, other submissions) with empty read-only mounts."""
    import ctypes

    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"course folders not hidden: {os.strerror(ctypes.get_errno())}"
    hidden, failed = 0, []
    for path in sorted(set(paths), key=len, reverse=True):
        if not os.path.lexists(path):
            continue
        target = os.fsencode(path)
        if os.path.isdir(path):
            rc = libc.mount(b"tmpfs", target, b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                            b"size=4k,mode=0555")
        else:
            rc = libc.mount(b"/dev/null", target, None, MS_BIND, None)
        if rc == 0:
            hidden += 1
        else:
            failed.append(f"{path}: {os.strerror(ctypes.get_errno())}")
    return f"{hidden} course path(s) hidden" + (f"; not hidden: {'; '.join(failed)}" if failed else "")


def _expose_python(libc) -> str:
    """Let the unprivileged user import from a Python installed under a private folder.

    A Python under ``/root/.pyenv`` cannot load modules once the child has dropped to an
    unprivileged uid, because ``/root`` is not traversable. In the child's own mount
    namespace an empty tmpfs covers such a folder and only the entries leading to Python are
    bound back, at the same paths, so imports keep working and the rest stays invisible.
    """
    import stat

    wanted = _import_roots()
    blockers: dict[str, set[str]] = {}
    for path in wanted:
        parts = path.strip("/").split("/")
        cur = "/"
        for i, part in enumerate(parts[:-1]):
            cur = os.path.join(cur, part)
            if not os.stat(cur).st_mode & stat.S_IXOTH:
                blockers.setdefault(cur, set()).add(parts[i + 1])
                break
    done = []
    for block, names in sorted(blockers.items()):
        mounted, kept, error = _cover_keeping(libc, block, names, 0, b"size=64k,mode=0755")
        done += kept
        if error:
            return f"could not expose Python under {block}: {error}"
    return f"{', '.join(done)} visible (rest of the private folder hidden)" if done else ""


def _apply_sandbox(box: dict) -> dict:
    import ctypes
    import resource

    report = {}
    os.chdir(box["workdir"])
    # network: a fresh network namespace has only a downed loopback
    CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS = 0x40000000, 0x10000000, 0x00020000
    libc = None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNET | CLONE_NEWNS | (0 if os.geteuid() == 0 else CLONE_NEWUSER)
        if libc.unshare(flags) == 0:
            report["network"] = "isolated (empty network namespace)"
            if box["limits"].get("private_tmp", True):
                report["scratch"] = _private_tmp(libc, box)
            report["files"] = _hide(libc, box.get("hide") or [])
            # a /proc of our own that shows other users' processes to nobody: the grader's command line
            # (a --secret given there) and other children stay unreadable
            if libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, b"hidepid=2") == 0:
                report["processes"] = "other processes invisible (/proc hidepid=2)"
            else:
                report["processes"] = f"other processes visible: {os.strerror(ctypes.get_errno())}"
            if os.geteuid() == 0 and box.get("uid") is not None:
                exposed = _expose_python(libc)
                if exposed:
                    report["python"] = exposed
        else:
            report["network"] = f"not isolated: unshare failed ({os.strerror(ctypes.get_errno())})"
            report["files"] = "course folders not hidden (no mount namespace); file permissions apply"
    except (OSError, AttributeError) as exc:  # pragma: no cover - platforms without unshare
        report["network"] = f"not isolated: {exc}"
    lim = box["limits"]
    for name, value in (("RLIMIT_AS", lim["memory_bytes"]), ("RLIMIT_FSIZE", lim["file_bytes"]),
                        ("RLIMIT_NPROC", lim["nproc"]), ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError) as exc:
            report.setdefault("limit_errors", []).append(f"{name}: {exc}")
    used = int(sum(os.times()[:2])) + 1
    cpu = used + int(lim["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    if box.get("uid") is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(box["gid"])
        os.setuid(box["uid"])
        report["user"] = f"uid {os.getuid()} (unprivileged)"
    else:
        report["user"] = f"uid {os.getuid()} (not root: runs as the grading user)"
    return report


def _public_name(cls) -> str:
    """NumPy's private ``_ArrayMemoryError`` reads as ``MemoryError``; the student's own classes keep their name."""
    if cls.__module__ != "__submission__" and cls.__name__.startswith("_"):
        for base in cls.__mro__:
            if base.__module__ == "builtins":
                return base.__name__
    return cls.__name__


def _trim_tb(exc: BaseException) -> tuple[str, int | None]:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename.startswith("<cell")]
    line = mine[-1].lineno if mine else None
    text = "".join(traceback.format_list(mine[-8:])) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[-3000:], line


def main(proto_fd: int) -> None:
    raw = sys.stdin.buffer.read(MAX_JOB_BYTES)
    job = json.loads(raw)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    proto = os.fdopen(proto_fd, "w", buffering=1, encoding="utf-8")

    def emit(ev: dict) -> None:
        proto.write(json.dumps(ev, allow_nan=False) + "\n")
        proto.flush()

    from . import wire

    spec_mod = _load_spec(job["spec"])
    drivers = _disarm_references(spec_mod)
    report = _apply_sandbox(job["sandbox"])
    emit({"ev": "ready", "sandbox": report})

    import builtins

    ns: dict = {"__name__": "__submission__", "__builtins__": builtins}
    skip = set(job.get("skip_cells", []))
    for unit in job["units"]:
        cell = unit["cell"]
        if cell in skip:
            continue
        emit({"ev": "load", "cell": cell, "ex": unit["ex"]})
        errors = []
        fname = f"<cell {cell}>"
        try:
            tree = ast.parse(unit["source"], fname)
        except (SyntaxError, ValueError) as exc:
            tree = None
            errors.append(f"{type(exc).__name__}: {exc}")
        for stmt in tree.body if tree is not None else []:
            try:
                exec(compile(ast.Module([stmt], []), fname, "exec"), ns)  # noqa: S102 - this is the sandbox
            except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
                text, line = _trim_tb(exc)
                errors.append(f"line {getattr(stmt, 'lineno', '?')}: {type(exc).__name__}: {str(exc)[:300]}")
        emit({"ev": "loaded", "cell": cell, "errors": errors[:20]})

    for ex in job["exercises"]:
        ex_id, fn = ex["id"], ex["function"]
        emit({"ev": "start", "ex": ex_id})
        obj = ns.get(fn)
        why = None
        if obj is None:
            why = f"`{fn}` is not defined after running the exercise cell"
        elif isinstance(obj, type):
            if getattr(obj, "__module__", None) != "__submission__":
                why = f"`{fn}` is not a class defined in the notebook (it comes from {obj.__module__})"
        else:
            code = getattr(obj, "__code__", None)
            if code is None or not str(code.co_filename).startswith("<cell"):
                where = getattr(obj, "__module__", None) or type(obj).__name__
                why = f"`{fn}` is not a function defined in the notebook (it comes from {where})"
        if why:
            emit({"ev": "missing", "ex": ex_id, "why": why})
            continue
        driver = drivers.get(ex_id)
        for i, enc in enumerate(job["cases"][ex_id]):
            args = wire.decode(enc)
            _TRIPPED.clear()
            t0 = time.perf_counter()
            try:
                out = driver(obj, *args) if driver is not None else obj(*args)
                msg = {"ev": "result", "ex": ex_id, "case": i, "ok": True, "out": wire.encode(out)}
            except BaseException as exc:  # noqa: BLE001 - report whatever the student's code raised
                text, line = _trim_tb(exc)
                kind = _public_name(type(exc))
                msg = {"ev": "result", "ex": ex_id, "case": i, "ok": False,
                       "error": f"{kind}: {str(exc)[:500]}", "type": kind,
                       "line": line, "tb": text}
            msg["seconds"] = time.perf_counter() - t0
            msg["tripwire"] = sorted(_TRIPPED)
            try:
                emit(msg)
            except (ValueError, TypeError) as exc:
                emit({"ev": "result", "ex": ex_id, "case": i, "ok": False, "error": f"output not sendable: {exc}",
                      "type": "WireError", "line": None, "tb": "", "seconds": msg["seconds"],
                      "tripwire": msg["tripwire"]})
        emit({"ev": "end", "ex": ex_id})
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a student may have replaced or closed them
        pass
    emit({"ev": "done"})
    os._exit(0)


def zygote(sock_fd: int, spec_locator: dict) -> None:
    """The fork server (see ``sandbox._Zygote``): preload, then fork one child per request."""
    import select
    import signal
    import socket

    sock = socket.socket(fileno=sock_fd)
    import numpy  # noqa: F401 - preloaded for the children

    from . import wire  # noqa: F401

    _load_spec(spec_locator)
    sock.sendall(b'{"ready": true}\n')
    while True:
        ready = select.select([sock], [], [], 0.02)[0]
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            sock.sendall(json.dumps({"exit": pid, "status": status}).encode() + b"\n")
        if not ready:
            continue
        msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 3)
        if not msg:
            os._exit(0)  # the grader went away
        req = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            try:
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
                main(proto)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
