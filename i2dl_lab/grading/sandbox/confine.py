"""Confine: what the child does to itself before any student code runs.

In this order: a new network namespace (only a downed loopback) and mount namespace; a
size-capped private ``/tmp`` (also ``/var/tmp`` and ``/dev/shm``) holding the working
directory; the course folders covered by empty read-only mounts; a ``/proc`` that hides
other users' processes; resource limits; and, when the grader runs as root, a switch to the
unique unprivileged uid the launcher chose. :func:`apply` returns a plain-words report of
each step, which the grader keeps with the result.
"""

from __future__ import annotations

import ctypes
import os
import resource
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS = 0x40000000, 0x10000000, 0x00020000


def _err() -> str:
    return os.strerror(ctypes.get_errno())


def import_roots() -> set[str]:
    """Real paths Python needs to keep importing: its prefixes, executable folder and sys.path."""
    return {os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, sys.exec_prefix,
                                          os.path.dirname(os.path.realpath(sys.executable)), *sys.path]
            if p and os.path.isabs(p) and os.path.exists(p)}


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
    """Size-capped private /tmp (holding the working directory), /var/tmp and /dev/shm.

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
    os.makedirs(box.workdir, 0o700)
    if box.uid is not None and os.geteuid() == 0:
        os.chown(box.workdir, box.uid, box.uid)
    os.chdir(box.workdir)
    note = f"; {', '.join(kept)} kept visible (Python imports from there)" if kept else ""
    return f"private {', '.join(done)} ({size // 2**20} MiB each){note}"


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


def _namespaces(libc, box, report: dict) -> None:
    """Network and mount namespaces, private /tmp, hidden course folders, private /proc."""
    flags = CLONE_NEWNET | CLONE_NEWNS | (0 if os.geteuid() == 0 else CLONE_NEWUSER)
    if libc.unshare(flags) != 0:
        report["network"] = f"not isolated: unshare failed ({_err()})"
        report["files"] = "course folders not hidden (no mount namespace); file permissions apply"
        return
    report["network"] = "isolated (empty network namespace)"
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        report["files"] = f"course folders not hidden: {_err()}"
        return
    if box.limits.get("private_tmp", True):
        report["scratch"] = private_tmp(libc, box)
    report["files"] = hide(libc, box.hide)
    # a /proc of our own that shows other users' processes to nobody: the grader's command line
    # (a --secret given there) and other children stay unreadable
    if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2") == 0:
        report["processes"] = "other processes invisible (/proc hidepid=2)"
    else:
        report["processes"] = f"other processes visible: {_err()}"
    if os.geteuid() == 0 and box.uid is not None:
        exposed = expose_python(libc)
        if exposed:
            report["python"] = exposed


def _limits(lim: dict, report: dict) -> None:
    for name, value in (("RLIMIT_AS", lim["memory_bytes"]), ("RLIMIT_FSIZE", lim["file_bytes"]),
                        ("RLIMIT_NPROC", lim["nproc"]), ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError) as exc:
            report.setdefault("limit_errors", []).append(f"{name}: {exc}")
    cpu = int(sum(os.times()[:2])) + 1 + int(lim["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


def apply(box) -> dict:
    """Confine this process as ``box`` (a :class:`~..protocol.Box`) says; returns the report."""
    report: dict = {}
    os.chdir(box.workdir)
    try:
        _namespaces(ctypes.CDLL(None, use_errno=True), box, report)
    except (OSError, AttributeError) as exc:  # pragma: no cover - platforms without unshare
        report["network"] = f"not isolated: {exc}"
    _limits(box.limits, report)
    if box.uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(box.uid)
        os.setuid(box.uid)
        report["user"] = f"uid {os.getuid()} (unprivileged)"
    else:
        report["user"] = f"uid {os.getuid()} (not root: runs as the grading user)"
    return report
