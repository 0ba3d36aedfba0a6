"""Grading one submission: parse, check statically, run in the sandbox, compare, score.

:func:`grade_bytes` is what every grading path calls (inline, ``--jobs`` processes, Dask
workers), in two steps: :func:`prepare` (everything before the child) and
:func:`run_prepared`; the serial batch prepares the next submission while this one runs.
It never runs student code itself: the notebook is parsed as JSON, the code is
checked with :mod:`ast`, and the exercise cells run in a child process (:mod:`.sandbox`).
The expected outputs are computed here from the trusted reference and compared here.

Hidden inputs: ``Exercise.cases(rng)`` with ``rng`` seeded by HMAC-SHA256 of the instructor's
secret, the lab, the exercise id and the notebook's sha256. The same notebook always gets
the same inputs (a regrade gives the same score); another notebook gets other inputs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib
import importlib.util
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import wire
from .codecheck import plan, read_answers
from .notebook import SubmissionError, load_submission, parse_notebook, sha256
from .protocol import (
    CaseOutcome,
    CaseResult,
    End,
    ExerciseResult,
    GradeResult,
    Job,
    Load,
    Loaded,
    Missing,
    Ready,
    Start,
    Task,
    Unit,
    exception_name,
    safe_text,
)
from .quiz import quiz_form, validate_answers
from .sandbox import Limits, SandboxUnavailable, run_child
from .spec import QUIZ_RULES

GRADER_VERSION = "1"
SECRET_ENV = "I2DL_GRADING_SECRET"
KEY_FILE_ENV = "I2DL_GRADING_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "i2dl-lab" / "grading.key"
#: The key used when no secret is configured. It is public: hidden inputs still change with
#: every notebook (they depend on its sha256), but set a real secret for a course.
DEFAULT_SECRET = b"i2dl-lab public default grading key"


def normalize_lab(lab) -> str:
    num = str(lab).split("_", 1)[0]
    if not num.isdigit():
        raise ValueError(f"lab must be a lab number such as '03', got {lab!r}")
    return f"{int(num):02d}"


def resolve_secret(secret: str | None = None, key_file: str | None = None) -> tuple[bytes, str]:
    """The grading secret and where it came from.

    Order: ``--secret``, ``--key-file``, ``$I2DL_GRADING_SECRET``, ``$I2DL_GRADING_KEY_FILE``,
    ``~/.config/i2dl-lab/grading.key``, else :data:`DEFAULT_SECRET` (public; the grader warns).
    The origin is a file path when the secret came from a file (the child never sees that file).
    """
    if secret:
        return secret.encode(), "--secret"
    if key_file:
        path = Path(key_file)
        if not path.is_file():
            raise FileNotFoundError(f"key file {key_file} does not exist")
        return path.read_bytes().strip(), str(path.resolve())
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode(), f"${SECRET_ENV}"
    path = Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)
    if path.is_file():
        return path.read_bytes().strip(), str(path.resolve())
    return DEFAULT_SECRET, "default (public) key"


def create_key_file(path: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """Write a fresh random grading secret to ``path`` (default: the standard key file), private from creation.

    ``grade`` calls this when no secret is configured, so hidden inputs never follow from the
    public :data:`DEFAULT_SECRET`. Keep the file: regrading with another key draws other inputs.
    """
    import secrets

    path = Path(path or os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key, str(path.resolve())


_SPECS: dict[str, object] = {}


def spec_locator(lab: str, spec: str | None = None) -> dict:
    if spec is None:
        return {"module": f"i2dl_lab.grading.specs.lab{normalize_lab(lab)}"}
    if spec.endswith(".py") or os.sep in spec:
        return {"path": str(Path(spec).resolve())}
    return {"module": spec}


def load_spec(locator: dict):
    key = locator.get("path") or locator["module"]
    if key not in _SPECS:
        if "path" in locator:
            name = "_i2dl_spec_" + hashlib.sha256(key.encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(name, locator["path"])
            if spec is None:
                raise ValueError(f"cannot load a grading spec from {key}")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(locator["module"])
        _SPECS[key] = mod
    return _SPECS[key]


def find_solution(lab: str, source: str | os.PathLike | None = None) -> Path | None:
    dirs = [Path(source)] if source else [Path("labs"), Path(__file__).resolve().parents[2] / "labs"]
    for d in dirs:
        hits = sorted(d.glob(f"{normalize_lab(lab)}_*.ipynb"))
        if hits:
            return hits[0]
    return None


@dataclass
class LabConfig:
    """Everything a worker needs to grade submissions of one lab (picklable, plain data)."""

    lab: str
    spec: dict
    secret: bytes = DEFAULT_SECRET
    quiz_key: dict = field(default_factory=dict)
    lab_version: str | None = None
    limits: Limits = field(default_factory=Limits)
    notes: list[str] = field(default_factory=list)
    #: paths the child must not see (solutions, key file, gradebook, submissions), where the OS allows
    hide: list[str] = field(default_factory=list)


def resolve_lab(lab, spec: str | None = None, source=None, secret: bytes | None = None,
                limits: Limits | None = None) -> LabConfig:
    """Build the :class:`LabConfig` of ``lab``: its spec, the quiz key and version from the solution notebook."""
    lab = normalize_lab(lab)
    loc = spec_locator(lab, spec)
    mod = load_spec(loc)
    if not getattr(mod, "EXERCISES", None):
        raise ValueError(f"the spec of lab {lab} defines no EXERCISES")
    cfg = LabConfig(lab=lab, spec=loc, secret=secret if secret is not None else DEFAULT_SECRET,
                    limits=limits or Limits())
    sol = find_solution(lab, source)
    if sol is None:
        cfg.notes.append(f"no solution notebook for lab {lab} found: the quiz (if any) is not graded")
    else:
        data = sol.read_bytes()
        cells, _ = parse_notebook(data, sol.name)
        cfg.quiz_key, _ = read_answers(cells)
        cfg.lab_version = sha256(data)[:12]
        cfg.hide.append(str(sol.parent.resolve()))
    return cfg


def case_seed(secret: bytes, lab: str, ex_id: str, nb_sha: str) -> int:
    mac = hmac.new(secret, f"{lab}|{ex_id}|{nb_sha}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:16], "big")


# ---------------------------------------------------------------- student-safe feedback
def _type_name(name: str) -> str:
    """The type of a non-plain answer as feedback may name it: built-in and library types only."""
    import builtins

    root = name.split(".")[0]
    if (name.isidentifier() and isinstance(getattr(builtins, name, None), type)) or root in ("numpy", "torch"):
        return repr(name[:80])
    return "an object of a class defined in the notebook"


def safe_feedback(expected, got) -> str:
    """What went wrong, without values of hidden inputs or expected outputs."""
    if isinstance(got, wire.Unsupported):
        return f"returned {_type_name(got.type_name)}, which is not plain data (numbers, arrays, tuples)"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            # the expected keys come from the reference; the student's own keys are never echoed
            lacking = sorted(map(str, set(expected) - set(got)))
            return (f"expected a dict with keys {sorted(map(str, expected))}, got {len(got)} key(s)"
                    + (f"; missing {lacking}" if lacking else "; some keys are not expected"))
        for k in expected:
            msg = safe_feedback(expected[k], got[k])
            if msg:
                return f"[{k!r}]: {msg}"
        return "values differ"
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a tuple of {len(expected)} values, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            msg = safe_feedback(e, g)
            if msg:
                return f"item {i}: {msg}"
        return ""
    if isinstance(expected, str):
        return "" if got == expected else "wrong string"
    e = np.asarray(expected)
    if got is None or isinstance(got, (str, dict, tuple, list)):
        return f"expected {'an array' if e.ndim else 'a number'}, got {type(got).__name__}"
    g = np.asarray(got)
    if g.dtype.kind not in "biufc":
        return f"expected numbers, got dtype {g.dtype}"
    if g.shape != e.shape:
        return f"output has shape {g.shape}, expected shape {e.shape}"
    try:
        gf, ef = g.astype(np.float64), e.astype(np.float64)
    except (TypeError, ValueError):
        return "values differ"
    if (~np.isfinite(gf) & np.isfinite(ef)).any():
        return "output contains NaN or inf"
    fin = np.isfinite(ef)
    if not fin.any():
        return ""
    err = float(np.max(np.abs(ef[fin] - gf[fin]) / np.maximum(1e-8, np.abs(ef[fin]) + np.abs(gf[fin]))))
    return f"values differ (relative error {err:.1e})" if err > 0 else ""


# ---------------------------------------------------------------- grading
def _exercise_entry(ex) -> ExerciseResult:
    return ExerciseResult(id=ex.id, title=ex.title or ex.id, function=ex.function, max_points=float(ex.points))


def _max_score(exercises, cfg: LabConfig) -> float:
    return float(sum(ex.points for ex in exercises)) + (QUIZ_RULES.max_points(cfg.quiz_key) if cfg.quiz_key else 0.0)


def _check_lab(sub, name: str, cfg: LabConfig, result: GradeResult) -> None:
    """Reject a notebook of another lab; note one that carries no lab id and what a manifest claims."""
    if sub.student or sub.submitted_at:
        result.notes.append(f"the zip's manifest names student {safe_text(sub.student, 100)!r} and time "
                            f"{safe_text(sub.submitted_at, 64)!r}; identity and time come from the folder and file "
                            "the instructor collected, not from the manifest")
    nb_lab = sub.lab_meta.get("lab")
    try:
        nb_lab = normalize_lab(nb_lab) if nb_lab is not None else None
    except ValueError:
        pass
    if nb_lab is not None and nb_lab != cfg.lab:
        raise SubmissionError(f"{name}: this notebook belongs to lab {nb_lab}, not lab {cfg.lab}")
    if nb_lab is None:
        result.notes.append("the notebook carries no lab id in its metadata (not made by `release`?)")


def _grade_quiz(sub, cfg: LabConfig) -> ExerciseResult:
    answers, notes = read_answers(sub.cells)
    # Only the documented forms are graded; each malformed answer is named and counts as blank.
    malformed = validate_answers(answers, quiz_form(cfg.quiz_key))
    notes.extend(safe_text(m, 300) for m in malformed)
    bad = {q for q in cfg.quiz_key if any(m.startswith(f"{q}:") for m in malformed)}
    per_q = QUIZ_RULES.score({q: a for q, a in answers.items() if q not in bad}, cfg.quiz_key)
    # The seed's rules floor each multiple-choice question at 0, not the section: wrong
    # true/false answers are meant to cost points ("to discourage guessing").
    return ExerciseResult(
        id="quiz", title="Quiz", function="", max_points=QUIZ_RULES.max_points(cfg.quiz_key),
        points=sum(per_q.values()), notes=notes,
        message="true/false +2/-1/0, multiple choice 4 points -2 per wrong selection (each question at least 0)",
        cases=[CaseResult(per_q[q] > 0, f"{q}: {per_q[q]:g} points", f"{q}: {per_q[q]:g} points", question=q,
                          points=per_q[q]) for q in per_q])


def _clamped(result: GradeResult) -> float:
    """The submission's score: the sum of its parts, kept within [0, max_score]."""
    total = round(sum(e.points for e in result.exercises), 6)
    score = min(max(total, 0.0), result.max_score)
    if score != total:
        result.notes.append(f"the parts add up to {total:g} points; the score is kept within [0, "
                            f"{result.max_score:g}]")
    return score


