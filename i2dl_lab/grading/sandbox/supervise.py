"""Supervise: the grader's side of a running child: clocks, output caps, the answer channel, killing.

:func:`watch` reads the child's captured output (kept up to a cap, the rest counted) and
its answer pipe (parsed into :mod:`..protocol` messages, capped too) until the child says
``Done``, dies, or runs out of time. :func:`kill_uid` removes every process of a child's
unique uid, wherever it went.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field

from ..protocol import (
    CaseOutcome,
    Done,
    End,
    Job,
    Load,
    Loaded,
    Message,
    Missing,
    ProtocolError,
    Ready,
    Start,
    decode_message,
)
from .memory import wait_gone

#: Longest message the child may send (bytes of one JSON line); a case's output is one message.
MAX_MESSAGE_BYTES = 16 * 2**20
#: Most JSON values one message may hold (arrays travel as one base64 string each). Counting
#: them before parsing bounds the parser's memory: a line of a million tiny values would
#: otherwise cost the grader tens of times its size.
MAX_MESSAGE_VALUES = 1 << 16


@dataclass
class ChildRun:
    """What one child did: its messages, captured output, and how it ended."""

    messages: list[Message] = field(default_factory=list)
    output: str = ""
    output_dropped: int = 0
    ended: str = ""          # "done", "timeout", "exit", "signal", "overflow", "protocol", "startup"
    detail: str = ""         # plain-words description of how it ended
    seconds: float = 0.0
    timed_out_in: str | None = None
    started_by: str = ""
    memory_peak: int | None = None   # bytes all its processes held together at most (where a cgroup measured it)
    startup_seconds: float | None = None  # from the start until the child said Ready, beyond overlapped_seconds
    cleanup_seconds: float = 0.0     # from the child's last word until it was gone and cleaned up
    cpu_seconds: float | None = None  # CPU time of the child's processes (where the fork server measured it)
    overlapped_seconds: float = 0.0  # the grader's own work while the child ran (expected outputs, next child)


def _uid_pids(uid: int) -> list[int]:
    """Live (not zombie) processes of ``uid``."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status", "rb") as fh:
                    status = fh.read()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith(b"State:") and line.split()[1:2] == [b"Z"]:
                    break
                if line.startswith(b"Uid:"):
                    if int(line.split()[1]) == uid:
                        pids.append(int(pid))
                    break
    return pids


def kill_uid(uid: int) -> None:
    """SIGKILL every process owned by ``uid``, including any that left the process group.

    A helper process switches to ``uid`` and calls ``kill(-1, SIGKILL)``: the kernel signals
    all of that user's processes in one pass, so a fork bomb cannot outrun it. It then waits
    for those processes to exit (on their pidfds), not on a clock.
    """
    for _ in range(5):
        pids = _uid_pids(uid)
        if not pids:
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
        wait_gone(pids, 1.0)


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def describe_exit(rc: int, limits) -> str:
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


class Expected:
    """The only order in which an honest child speaks, derived from its :class:`Job`.

    ``Ready``; per unit ``Load`` and ``Loaded``; per task ``Start``, then ``Missing`` or one
    ``CaseOutcome`` per case in order, then ``End`` (none after ``Missing``); ``Done``. A
    message that does not come next is a protocol violation: student code that found the
    channel can neither move a clock nor add or replace an answer.
    """

    def __init__(self, job: Job):
        seq: list[tuple] = [(Ready,)]
        skip = set(job.skip_cells)
        for u in job.units:
            if u.cell not in skip:
                seq += [(Load, u.cell, u.ex), (Loaded, u.cell)]
        for t in job.tasks:
            seq.append((Start, t.id))
            seq.append(("cases", t.id, len(t.cases)))
        seq.append((Done,))
        self.seq, self.pos, self.case = seq, 0, 0

    def accept(self, msg: Message) -> bool:
        want = self.seq[self.pos] if self.pos < len(self.seq) else (None,)
        if want[0] == "cases":
            return self._case(msg, want[1], want[2])
        ok = type(msg) is want[0] and {
            Load: lambda: (msg.cell, msg.ex) == want[1:], Loaded: lambda: msg.cell == want[1],
            Start: lambda: msg.ex == want[1]}.get(want[0], lambda: True)()
        self.pos += ok
        return ok

    def _case(self, msg: Message, ex: str, n: int) -> bool:
        if isinstance(msg, Missing) and self.case == 0 and msg.ex == ex:
            self.pos += 1
            return True
        if isinstance(msg, CaseOutcome) and self.case < n and (msg.ex, msg.case) == (ex, self.case):
            self.case += 1
            return True
        if isinstance(msg, End) and self.case == n and msg.ex == ex:
            self.pos, self.case = self.pos + 1, 0
            return True
        return False


def _phase(msg: Message) -> str | None:
    """The phase a message opens (its clock starts then), or None if it opens none."""
    if isinstance(msg, (Ready, Loaded, End)):
        return "between cells" if not isinstance(msg, End) else "between exercises"
    if isinstance(msg, Load):
        return f"cell {msg.cell}"
    if isinstance(msg, Start):
        return f"exercise {msg.ex!r}"
    return None


