"""The grading boundary, written down: the messages between grader and child, and the result record.

The grader (parent) sends one :class:`Job` to the child on its stdin. The child answers with
one JSON object per line on a dedicated pipe, each a message below, told apart by its
``"ev"`` field::

    Ready(sandbox)                 the sandbox is in place (what it isolated, in words)
    Load(cell, ex) / Loaded(cell, errors)     one cell is being defined / was defined
    Start(ex) / CaseOutcome(...) / End(ex)    one exercise and each of its cases
    Missing(ex, why)               the graded name is not defined (or not the student's own)
    Done()                         the child finished

Nothing on that pipe is trusted: :func:`decode_message` checks every field's type and size,
and raises :class:`ProtocolError` for anything else. The message names appear in this
module only; the child builds messages with the classes, the parent matches on them.

The result of grading one submission is a :class:`GradeResult` (its exercises are
:class:`ExerciseResult`, their hidden cases :class:`CaseResult`). The gradebook stores it as
JSON (:meth:`GradeResult.to_dict`) and reads it back with :meth:`GradeResult.from_dict`.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

#: Longest text kept from any one string the child sends (error, traceback, note).
MAX_TEXT = 4000


class ProtocolError(ValueError):
    """A message on the child's channel that breaks the protocol (wrong shape, type or size)."""


# ------------------------------------------------------------------ making text safe
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def exception_name(name) -> str:
    """``name`` if it is a built-in exception's name, else a neutral stand-in.

    The child reports the type of what a student's code raised. A class the student defined
    can be named anything (hidden inputs included), so feedback names built-in types only.

    >>> exception_name("ValueError"), exception_name("leak_0.4172")
    ('ValueError', 'an exception class defined in the notebook')
    """
    import builtins

    obj = getattr(builtins, name, None) if isinstance(name, str) and name.isidentifier() else None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return name
    return "an exception class defined in the notebook"