@dataclass
class Prepared:
    """One submission read, checked statically and planned, its hidden cases drawn: ready for its child.

    What :func:`prepare` hands to :func:`run_prepared`. ``session`` is None when the result is
    final already (a rejected file, or a grader error while preparing). ``seconds`` and ``cpu``:
    the wall clock and thread CPU preparing took, wherever it ran.
    """

    result: GradeResult
    sub: object = None
    session: _Session | None = None
    quiz: ExerciseResult | None = None
    seconds: float = 0.0
    cpu: float = 0.0


def prepare(data: bytes, name: str, cfg: LabConfig, expect: bool = False) -> Prepared:
    """Everything before the child: parse, check statically, plan, draw the hidden cases.

    ``expect``: compute the expected outputs (and the exercises' clocks from the reference's
    time) now too; otherwise :func:`run_prepared` computes them while the first child runs.
    Never raises for anything the submission does: a file that cannot be graded comes back
    rejected, a grader failure as an error, both final. Runs no student code, so the serial
    batch runs it (with ``expect``) in a thread for the next submission while this one's
    child works. Every parse of the submission's code happens here, the quiz's too: CPython
    3.11 keeps the depth of its syntax-tree conversion per interpreter, not per thread, so
    two threads parsing at once can fail (``SystemError: AST constructor recursion depth
    mismatch``).
    """
    t0, cpu0 = time.monotonic(), _thread_cpu()
    result = GradeResult(file=safe_text(name, 1000), sha256=sha256(data), lab=cfg.lab, grader_version=GRADER_VERSION,
                         lab_version=cfg.lab_version)
    out = Prepared(result)
    try:
        exercises = list(load_spec(cfg.spec).EXERCISES)
        result.max_score = _max_score(exercises, cfg)
        try:
            out.sub = load_submission(data, name)
            _check_lab(out.sub, name, cfg, result)
        except SubmissionError as exc:
            result.status, result.message = "rejected", safe_text(exc)
            result.exercises = [replace(_exercise_entry(ex), message=result.message) for ex in exercises]
        else:
            out.session = _Session(out.sub, exercises, cfg, result)
            if cfg.quiz_key:
                out.quiz = _grade_quiz(out.sub, cfg)
            if expect:
                out.session._expect()
    except Exception:  # noqa: BLE001 - a grader bug is recorded for this submission, the batch goes on
        result.status, result.message = "error", "internal grading error:\n" + traceback.format_exc()[-4000:]
        out.session = None
    out.seconds, out.cpu = time.monotonic() - t0, _thread_cpu() - cpu0
    result.timing["prepare"] = round(out.seconds, 6)
    return out


