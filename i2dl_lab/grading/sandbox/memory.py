"""The memory cap over all of one submission's processes: a memory cgroup the child joins.

``RLIMIT_AS`` caps each process on its own: sixteen processes of 2 GiB each hold 32 GiB.
A cgroup counts them together. cgroup v2 is used where its memory controller is available,
else the v1 memory hierarchy; both need the grader to run as root. Without either, the
child runs as a single process (``RLIMIT_NPROC`` 1), so its address-space limit is the total
(:mod:`.confine` says which in the sandbox report).
"""

from __future__ import annotations

import glob
import os
import select
import shutil
import signal
import time

_V2 = "/sys/fs/cgroup"
_V1 = "/sys/fs/cgroup/memory"
PREFIX = "i2dl-grade-"


def write_text(path: str, text: str) -> bool:
    """Write ``text`` to a kernel control file; False when the kernel refuses (no exception)."""
    try:
        with open(path, "w") as fh:
            fh.write(text)
        return True
    except OSError:
        return False


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _v2_base() -> str | None:
    try:
        with open(os.path.join(_V2, "cgroup.controllers")) as fh:
            return _V2 if "memory" in fh.read().split() else None
    except OSError:
        return None


def create(limit: int) -> str | None:
    """A new cgroup capped at ``limit`` bytes (no swap beyond it), or None where none can be made."""
    if os.geteuid() != 0:
        return None
    name = f"{PREFIX}{os.getpid()}-{time.monotonic_ns()}"
    for base, files in ((_v2_base(), (("memory.max", limit), ("memory.swap.max", 0))),
                        (_V1 if os.path.isdir(_V1) else None, (("memory.limit_in_bytes", limit),
                                                               ("memory.memsw.limit_in_bytes", limit)))):
        if base is None:
            continue
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        if write_text(os.path.join(path, files[0][0]), str(files[0][1])):
            if os.path.exists(os.path.join(path, files[1][0])):
                write_text(os.path.join(path, files[1][0]), str(files[1][1]))
            return path
        os.rmdir(path)
    return None


def peak(path: str) -> int | None:
    """The most memory the cgroup's processes held together (bytes)."""
    return _read_int(os.path.join(path, "memory.peak")) or _read_int(os.path.join(path, "memory.max_usage_in_bytes"))


def cpu_seconds(path: str) -> float | None:
    """CPU seconds the cgroup's processes used together, the killed ones included (cgroup v2), else None."""
    try:
        with open(os.path.join(path, "cpu.stat")) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        pass
    return None


def _procs(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def empty(path: str) -> bool:
    """Whether no process is left in the cgroup."""
    return not _procs(path)


def wait_gone(pids: list[int], timeout: float) -> None:
    """Block until each of ``pids`` has exited (its pidfd becomes readable), at most ``timeout`` seconds."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except (OSError, AttributeError):
            continue
    try:
        deadline = time.monotonic() + timeout
        pending = list(fds)
        while pending and time.monotonic() < deadline:
            ready = select.select(pending, [], [], deadline - time.monotonic())[0]
            pending = [fd for fd in pending if fd not in ready]
    finally:
        for fd in fds:
            os.close(fd)


def remove(path: str) -> None:
    """Kill what is left in the cgroup, wait for it to exit (on pidfds, not a clock), remove the cgroup."""
    for _ in range(50):
        pids = _procs(path)
        if not pids:
            break
        if not write_text(os.path.join(path, "cgroup.kill"), "1"):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_gone(pids, 0.2)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def paths_of(tempdir: str, owner: int | None = None) -> list[str]:
    """The temp folders (in ``tempdir``) and cgroups of the grader ``owner`` (None: of every grader)."""
    out = []
    for base in (_v2_base(), _V1 if os.path.isdir(_V1) else None, tempdir):
        if base is not None:
            out += glob.glob(os.path.join(base, f"{PREFIX}{'' if owner is None else f'{owner}-'}*"))
    return out


def sweep_stale(tempdir: str) -> int:
    """Remove temp folders and cgroups left by graders that died (``kill -9``); returns how many."""
    n = 0
    for path in paths_of(tempdir):
        owner = os.path.basename(path)[len(PREFIX):].split("-")[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        if os.path.dirname(path) == os.path.normpath(tempdir):
            shutil.rmtree(path, ignore_errors=True)
        else:
            remove(path)
        n += 1
    return n
