"""Confine: what the child does to itself before any student code runs.

In this order: the memory cgroup (all of the submission's processes together); as an
ordinary user, a user namespace; new network, mount and PID namespaces (the child becomes
process 1 of its PID namespace, watched by a relay); a size-capped private ``/tmp`` (also
``/var/tmp``, ``/dev/shm``, ``/run/lock``) holding the working directory; the checkout and
the course folders covered; a fresh ``/proc``; as an ordinary user, a nested user namespace
that locks those mounts and no capabilities; resource limits; as root, a switch to the
unique unprivileged uid the launcher chose. Every step must succeed: otherwise
:class:`ConfinementError`, and the child refuses to run student code. :func:`apply` returns
a plain-words report of each step, which the grader keeps with the result.
"""

from __future__ import annotations

import ctypes
import os
import resource
import stat
import sys

from .memory import write_text

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID = 0x40000000, 0x10000000, 0x00020000, 0x20000000


def _err() -> str:
    return os.strerror(ctypes.get_errno())


_ROOTS: dict[tuple, frozenset] = {}


def import_roots() -> set[str]:
    """Real paths Python needs to keep importing: its prefixes, executable folder and sys.path.

    Resolved once per interpreter and path list (three steps of the confinement ask, and the
    fork server resolves them before it forks: a child does not walk every path again).
    """
    key = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.executable, tuple(sys.path))
    if key not in _ROOTS:
        _ROOTS[key] = frozenset(os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                              os.path.dirname(os.path.realpath(sys.executable)),
                                                              *sys.path]
                                if p and os.path.isabs(p) and os.path.exists(p))
    return set(_ROOTS[key])


def _cover_keeping(libc, folder: str, names, flags: int, options: bytes) -> tuple[bool, list[str], str]:
    """Mount an empty tmpfs over ``folder`` and bind its entries ``names`` back at their paths.

    Directory descriptors opened before the mount keep the covered entries reachable, so
    they can be bound back from ``/proc/self/fd``. Returns ``(mounted, kept, error)``.
    """
    fds = {n: os.open(os.path.join(folder, n), os.O_RDONLY) for n in names}
    kept: list[str] = []
    try:
        if libc.mount(b"tmpfs", os.fsencode(folder), b"tmpfs", flags, options) != 0:
            return False, kept, f"could not cover {folder}: {_err()}"
        for n, fd in fds.items():
            target = os.path.join(folder, n)
            os.mkdir(target, 0o755)
            if libc.mount(os.fsencode(f"/proc/self/fd/{fd}"), os.fsencode(target), None, MS_BIND | MS_REC, None):
                return True, kept, f"could not keep {target} visible: {_err()}"
            kept.append(target)
    finally:
        for fd in fds.values():
            os.close(fd)
    return True, kept, ""


def private_tmp(libc, box) -> str:
    """Size-capped private /tmp (holding the working directory), /var/tmp, /dev/shm and /run/lock.

    RLIMIT_FSIZE caps one file; these caps bound the total a submission can write, and the
    shared /tmp of the machine (other graders' folders included) becomes invisible. A course
    checkout or virtual environment that itself lives under one of those folders (a clone in
    /tmp) is bound back at its own path, or the child could not import NumPy or torch;
    course folders inside it are covered afterwards by :func:`hide`.
    """
    size = int(box.limits.get("scratch_bytes", 64 * 2**20))
    top = "/" + box.workdir.strip("/").split("/")[0]  # the folder the working directory lives in (/tmp)
    roots = import_roots()
    done, kept = [], []
    for d in dict.fromkeys(os.path.realpath(p) for p in [top, "/tmp", "/var/tmp", "/dev/shm", "/run/lock"]):
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
    os.makedirs(box.workdir, 0o700)
    if box.uid is not None and os.geteuid() == 0:
        os.chown(box.workdir, box.uid, box.uid)
    os.chdir(box.workdir)
    note = f"; {', '.join(kept)} kept visible (Python imports from there)" if kept else ""
    return f"private {', '.join(done)} ({size // 2**20} MiB each){note}"


