"""Execute: the child's own work, from reading the job to the last answer.

Everything here up to :func:`define_cells` runs before any student code, as trusted code:
it reads the :class:`~..protocol.Job` from stdin, imports the lab's spec (for the drivers),
makes the graded references unreachable (:mod:`.references`), confines itself
(:mod:`.confine`), and only then defines the exercise cells and calls the graded functions
on the inputs the grader sent. Answers go back as :mod:`..protocol` messages on a dedicated
pipe, outputs converted to plain data by :mod:`..wire`. The grader trusts none of it.
"""

from __future__ import annotations

import ast
import itertools
import os
import sys
import time
import traceback

from ..protocol import CaseOutcome, Done, End, Job, Load, Loaded, Missing, Ready, Setup, Start
from . import confine, references

MAX_JOB_BYTES = 256 * 2**20


def load_spec(locator: dict):
    import importlib
    import importlib.util

    if "path" in locator:
        spec = importlib.util.spec_from_file_location("_i2dl_graded_spec", locator["path"])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(locator["module"])


def _public_name(cls) -> str:
    """NumPy's private ``_ArrayMemoryError`` reads as ``MemoryError``; the student's own classes keep their name."""
    if cls.__module__ != "__submission__" and cls.__name__.startswith("_"):
        for base in cls.__mro__:
            if base.__module__ == "builtins":
                return base.__name__
    return cls.__name__


def _trim_tb(exc: BaseException) -> tuple[str, int | None]:
    """The traceback's frames in the submission's cells (the last 8), with the exception; its last cell line.

    Only the cell frames are summarised: summarising every frame looks up the source line of
    each library and driver frame, a search of the file system per frame (the spec files are
    hidden, so it fails each time and is never cached), for frames that are dropped.
    """
    cells = ((f, n) for f, n in traceback.walk_tb(exc.__traceback__) if f.f_code.co_filename.startswith("<cell"))
    mine = traceback.StackSummary.extract(cells)
    line = mine[-1].lineno if mine else None
    text = "".join(traceback.format_list(mine[-8:])) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[-3000:], line


class Channel:
    """The answer pipe, one protocol message per line."""

    def __init__(self, fd: int):
        self.fh = os.fdopen(fd, "w", buffering=1, encoding="utf-8")

    def send(self, msg) -> None:
        self.fh.write(msg.to_line())
        self.fh.flush()


def _forked_copy_exits(owner: int) -> None:
    """A process the student's code forked returns here like the original; it must end without a
    word, or its messages would interleave with the original's and cost the next exercise."""
    if os.getpid() != owner:
        os._exit(0)


def define_cells(job: Job, ns: dict, chan: Channel) -> None:
    """Run each unit (import line or exercise cell) statement by statement; report what raised."""
    skip = set(job.skip_cells)
    for unit in job.units:
        if unit.cell in skip:
            continue
        chan.send(Load(unit.cell, unit.ex))
        chan.send(Loaded(unit.cell, _define(unit.source, f"<cell {unit.cell}>", ns)[:20]))


def _define(source: str, fname: str, ns: dict) -> list:
    """Run a cell's top-level statements in order, each even when one before it raised; what raised.

    As one code object (compiled from the text: compiling each statement from its syntax tree
    costs twice as much); only when a statement raises is the cell parsed, to find that
    statement and run the rest one by one.
    """
    owner = os.getpid()
    try:
        code = compile(source, fname, "exec")
    except (SyntaxError, ValueError) as exc:
        return [[getattr(exc, "lineno", 0) or 0, type(exc).__name__, str(exc)[:300]]]
    try:
        exec(code, ns)  # noqa: S102 - this is the sandbox
        _forked_copy_exits(owner)
        return []
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        _forked_copy_exits(owner)
        body = ast.parse(source, fname).body
        k = _raising_statement(body, code, exc.__traceback__)
        errors = [[getattr(body[k], "lineno", 0), _public_name(type(exc)), str(exc)[:300]]]
    for stmt in body[k + 1:]:
        try:
            exec(compile(ast.Module([stmt], []), fname, "exec"), ns)  # noqa: S102 - this is the sandbox
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            errors.append([getattr(stmt, "lineno", 0), _public_name(type(exc)), str(exc)[:300]])
        _forked_copy_exits(owner)
    return errors