def run_prepared(prepared: Prepared, waited: float | None = None, on_child_busy=None) -> GradeResult:
    """Run a prepared submission's child, then score it; never raises for anything the submission does.

    ``waited``: when the submission was prepared ahead (in another thread, while the previous
    one ran), the seconds this thread waited for that; its ``seconds`` then count that wait
    instead of the preparing, so that they are this submission's share of the batch's time.
    ``on_child_busy``: called (at most once) when the first child has its job and this thread
    has done its own work beside it, so it mostly waits for the child's answers from then on.
    """
    t0, cpu0 = time.monotonic(), _thread_cpu()
    result = prepared.result
    try:
        if prepared.session is not None:
            prepared.session.on_child_busy = on_child_busy
            prepared.session.grade()
            if prepared.quiz is not None:
                result.exercises.append(prepared.quiz)
            result.score = _clamped(result)
    except Exception:  # noqa: BLE001 - a grader bug is recorded for this submission, the batch goes on
        result.status, result.message = "error", "internal grading error:\n" + traceback.format_exc()[-4000:]
    finally:
        if waited is not None:
            result.timing["prepare_waited"] = round(waited, 6)
        result.seconds = round((prepared.seconds if waited is None else waited) + time.monotonic() - t0, 3)
        result.timing["grader_cpu"] = round(prepared.cpu + _thread_cpu() - cpu0, 6)
    return result