class _Watch:
    """State of one supervision: the buffers, the phase and its deadline."""

    def __init__(self, child, r_fd: int, run: ChildRun, limits, t_start: float, total: float, job: Job,
                 exercise_seconds: dict[str, float], on_ready=None, on_message=None):
        self.child, self.r_fd, self.run, self.limits = child, r_fd, run, limits
        self.on_ready, self.on_message = on_ready, on_message
        self.expected = Expected(job)
        self.exercise_seconds = exercise_seconds
        self.t_start, self.total = t_start, total
        self.out = bytearray()
        self.buf = bytearray()
        self.proto_total = 0
        self.phase, self.phase_deadline = "startup", t_start + limits.startup
        self.phase_seconds = limits.startup
        self.done = False

    def timeout(self) -> None:
        run, lim = self.run, self.limits
        run.ended, run.timed_out_in = "timeout", self.phase
        if self.t_start + self.total <= self.phase_deadline:
            run.detail = f"time limit exceeded: the submission's {lim.wall_per_submission:g} s wall clock ran out"
        else:
            run.detail = f"time limit exceeded in {self.phase} ({self.phase_seconds:.3g} s wall clock)"

    def take_output(self, data: bytes) -> None:
        room = self.limits.output_bytes - len(self.out)
        if room > 0:
            self.out += data[:room]
        self.run.output_dropped += max(0, len(data) - max(room, 0))

    def take_answers(self, data: bytes) -> bool:
        """Parse whole lines; False when the child broke the protocol or its caps."""
        self.proto_total += len(data)
        if self.proto_total > self.limits.protocol_bytes:
            return self.violation(f"the process sent more than {self.limits.protocol_bytes} bytes of answers",
                                  "overflow")
        self.buf += data
        while not self.done:
            end = self.buf.find(b"\n")
            if end < 0:
                if len(self.buf) > MAX_MESSAGE_BYTES:
                    return self.violation(f"the process sent an answer longer than {MAX_MESSAGE_BYTES} bytes")
                return True
            line = bytes(self.buf[:end])
            del self.buf[: end + 1]
            if not self.take_line(line):
                return False
        return True

    def take_line(self, line: bytes) -> bool:
        if line.count(b",") + line.count(b"[") + line.count(b"{") > MAX_MESSAGE_VALUES:
            return self.violation(f"the process sent an answer of more than {MAX_MESSAGE_VALUES} JSON values")
        try:
            msg = decode_message(json.loads(line))
        except (ValueError, RecursionError, ProtocolError):
            return self.violation("the process sent a line that is not a message of the grading protocol")
        if not self.expected.accept(msg):
            return self.violation(f"the process sent a {msg.kind!r} message out of order (a forged answer?)")
        self.run.messages.append(msg)
        if self.on_message is not None:
            self.on_message(msg)
        if isinstance(msg, Ready):
            self.run.startup_seconds = time.monotonic() - self.t_start
            if self.on_ready is not None:
                self.on_ready()
        phase = _phase(msg)
        if phase is not None:
            cap = self.limits.wall_per_exercise
            seconds = min(cap, self.exercise_seconds.get(msg.ex, cap)) if isinstance(msg, Start) else cap
            self.phase, self.phase_deadline, self.phase_seconds = phase, time.monotonic() + seconds, seconds
        self.done = isinstance(msg, Done)
        return True

    def violation(self, detail: str, ended: str = "protocol") -> bool:
        self.run.ended, self.run.detail = ended, detail
        return False

    def loop(self) -> bool:
        """Read until done, both pipes closed, a time limit or an overflow; False if the run already ended."""
        sel = selectors.DefaultSelector()
        sel.register(self.child.out_fd, selectors.EVENT_READ)
        sel.register(self.r_fd, selectors.EVENT_READ)
        while sel.get_map() and not self.done:
            now = time.monotonic()
            deadline = min(self.t_start + self.total, self.phase_deadline)
            if now >= deadline:
                self.timeout()
                return False
            for key, _ in sel.select(deadline - now):
                try:
                    data = os.read(key.fd, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                elif key.fd == self.child.out_fd:
                    self.take_output(data)
                elif not self.take_answers(data):
                    return False
        if self.done and self.child.out_fd in sel.get_map():
            self.drain_output()
        return True

    def drain_output(self) -> None:
        """What the child printed before ``Done`` may still sit in the pipe: take it without waiting."""
        fd = self.child.out_fd
        while select.select([fd], [], [], 0.05)[0] and len(self.out) < self.limits.output_bytes:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            self.out += data[: self.limits.output_bytes - len(self.out)]

    def conclude(self) -> None:
        """How a child that did not say ``Done`` ended: it exited, was killed, or never started."""
        run = self.run
        try:
            rc = self.child.wait(max(0.1, min(5.0, self.t_start + self.total - time.monotonic())))
        except subprocess.TimeoutExpired:
            run.ended, run.detail = "timeout", "the process closed its pipes but did not exit"
            return
        if not any(isinstance(m, Ready) for m in run.messages):
            run.ended = "startup"
            run.detail = f"the grading sandbox failed to start (exit status {rc}): {run.output[-2000:]}"
            return
        run.ended = "signal" if rc < 0 else "exit"
        run.detail = describe_exit(rc, self.limits)


def watch(child, r_fd: int, run: ChildRun, limits, t_start: float, total: float, job: Job,
          exercise_seconds: dict[str, float] | None = None, on_ready=None, on_message=None) -> None:
    """Supervise ``child`` running ``job`` until it is done or must be stopped; fills ``run``.

    ``exercise_seconds``: each task's wall clock by exercise id (at most ``limits.wall_per_exercise``).
    ``on_ready``: called once when the child says it is confined (``Ready``).
    ``on_message``: called with each message that came in order (never with a rejected one).
    """
    w = _Watch(child, r_fd, run, limits, t_start, total, job,
               exercise_seconds if exercise_seconds is not None else {}, on_ready, on_message)
    finished = w.loop()
    run.output = w.out.decode("utf-8", "replace")
    if not finished:
        return
    if w.done:
        run.ended, run.detail = "done", "finished"
        return
    w.conclude()