def safe_text(value, limit: int = MAX_TEXT) -> str:
    """``value`` as text that any sink accepts: no lone surrogates, no control characters.

    Everything a submission can influence (file names, manifest fields, exception text,
    printed output) passes through here once, where it enters the grader, so SQLite, the
    HTML template, CSV files and terminals never see an unencodable or steering character.
    Tabs and newlines stay; the text is cut to ``limit`` characters.

    >>> safe_text("a\\udcffb\\x1b[31mred\\tok")
    'a\\ufffdb[31mred\\tok'
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)[: limit * 2]
    text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    return text[:limit]


# ------------------------------------------------------------------ parent -> child
@dataclass(frozen=True)
class Unit:
    """One cell the child defines: an exercise cell or an import line another cell needs."""

    kind: str          # "import" or "exercise"
    ex: str | None     # the exercise id of an exercise cell
    cell: int          # index of the cell in the notebook
    source: str


@dataclass(frozen=True)
class Task:
    """One exercise the child runs: the name it looks up and the encoded argument tuples."""

    id: str
    function: str
    cases: list        # wire-encoded argument tuples (see :mod:`.wire`)


@dataclass(frozen=True)
class Box:
    """How the child confines itself (filled in by the launcher)."""

    workdir: str
    uid: int | None
    limits: dict
    hide: list[str] = field(default_factory=list)
    checkout: str | None = None     # a course checkout Python imports from: covered, its imported parts kept
    cgroup: str | None = None


@dataclass(frozen=True)
class Setup:
    """What the child needs before any submission: the spec to load and how to confine itself.

    The first line on the child's stdin; the :class:`Job` follows once the child is confined
    (a child may be started and confined before the grader knows its submission).
    """

    spec: dict
    box: Box

    def to_line(self) -> bytes:
        return json.dumps({"spec": self.spec, "box": vars(self.box)}).encode() + b"\n"

    @classmethod
    def from_line(cls, raw: bytes) -> Setup:
        d = json.loads(raw)
        return cls(spec=d["spec"], box=Box(**d["box"]))


@dataclass(frozen=True)
class Job:
    """One submission's work for the child, sent on its stdin after the :class:`Setup`."""

    spec: dict                      # where the child imports the lab's spec from (for the drivers)
    units: list[Unit]
    tasks: list[Task]
    skip_cells: list[int] = field(default_factory=list)

    def to_json(self) -> bytes:
        # by hand, not dataclasses.asdict: that deep-copies every encoded case on the way
        d = {"spec": self.spec, "units": [vars(u) for u in self.units], "tasks": [vars(t) for t in self.tasks],
             "skip_cells": self.skip_cells}
        return json.dumps(d, allow_nan=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Job:
        d = json.loads(raw)
        return cls(spec=d["spec"], units=[Unit(**u) for u in d["units"]], tasks=[Task(**t) for t in d["tasks"]],
                   skip_cells=list(d["skip_cells"]))


# ------------------------------------------------------------------ child -> parent
@dataclass(frozen=True)
class Message:
    kind: ClassVar[str] = ""

    def to_line(self) -> str:
        # the fields as they are, not dataclasses.asdict: that deep-copies a case's encoded output
        return _LINE.encode({"ev": self.kind, **{name: getattr(self, name) for name in _field_names(type(self))}}) \
            + "\n"


#: Encodes a message (``json.dumps(..., allow_nan=False)`` builds an encoder at every call).
_LINE = json.JSONEncoder(allow_nan=False)


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    """A message class's field names (``dataclasses.fields`` builds the list at every call)."""
    return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Ready(Message):
    kind: ClassVar[str] = "ready"
    sandbox: dict


@dataclass(frozen=True)
class Load(Message):
    kind: ClassVar[str] = "load"
    cell: int
    ex: str | None


@dataclass(frozen=True)
class Loaded(Message):
    """A cell was defined; ``errors``: ``[line, exception type name, text]`` of each statement that raised."""

    kind: ClassVar[str] = "loaded"
    cell: int
    errors: list


@dataclass(frozen=True)
class Start(Message):
    kind: ClassVar[str] = "start"
    ex: str


@dataclass(frozen=True)
class Missing(Message):
    """The graded name is ``undefined``, or not the student's own ``class`` or ``function``."""

    kind: ClassVar[str] = "missing"
    ex: str
    reason: str


@dataclass(frozen=True)
class CaseOutcome(Message):
    """One case: ``out`` (wire data) when ``ok``, else the exception's type, text, line and traceback."""

    kind: ClassVar[str] = "result"
    ex: str
    case: int
    ok: bool
    out: object = None
    error: str = ""
    type: str = ""
    line: int | None = None
    tb: str = ""
    seconds: float = 0.0
    tripwire: list = field(default_factory=list)


@dataclass(frozen=True)
class End(Message):
    kind: ClassVar[str] = "end"
    ex: str


@dataclass(frozen=True)
class Done(Message):
    kind: ClassVar[str] = "done"


MESSAGES: dict[str, type[Message]] = {m.kind: m for m in (Ready, Load, Loaded, Start, Missing, CaseOutcome, End,
                                                          Done)}
_TYPES = {"int": (int,), "str": (str,), "bool": (bool,), "dict": (dict,), "list": (list,), "float": (int, float),
          "int | None": (int, type(None)), "str | None": (str, type(None)), "object": (object,)}


def decode_message(obj) -> Message:
    """The message ``obj`` (one parsed JSON line) stands for; :class:`ProtocolError` if it is malformed."""
    if not isinstance(obj, dict) or obj.get("ev") not in MESSAGES:
        raise ProtocolError("not a message of the grading protocol")
    cls = MESSAGES[obj["ev"]]
    names = {f.name: f for f in fields(cls)}
    if set(obj) - {"ev"} - set(names):
        raise ProtocolError(f"unexpected fields in a {cls.kind!r} message")
    kw = {}
    for name, f in names.items():
        if name not in obj:
            continue
        v = obj[name]
        allowed = _TYPES[str(f.type)]
        if not isinstance(v, allowed) or (type(v) is bool and bool not in allowed and allowed != (object,)):
            raise ProtocolError(f"field {name!r} of a {cls.kind!r} message has the wrong type")
        kw[name] = v
    try:
        return cls(**kw)
    except TypeError:
        raise ProtocolError(f"a {cls.kind!r} message lacks a field") from None


# ------------------------------------------------------------------ the result record
@dataclass
class CaseResult:
    """One hidden case (or quiz question): ``feedback`` is for the student, ``message`` for the instructor."""

    passed: bool
    message: str
    feedback: str
    traceback: str | None = None
    seconds: float | None = None
    question: str | None = None
    points: float | None = None


@dataclass
class ExerciseResult:
    id: str
    title: str
    function: str
    max_points: float
    points: float = 0.0
    message: str = ""
    notes: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    def fail_remaining(self, n: int, message: str, feedback: str | None = None) -> None:
        """Fill the cases up to ``n`` with failures that say ``message``."""
        for _ in range(len(self.cases), n):
            self.cases.append(CaseResult(False, message, feedback or message))


@dataclass
class GradeResult:
    """The graded submission: what the gradebook stores and the feedback shows.

    ``status`` is ``graded``, ``rejected`` (the file cannot be graded; the message says why)
    or ``error`` (a grader failure, retried on the next run).
    """

    file: str
    sha256: str
    lab: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    exercises: list[ExerciseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""
    sandbox: dict = field(default_factory=dict)
    grader_version: str = ""
    lab_version: str | None = None
    student: str | None = None
    submitted_at: str | None = None
    seconds: float = 0.0
    #: Where ``seconds`` went (for the instructor and the benchmark): ``prepare`` (reading the
    #: notebook, the static check, drawing the cases; in the serial batch done ahead, in a
    #: thread, while the previous submission ran: ``seconds`` then count only
    #: ``prepare_waited``, the wait for it); ``children`` (each child from its start
    #: until it is gone and cleaned up), of which ``startup`` (waiting for the child to be
    #: confined and ready, beyond ``overlapped``), ``overlapped`` (the grader's own work once the
    #: child has its job: the expected outputs, starting the next submission's child) and
    #: ``cleanup`` (from the child's last word until it is gone and cleaned up); ``score``
    #: (scoring after the children; each case is compared as its answer arrives, within
    #: ``children``). CPU seconds: ``grader_cpu`` (this grading thread) and ``child_cpu`` (the
    #: children's processes).
    timing: dict = field(default_factory=dict)

    def exercise(self, ex_id: str) -> ExerciseResult:
        return next(e for e in self.exercises if e.id == ex_id)

    def points(self) -> dict[str, float]:
        return {e.id: e.points for e in self.exercises}

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        """``json.dumps(self.to_dict(), default=str)`` without the deep copy ``asdict`` makes on the way.

        The gradebook stores this for every submission; copying each case's feedback and
        traceback only to serialise them cost milliseconds.
        """
        def plain(obj) -> dict:
            return {f.name: getattr(obj, f.name) for f in fields(obj)}

        d = plain(self)
        d["exercises"] = [dict(plain(e), cases=[plain(c) for c in e.cases]) for e in self.exercises]
        return json.dumps(d, default=str)

    @classmethod
    def from_dict(cls, d: dict) -> GradeResult:
        exercises = [ExerciseResult(**{**e, "cases": [CaseResult(**c) for c in e.get("cases", [])]})
                     for e in d.get("exercises", [])]
        return cls(**{**d, "exercises": exercises})

    @classmethod
    def crashed(cls, file: str, sha: str, lab: str, student: str | None, why: str) -> GradeResult:
        """The record of a submission whose grading worker failed (a grader error, retried later)."""
        return cls(file=file, sha256=sha, lab=lab, student=student, status="error", message=safe_text(why))