def grade_bytes(data: bytes, name: str, cfg: LabConfig) -> GradeResult:
    """Grade one submission given as bytes; never raises for anything the submission does."""
    return run_prepared(prepare(data, name, cfg))


def _thread_cpu() -> float:
    """CPU seconds of the calling thread (the grading of one submission runs in one thread)."""
    return time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)


class _Session:
    """Grading one submission's exercises: expected outputs here, student code in children.

    A child that dies or times out is charged to the cell or exercise it was in; the next
    child skips that cell or exercise and goes on with the rest, within the submission's
    wall clock.
    """

    def __init__(self, sub, exercises, cfg: LabConfig, result: GradeResult):
        self.sub, self.cfg, self.result = sub, cfg, result
        self.plan = plan(sub.cells, exercises)
        self.entries = {ex.id: _exercise_entry(ex) for ex in exercises}
        result.notes.extend(self.plan.general)
        result.exercises = list(self.entries.values())
        self.cases: dict[str, list] = {}
        self.args: dict[str, list] = {}
        self.expected: dict[str, list] = {}
        self.seconds: dict[str, float] = {}  # each exercise's wall clock in the child (Limits.exercise_seconds)
        self.to_run = [ex for ex in exercises if self._prepare(ex)]
        self.by_id = {ex.id: ex for ex in self.to_run}
        self.scored: dict[tuple[str, int], tuple[CaseOutcome, CaseResult]] = {}
        self.fn = {ex.id: ex.function for ex in exercises}
        self.got: dict[str, dict[int, CaseOutcome]] = {ex.id: {} for ex in self.to_run}
        self.charged: dict[str, str] = {}
        self.missing: dict[str, str] = {}
        self.load_errors: dict[int, list[str]] = {}
        self.skip_cells: list[int] = []
        self.on_child_busy = None

    def _prepare(self, ex) -> bool:
        """Draw the hidden cases; False if the exercise scores 0 unrun."""
        entry = self.entries[ex.id]
        entry.notes.extend(self.plan.notes.get(ex.id, []))
        seed = case_seed(self.cfg.secret, self.cfg.lab, ex.id, self.sub.notebook_sha256)
        args_list = list(ex.cases(np.random.default_rng(seed)))
        if ex.id in self.plan.zero:
            entry.fail_remaining(len(args_list), self.plan.zero[ex.id])
            entry.message = self.plan.zero[ex.id]
            return False
        try:  # serialised once, when the job is sent
            self.cases[ex.id] = [wire.encode(tuple(a), strict=True) for a in args_list]
        except wire.WireError as exc:
            raise ValueError(f"spec bug: the cases of exercise {ex.id!r} hold values that are not plain data "
                             f"(numbers, strings, ndarrays, tuples/lists/dicts of them): {exc}") from None
        self.args[ex.id] = args_list
        return True

    def _expect(self) -> None:
        """The expected outputs, and each exercise's clock from its reference's time.

        While the first child runs (it has its job by then and works on the other core; it
        reads the clocks only as each exercise starts, after this returns), or ahead, in
        :func:`prepare` with ``expect``.
        """
        for ex in self.to_run:
            if ex.id in self.expected:
                continue
            t0 = time.perf_counter()
            self.expected[ex.id] = [ex.run(ex.reference, copy.deepcopy(tuple(a))) for a in self.args.pop(ex.id)]
            self.seconds[ex.id] = self.cfg.limits.exercise_seconds(time.perf_counter() - t0)

    def _child_busy(self) -> None:
        hook, self.on_child_busy = self.on_child_busy, None
        if hook is not None:
            hook()

    def _on_message(self, msg) -> None:
        """Compare a case's answer as it arrives, while the child runs the next one."""
        if isinstance(msg, CaseOutcome) and msg.ex in self.expected and not msg.tripwire:
            expected = self.expected[msg.ex]
            if 0 <= msg.case < len(expected) and (msg.ex, msg.case) not in self.scored:
                result = _score_case(self.by_id[msg.ex], expected[msg.case], msg, None)
                self.scored[(msg.ex, msg.case)] = (msg, result)

    def grade(self) -> None:
        timing = self.result.timing
        timing.update(startup=0.0, children=0.0, cleanup=0.0, child_cpu=0.0, overlapped=0.0)
        pending = list(self.to_run)
        t_end = time.monotonic() + self.cfg.limits.wall_per_submission
        for _attempt in range(len(self.to_run) + 2):
            if not pending:
                break
            budget = t_end - time.monotonic()
            if budget <= 0:
                for ex in pending:
                    self.charged[ex.id] = (f"not run: the submission used up its "
                                           f"{self.cfg.limits.wall_per_submission:g} s time limit")
                pending = []
                break
            pending = self._round(pending, budget)
        for ex in pending:
            self.charged.setdefault(ex.id, "not run (too many restarts)")
        t_score = time.monotonic()
        self._expect()  # done while the first child ran, unless no child ran
        for idx, errs in self.load_errors.items():
            self.result.notes.append(f"cell {idx} raised while being defined: " + "; ".join(errs))
        for ex in self.to_run:
            self._score(ex)
        timing["score"] = round(time.monotonic() - t_score, 6)

    def _round(self, pending: list, budget: float) -> list:
        """One child on the pending exercises; returns those still to run in another child."""
        job = Job(spec=self.cfg.spec, units=[Unit(**u) for u in self.plan.units], skip_cells=list(self.skip_cells),
                  tasks=[Task(ex.id, ex.function, self.cases[ex.id]) for ex in pending])
        run = run_child(job, self.cfg.limits, budget=budget, hide=self.cfg.hide, exercise_seconds=self.seconds,
                        while_running=self._expect, on_message=self._on_message, on_watch=self._child_busy)
        res = self.result
        for key, secs in (("startup", run.startup_seconds), ("children", run.seconds),
                          ("cleanup", run.cleanup_seconds), ("child_cpu", run.cpu_seconds),
                          ("overlapped", run.overlapped_seconds)):
            res.timing[key] = round(res.timing[key] + (secs or 0.0), 6)
        if run.output:
            res.output = (res.output + safe_text(run.output, 10 * self.cfg.limits.output_bytes))[
                -self.cfg.limits.output_bytes:]
        if run.output_dropped:
            res.notes.append(f"your code printed {run.output_dropped} more bytes than the grader keeps")
        ids = {ex.id for ex in pending}
        refused = next((m.sandbox.get("refused") for m in run.messages if isinstance(m, Ready)), None)
        if refused:
            raise SandboxUnavailable(f"the grading sandbox refused to run student code: {safe_text(refused, 500)}")
        where, ended = self._collect(run, ids)
        if run.memory_peak is not None:
            peak = max(run.memory_peak, int(res.sandbox.get("memory_peak_bytes", "0")))
            res.sandbox["memory_peak_bytes"] = str(peak)
        if run.ended == "done":
            return []
        if run.ended == "startup":
            raise RuntimeError(run.detail)
        self._charge(run.detail, where, ids, ended, pending)
        return [ex for ex in pending if ex.id not in ended and ex.id not in self.charged]

    def _collect(self, run, ids: set) -> tuple[dict, set]:
        """Fold the child's messages into the session; returns where it was last and what it finished."""
        where = {"cell": None, "cell_ex": None, "ex": None}
        ended: set[str] = set()
        for msg in run.messages:
            if isinstance(msg, Ready) and not self.result.sandbox:
                self.result.sandbox = {safe_text(k, 100): safe_text(v, 200) for k, v in msg.sandbox.items()}
                self.result.sandbox["started_by"] = run.started_by
            elif isinstance(msg, Load):
                where.update(cell=msg.cell, cell_ex=msg.ex)
            elif isinstance(msg, Loaded):
                if msg.errors:
                    self.load_errors.setdefault(msg.cell, [_load_error(e) for e in msg.errors[:5]])
                where.update(cell=None, cell_ex=None)
            elif isinstance(msg, Start) and msg.ex in ids:
                where["ex"] = msg.ex
            elif isinstance(msg, Missing) and msg.ex in ids:
                self.missing.setdefault(msg.ex, _missing(self.fn[msg.ex], msg.reason))
                ended.add(msg.ex)
            elif isinstance(msg, End) and msg.ex in ids:
                ended.add(msg.ex)
                where["ex"] = None
            elif isinstance(msg, CaseOutcome) and msg.ex in ids:
                slot = self.got[msg.ex]
                if 0 <= msg.case < len(self.cases[msg.ex]) and msg.case not in slot:
                    slot[msg.case] = msg
        return where, ended

    def _charge(self, why: str, where: dict, ids: set, ended: set, pending: list) -> None:
        """A child that stopped early: charge the cell or exercise it was in."""
        if where["cell"] is not None:
            self.skip_cells.append(where["cell"])
            if where["cell_ex"] in ids:
                self.charged[where["cell_ex"]] = f"running the exercise cell failed: {why}"
            else:
                self.result.notes.append(f"cell {where['cell']} was skipped: {why}")
        elif where["ex"] is not None:
            self.charged[where["ex"]] = why
        else:
            self.result.notes.append(f"the sandbox ended early: {why}")
            for ex in pending:
                if ex.id not in ended:
                    self.charged.setdefault(ex.id, why)

    def _score(self, ex) -> None:
        entry, expected, got = self.entries[ex.id], self.expected[ex.id], self.got[ex.id]
        n, missing, charged = len(expected), self.missing.get(ex.id), self.charged.get(ex.id)
        if missing:
            entry.message = missing
            entry.fail_remaining(n, missing)
            return
        tripped = sorted({t for o in got.values() for t in o.tripwire if isinstance(t, str)})
        if tripped:
            entry.message = (f"your code called the library's reference `{safe_text(tripped[0], 100)}`; graded "
                             "functions must be your own code (scored 0)")
            entry.fail_remaining(n, entry.message)
            return
        entry.cases = [self._case_result(ex, i, got.get(i), charged) for i in range(n)]
        passed = sum(c.passed for c in entry.cases)
        entry.points = round(float(ex.points) * passed / n, 6) if n else 0.0
        if charged:
            entry.message = charged
        else:
            entry.message = f"all {n} hidden cases passed" if passed == n else f"{passed} of {n} hidden cases passed"


    def _case_result(self, ex, i: int, outcome: CaseOutcome | None, charged: str | None) -> CaseResult:
        """Case ``i``'s result: the one compared as it arrived, else compared now."""
        early = self.scored.get((ex.id, i))
        if early is not None and outcome is early[0]:
            return early[1]
        return _score_case(ex, self.expected[ex.id][i], outcome, charged)