def cover_checkout(libc, root: str) -> str:
    """Cover the course checkout ``root``, keeping only the entries Python imports from (the package, a venv)."""
    prefix = os.path.realpath(root).rstrip("/") + "/"
    names = {r[len(prefix):].split("/")[0] for r in import_roots() if r.startswith(prefix)} | {"i2dl_lab"}
    names = {n for n in names if n and os.path.exists(os.path.join(root, n))}
    mounted, kept, error = _cover_keeping(libc, root, sorted(names), MS_NOSUID | MS_NODEV, b"size=64k,mode=0755")
    if not mounted or error:
        return f"checkout {root} not hidden: {error}"
    return f"checkout hidden except {', '.join(os.path.basename(k) for k in kept)}"


def hide(libc, paths) -> str:
    """Cover course folders (solutions, gradebook, other submissions) with empty read-only mounts."""
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
            failed.append(f"{path}: {_err()}")
    return f"{hidden} course path(s) hidden" + (f"; not hidden: {'; '.join(failed)}" if failed else "")


def expose_python(libc) -> str:
    """Let the unprivileged user import from a Python installed under a private folder.

    A Python under ``/root/.pyenv`` cannot load modules once the child has dropped to an
    unprivileged uid, because ``/root`` is not traversable. In the child's own mount
    namespace an empty tmpfs covers such a folder and only the entries leading to Python are
    bound back, at the same paths, so imports keep working and the rest stays invisible.
    """
    blockers: dict[str, set[str]] = {}
    for path in import_roots():
        parts = path.strip("/").split("/")
        cur = "/"
        for i, part in enumerate(parts[:-1]):
            cur = os.path.join(cur, part)
            if not os.stat(cur).st_mode & stat.S_IXOTH:
                blockers.setdefault(cur, set()).add(parts[i + 1])
                break
    done = []
    for block, names in sorted(blockers.items()):
        _mounted, kept, error = _cover_keeping(libc, block, names, 0, b"size=64k,mode=0755")
        done += kept
        if error:
            return f"could not expose Python under {block}: {error}"
    return f"{', '.join(done)} visible (rest of the private folder hidden)" if done else ""