def _raising_statement(body: list, code, tb) -> int:
    """The index in ``body`` of the top-level statement that ``code`` was running when it raised (traceback ``tb``).

    The cell's own frame in the traceback says where it was (line and column: two statements
    may share a line); a decorated definition starts at its first decorator.
    """
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    if tb is None:
        return 0
    pos = None
    if tb.tb_lasti >= 0:
        pos = next(itertools.islice(code.co_positions(), tb.tb_lasti // 2, None), None)
    where = (pos[0], pos[2] or 0) if pos and pos[0] is not None else (tb.tb_lineno, 1 << 30)

    def start(stmt) -> tuple:
        return min([(d.lineno, d.col_offset) for d in getattr(stmt, "decorator_list", [])]
                   + [(stmt.lineno, stmt.col_offset)])

    return max([k for k, stmt in enumerate(body) if start(stmt) <= where] or [0])


def _not_own(obj) -> str | None:
    """Why ``obj`` is not the student's own definition: ``undefined``, ``class`` or ``function``; or None."""
    if obj is None:
        return "undefined"
    if isinstance(obj, type):
        return None if getattr(obj, "__module__", None) == "__submission__" else "class"
    code = getattr(obj, "__code__", None)
    if code is None or not str(code.co_filename).startswith("<cell"):
        return "function"
    return None


def run_case(task, i: int, enc, obj, driver) -> CaseOutcome:
    """Call the student's object on one case; the outcome as a message."""
    from .. import wire

    args = wire.decode(enc)
    references.reset()
    owner = os.getpid()
    t0 = time.perf_counter()
    try:
        out = driver(obj, *args) if driver is not None else obj(*args)
        _forked_copy_exits(owner)
        kw = {"ok": True, "out": wire.encode(out)}
    except BaseException as exc:  # noqa: BLE001 - report whatever the student's code raised
        _forked_copy_exits(owner)
        text, line = _trim_tb(exc)
        kind = _public_name(type(exc))
        kw = {"ok": False, "error": f"{kind}: {str(exc)[:500]}", "type": kind, "line": line, "tb": text}
    return CaseOutcome(ex=task.id, case=i, seconds=time.perf_counter() - t0, tripwire=references.tripped(), **kw)


def run_tasks(job: Job, ns: dict, drivers: dict, chan: Channel) -> None:
    for task in job.tasks:
        chan.send(Start(task.id))
        obj = ns.get(task.function)
        why = _not_own(obj)
        if why:
            chan.send(Missing(task.id, why))
            continue
        for i, enc in enumerate(task.cases):
            outcome = run_case(task, i, enc, obj, drivers.get(task.id))
            try:
                chan.send(outcome)
            except (ValueError, TypeError) as exc:
                chan.send(CaseOutcome(ex=task.id, case=i, ok=False, error=f"output not sendable: {exc}",
                                      type="WireError", seconds=outcome.seconds, tripwire=outcome.tripwire))
        chan.send(End(task.id))


def main(proto_fd: int, parent: int | None = None, prepared: tuple | None = None) -> None:
    """The child: read its setup, remove the references, confine, read the job, define the cells, run the tasks.

    ``prepared``: ``(spec locator, drivers, modules that defined the references)`` when a fork
    server loaded that spec and removed its references before forking this process.
    """
    confine.die_with_parent(parent)
    setup = Setup.from_line(sys.stdin.buffer.readline(MAX_JOB_BYTES))
    chan = Channel(proto_fd)
    if prepared is not None and prepared[0] == setup.spec:
        drivers, defined_in = prepared[1], prepared[2]
    else:
        drivers, defined_in = references.remove_references(load_spec(setup.spec))
    try:
        report = confine.apply(setup.box, references.files_to_hide(defined_in))
    except (confine.ConfinementError, OSError) as exc:  # refuse: no student code runs half confined
        chan.send(Ready({"refused": f"{type(exc).__name__}: {exc}"[:500]}))
        os._exit(0)
    chan.send(Ready(report))
    job = Job.from_json(sys.stdin.buffer.read(MAX_JOB_BYTES))  # the submission, once confined
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)

    import builtins

    ns: dict = {"__name__": "__submission__", "__builtins__": builtins}
    define_cells(job, ns, chan)
    run_tasks(job, ns, drivers, chan)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a student may have replaced or closed them
        pass
    chan.send(Done())
    os._exit(0)