def _missing(fn: str, reason: str) -> str:
    return {"undefined": f"`{fn}` is not defined after running the exercise cell",
            "class": f"`{fn}` is not a class defined in the notebook (it comes from a module)",
            }.get(reason, f"`{fn}` is not a function defined in the notebook (it comes from a module)")


def _load_error(err) -> str:
    """One statement that raised while a cell was defined, as feedback may show it: line and built-in type."""
    line, kind = (err[0], err[1]) if isinstance(err, list) and len(err) >= 2 else (0, "")
    where = f"line {line}: " if type(line) is int and line > 0 else ""
    return where + exception_name(kind)


def _score_case(ex, expected, outcome: CaseOutcome | None, charged: str | None) -> CaseResult:
    """One hidden case: compare the child's answer with the expected output here, in the grader."""
    if outcome is None:
        reason = charged or "no result for this case"
        return CaseResult(False, reason, reason)
    if not outcome.ok:
        etype, line = exception_name(outcome.type), outcome.line
        if etype == "NotImplementedError":
            fb = "not implemented yet (the cell still raises NotImplementedError)"
        else:
            fb = f"raised {etype}" + (f" at line {line} of the exercise cell" if type(line) is int else "")
        return CaseResult(False, safe_text(outcome.error, 600), fb, traceback=safe_text(outcome.tb, 3000))
    try:
        out = wire.decode(outcome.out)
    except wire.WireError as exc:
        return CaseResult(False, f"malformed output: {exc}", "the output could not be read as plain data")
    try:
        ok, msg = ex.check(expected, out)
        ok = ok is True or ok is np.True_
    except Exception as exc:  # noqa: BLE001 - a comparison that cannot run is a wrong answer
        ok, msg = False, f"comparison failed: {type(exc).__name__}: {exc}"
    fb = "passed" if ok else (safe_feedback(expected, out) or "wrong answer")
    secs = outcome.seconds
    return CaseResult(bool(ok), safe_text(msg, 600), fb, seconds=float(secs) if type(secs) in (int, float) else None)


def student_for(path: str | os.PathLike, lab: str, root: str | os.PathLike | None = None) -> str:
    """Who handed in ``path``, from what the instructor controls: the folder, else the file's name.

    A file in a subfolder of ``root`` (the folder given to ``grade``) belongs to the student
    that subfolder is named after (the layout of an LMS download). A file directly in ``root``
    is named by ``i2dl-lab submit`` (``<student>_<lab>_<time>.zip``, or ``<time>-2.zip`` for a
    second one within the same second) or after the student.
    What the zip's manifest claims is never used for identity.
    """
    p = Path(path)
    if root is not None and Path(root).is_dir():
        rel = p.resolve().relative_to(Path(root).resolve())
        if len(rel.parts) > 1:
            return safe_text(rel.parts[0], 200)
    stem = p.name
    for suffix in (".zip", ".ipynb"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    m = re.match(rf"^(.+)_0*{int(lab)}_\d{{8}}T\d{{6}}Z(?:-\d+)?$", stem)  # -2: a second hand-in that second
    if m:
        return safe_text(m.group(1), 200)
    if re.match(rf"^0*{int(lab)}_", stem) and p.parent.name:
        return safe_text(p.parent.name, 200)
    return safe_text(stem, 200)