def _user_namespace(libc) -> str | None:
    """As an ordinary user: a user namespace where this process is root (its uid mapped to 0); error or None."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER) != 0:
        return f"no user namespace ({_err()})"
    if not (write_text("/proc/self/setgroups", "deny") and write_text("/proc/self/uid_map", f"0 {uid} 1")
            and write_text("/proc/self/gid_map", f"0 {gid} 1")):
        return "could not map the grading user into its user namespace"
    return None


def _mirror(status: int) -> None:
    """End this process the way a child with wait ``status`` ended (exit code 128+n stands for signal n)."""
    import signal

    code = os.waitstatus_to_exitcode(status)
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # their action cannot be changed (nor caught)
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


def _init(worker: int) -> None:
    """Process 1 of the PID namespace: reap every orphan, end when the worker ends (taking the namespace)."""
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)  # process 1 cannot kill itself: encode a signal as 128+n


def _relay_in_new_pid_namespace(libc) -> None:
    """Fork into a new PID namespace: process 1 there is a reaper, process 2 goes on to run the submission.

    This process and process 1 wait and pass on how the submission ended. When process 1 ends,
    the kernel kills everything in the namespace; and every link of the chain (grader, fork
    server, this relay, process 1, process 2) dies with its parent (PR_SET_PDEATHSIG), so a
    ``kill -9`` of the grader takes every process of every submission with it.
    """
    if libc.unshare(CLONE_NEWPID) != 0:
        raise ConfinementError(f"no PID namespace ({_err()})")
    init = os.fork()
    if init == 0:
        die_with_parent()  # the relay lives outside this namespace: its pid reads as 0 here
        worker = os.fork()
        if worker == 0:
            die_with_parent(1)
            return
        os.closerange(0, 1 << 16)  # the pipes belong to the worker: the grader must see them close with it
        _init(worker)
    os.closerange(0, 1 << 16)
    _, status = os.waitpid(init, 0)
    _mirror(status)


def _lock_mounts(libc) -> None:
    """As an ordinary user: a nested user namespace locks every mount, then all capabilities go.

    Without this, code running as root of the user namespace could unmount what hides the
    course (the grading user's own files).
    """
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise ConfinementError(f"could not lock the mounts ({_err()})")
    if not (write_text("/proc/self/setgroups", "deny") and write_text("/proc/self/uid_map", "0 0 1")
            and write_text("/proc/self/gid_map", "0 0 1")):
        raise ConfinementError("could not map the nested user namespace")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty
    if libc.capset(header, data) != 0:
        raise ConfinementError(f"could not drop capabilities ({_err()})")
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def _mounts(libc, box, report: dict, extra_hide) -> None:
    """Private /tmp, hidden course, fresh /proc (in the new PID namespace: only this submission's processes)."""
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise ConfinementError(f"course folders not hidden: {_err()}")
    if box.limits.get("private_tmp", True):
        report["scratch"] = private_tmp(libc, box)
        if not report["scratch"].startswith("private"):
            raise ConfinementError(report["scratch"])
    if box.checkout:
        report["checkout"] = cover_checkout(libc, box.checkout)
    report["files"] = hide(libc, [*box.hide, *extra_hide])
    if "not hidden" in report["files"] or "not hidden" in report.get("checkout", ""):
        raise ConfinementError(report["files"] + "; " + report.get("checkout", ""))
    if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2") != 0:
        raise ConfinementError(f"no private /proc ({_err()})")
    report["processes"] = "own PID namespace: only this submission's processes exist (fresh /proc)"
    if os.geteuid() == 0 and box.uid is not None:
        exposed = expose_python(libc)
        if exposed:
            report["python"] = exposed


def _namespaces(libc, box, report: dict, extra_hide=()) -> None:
    """User (as an ordinary user), network, mount and PID namespaces, then the mounts."""
    root = os.geteuid() == 0
    if not root:
        err = _user_namespace(libc)
        if err:
            raise ConfinementError(err)
    if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        raise ConfinementError(f"unshare failed ({_err()})")
    report["network"] = "isolated (empty network namespace)"
    _relay_in_new_pid_namespace(libc)
    _mounts(libc, box, report, extra_hide)
    if not root:
        _lock_mounts(libc)
        report["user"] = "the grading user, without capabilities, in a user namespace whose mounts are locked"


def _limits(lim: dict, report: dict) -> None:
    for name, value in (("RLIMIT_AS", lim["memory_bytes"]), ("RLIMIT_FSIZE", lim["file_bytes"]),
                        ("RLIMIT_NPROC", lim["nproc"]), ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError) as exc:
            report.setdefault("limit_errors", []).append(f"{name}: {exc}")
    cpu = int(sum(os.times()[:2])) + 1 + int(lim["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


class ConfinementError(RuntimeError):
    """A confinement step failed: the child must not run student code (it refuses instead)."""


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies (``kill -9`` of the grader reaches every child).

    ``parent``: the parent's pid as this process sees it, to catch a parent that died before
    the signal was set (None: not visible from here, e.g. across a PID namespace).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if parent is not None and os.getppid() != parent:
        os._exit(70)


def _join_cgroup(box, report: dict) -> None:
    if box.cgroup and os.geteuid() == 0:
        if not write_text(os.path.join(box.cgroup, "cgroup.procs"), str(os.getpid())):
            raise ConfinementError(f"could not join the memory cgroup {box.cgroup}")
        report["memory"] = f"cgroup {box.cgroup}: {box.limits['memory_bytes'] // 2**20} MiB over all processes"
    else:
        report["memory"] = (f"no cgroup: {box.limits['memory_bytes'] // 2**20} MiB address space and a single "
                            "process (RLIMIT_NPROC 1)")


def apply(box, extra_hide=()) -> dict:
    """Confine this process as ``box`` (a :class:`~..protocol.Box`) says; returns the report.

    ``extra_hide``: files the child found it must hide too (the references' sources). Raises
    :class:`ConfinementError` when a step fails: the child then refuses to run student code,
    as root or not; there is no partly confined mode.
    """
    report: dict = {}
    os.chdir(box.workdir)
    _join_cgroup(box, report)
    _namespaces(ctypes.CDLL(None, use_errno=True), box, report, extra_hide)
    lim = dict(box.limits)
    if not box.cgroup:
        lim["nproc"] = 1  # without a cgroup, one process's address space is the submission's total
    _limits(lim, report)
    if box.uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(box.uid)
        os.setuid(box.uid)
        report["user"] = f"uid {os.getuid()} (unprivileged)"
    return report
