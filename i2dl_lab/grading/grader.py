"""Grading one submission: parse, check statically, run in the sandbox, compare, score.

:func:`grade_bytes` is what every grading path calls (inline, ``--jobs`` processes, Dask
workers). It never runs student code itself: the notebook is parsed as JSON, the code is
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
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import wire
from .codecheck import plan, read_answers
from .notebook import SubmissionError, load_submission, parse_notebook, sha256
from .sandbox import Limits, run_child
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
def safe_feedback(expected, got) -> str:
    """What went wrong, without values of hidden inputs or expected outputs."""
    if isinstance(got, wire.Unsupported):
        return f"returned {got.type_name!r}, which is not plain data (numbers, arrays, tuples)"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"expected a dict with keys {sorted(map(str, expected))}, got keys {sorted(map(str, got))}"
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
def _exercise_entry(ex) -> dict:
    return {"id": ex.id, "title": ex.title or ex.id, "function": ex.function, "max_points": float(ex.points),
            "points": 0.0, "message": "", "notes": [], "cases": []}


def _fail_cases(entry: dict, n: int, message: str, feedback: str | None = None) -> None:
    have = len(entry["cases"])
    for _ in range(have, n):
        entry["cases"].append({"passed": False, "message": message, "feedback": feedback or message})


def grade_bytes(data: bytes, name: str, cfg: LabConfig) -> dict:
    """Grade one submission given as bytes; never raises for anything the submission does."""
    t0 = time.monotonic()
    result = {"file": name, "sha256": sha256(data), "lab": cfg.lab, "status": "graded", "score": 0.0,
              "max_score": 0.0, "message": "", "exercises": [], "notes": [], "output": "", "sandbox": {},
              "grader_version": GRADER_VERSION, "lab_version": cfg.lab_version, "student": None,
              "submitted_at": None}
    try:
        exercises = list(load_spec(cfg.spec).EXERCISES)
        result["max_score"] = float(sum(ex.points for ex in exercises)) + (
            QUIZ_RULES.max_points(cfg.quiz_key) if cfg.quiz_key else 0.0)
        try:
            sub = load_submission(data, name)
            result["student"], result["submitted_at"] = sub.student, sub.submitted_at
            nb_lab = sub.lab_meta.get("lab")
            try:
                nb_lab = normalize_lab(nb_lab) if nb_lab is not None else None
            except ValueError:
                pass
            if nb_lab is not None and nb_lab != cfg.lab:
                raise SubmissionError(f"{name}: this notebook belongs to lab {nb_lab}, not lab {cfg.lab}")
            if nb_lab is None:
                result["notes"].append("the notebook carries no lab id in its metadata (not made by `release`?)")
        except SubmissionError as exc:
            result.update(status="rejected", message=str(exc))
            result["exercises"] = [dict(_exercise_entry(ex), message=str(exc)) for ex in exercises]
            return result
        _grade_exercises(sub, exercises, cfg, result)
        if cfg.quiz_key:
            answers, notes = read_answers(sub.cells)
            per_q = QUIZ_RULES.score(answers, cfg.quiz_key)
            # The seed's rules floor each multiple-choice question at 0, not the section: wrong
            # true/false answers are meant to cost points ("to discourage guessing").
            total = sum(per_q.values())
            result["exercises"].append({
                "id": "quiz", "title": "Quiz", "function": "", "max_points": QUIZ_RULES.max_points(cfg.quiz_key),
                "points": total, "notes": notes, "message": "true/false +2/-1/0, multiple choice 4 points -2 per "
                "wrong selection (each question at least 0)",
                "cases": [{"passed": per_q[q] > 0, "question": q, "points": per_q[q],
                           "message": f"{q}: {per_q[q]:g} points", "feedback": f"{q}: {per_q[q]:g} points"}
                          for q in per_q]})
        result["score"] = round(sum(e["points"] for e in result["exercises"]), 6)
    except Exception:  # noqa: BLE001 - a grader bug is recorded for this submission, the batch goes on
        result.update(status="error", message="internal grading error:\n" + traceback.format_exc()[-4000:])
    finally:
        result["seconds"] = round(time.monotonic() - t0, 3)
    return result


def _grade_exercises(sub, exercises, cfg: LabConfig, result: dict) -> None:
    pl = plan(sub.cells, exercises)
    result["notes"].extend(pl.general)
    entries = {ex.id: _exercise_entry(ex) for ex in exercises}
    result["exercises"] = list(entries.values())
    cases, expected = {}, {}
    to_run = []
    for ex in exercises:
        entries[ex.id]["notes"].extend(pl.notes.get(ex.id, []))
        args_list = list(ex.cases(np.random.default_rng(case_seed(cfg.secret, cfg.lab, ex.id, sub.notebook_sha256))))
        if ex.id in pl.zero:
            _fail_cases(entries[ex.id], len(args_list), pl.zero[ex.id])
            entries[ex.id]["message"] = pl.zero[ex.id]
            continue
        cases[ex.id] = [wire.encode(tuple(a)) for a in args_list]
        if '"$x"' in json.dumps(cases[ex.id]):
            raise ValueError(f"spec bug: the cases of exercise {ex.id!r} hold values that are not plain data "
                             "(numbers, strings, ndarrays, tuples/lists/dicts of them)")
        expected[ex.id] = [ex.run(ex.reference, copy.deepcopy(tuple(a))) for a in args_list]
        to_run.append(ex)
    results: dict[str, dict[int, dict]] = {ex.id: {} for ex in to_run}
    charged: dict[str, str] = {}
    missing: dict[str, str] = {}
    load_errors: dict[int, list[str]] = {}
    skip_cells: list[int] = []
    t_end = time.monotonic() + cfg.limits.wall_per_submission
    pending = [ex for ex in to_run]
    for _attempt in range(len(to_run) + 2):
        if not pending:
            break
        budget = t_end - time.monotonic()
        if budget <= 0:
            for ex in pending:
                charged[ex.id] = (f"not run: the submission used up its {cfg.limits.wall_per_submission:g} s "
                                  "time limit")
            break
        job = {"spec": cfg.spec, "units": pl.units, "skip_cells": skip_cells,
               "exercises": [{"id": ex.id, "function": ex.function} for ex in pending],
               "cases": {ex.id: cases[ex.id] for ex in pending}}
        run = run_child(job, cfg.limits, budget=budget, hide=cfg.hide)
        if run.output:
            result["output"] = (result["output"] + run.output)[-cfg.limits.output_bytes:]
        if run.output_dropped:
            result["notes"].append(f"your code printed {run.output_dropped} more bytes than the grader keeps")
        state = {"cell": None, "cell_ex": None, "ex": None}
        ended: set[str] = set()
        ids = {ex.id for ex in pending}
        for ev in run.events:
            kind = ev.get("ev")
            if kind == "ready" and isinstance(ev.get("sandbox"), dict) and not result["sandbox"]:
                result["sandbox"] = {str(k): str(v)[:200] for k, v in ev["sandbox"].items()}
                result["sandbox"]["started_by"] = run.started_by
            elif kind == "load":
                state.update(cell=ev.get("cell"), cell_ex=ev.get("ex"))
            elif kind == "loaded":
                if isinstance(ev.get("errors"), list) and ev["errors"] and isinstance(ev.get("cell"), int):
                    load_errors.setdefault(ev["cell"], [str(e)[:400] for e in ev["errors"][:5]])
                state.update(cell=None, cell_ex=None)
            elif kind == "start" and ev.get("ex") in ids:
                state["ex"] = ev["ex"]
            elif kind == "missing" and ev.get("ex") in ids:
                missing.setdefault(ev["ex"], str(ev.get("why"))[:300])
                ended.add(ev["ex"])
            elif kind == "end" and ev.get("ex") in ids:
                ended.add(ev["ex"])
                state["ex"] = None
            elif kind == "result" and ev.get("ex") in ids and type(ev.get("case")) is int:
                slot = results[ev["ex"]]
                if 0 <= ev["case"] < len(cases[ev["ex"]]) and ev["case"] not in slot:
                    slot[ev["case"]] = ev
        if run.ended == "done":
            pending = []
            break
        if run.ended == "startup":
            raise RuntimeError(run.detail)
        why = run.detail
        if state["cell"] is not None:
            skip_cells.append(state["cell"])
            if state["cell_ex"] in ids:
                charged[state["cell_ex"]] = f"running the exercise cell failed: {why}"
            else:
                result["notes"].append(f"cell {state['cell']} was skipped: {why}")
        elif state["ex"] is not None:
            charged[state["ex"]] = why
        else:
            result["notes"].append(f"the sandbox ended early: {why}")
            for ex in pending:
                if ex.id not in ended:
                    charged.setdefault(ex.id, why)
        pending = [ex for ex in pending if ex.id not in ended and ex.id not in charged]
    for ex in pending:
        charged.setdefault(ex.id, "not run (too many restarts)")
    for idx, errs in load_errors.items():
        result["notes"].append(f"cell {idx} raised while being defined: " + "; ".join(errs))
    for ex in to_run:
        _score_exercise(ex, entries[ex.id], expected[ex.id], results[ex.id], missing.get(ex.id), charged.get(ex.id))


def _score_exercise(ex, entry: dict, expected: list, got: dict, missing: str | None, charged: str | None) -> None:
    n = len(expected)
    if missing:
        entry["message"] = missing
        _fail_cases(entry, n, missing)
        return
    tripped = sorted({t for ev in got.values() for t in (ev.get("tripwire") or []) if isinstance(t, str)})
    if tripped:
        msg = (f"your code called the library's reference `{tripped[0]}`; graded functions must be your own code "
               "(scored 0)")
        entry["message"] = msg
        _fail_cases(entry, n, msg)
        return
    passed = 0
    for i in range(n):
        ev = got.get(i)
        if ev is None:
            reason = charged or "no result for this case"
            entry["cases"].append({"passed": False, "message": reason, "feedback": reason})
            continue
        if ev.get("ok") is not True:
            err = str(ev.get("error", "error"))[:600]
            etype = str(ev.get("type", "Exception"))[:60]
            line = ev.get("line")
            if etype == "NotImplementedError":
                fb = "not implemented yet (the cell still raises NotImplementedError)"
            else:
                fb = f"raised {etype}" + (f" at line {line} of the exercise cell" if type(line) is int else "")
            entry["cases"].append({"passed": False, "message": err, "feedback": fb,
                                   "traceback": str(ev.get("tb", ""))[:3000]})
            continue
        try:
            out = wire.decode(ev.get("out"))
        except wire.WireError as exc:
            entry["cases"].append({"passed": False, "message": f"malformed output: {exc}",
                                   "feedback": "the output could not be read as plain data"})
            continue
        try:
            ok, msg = ex.check(expected[i], out)
            ok = ok is True or ok is np.True_
        except Exception as exc:  # noqa: BLE001 - a comparison that cannot run is a wrong answer
            ok, msg = False, f"comparison failed: {type(exc).__name__}: {exc}"
        fb = "passed" if ok else (safe_feedback(expected[i], out) or "wrong answer")
        passed += ok
        secs = ev.get("seconds")
        entry["cases"].append({"passed": bool(ok), "message": str(msg)[:600], "feedback": fb,
                               "seconds": float(secs) if type(secs) in (int, float) else None})
    entry["points"] = round(float(ex.points) * passed / n, 6) if n else 0.0
    if charged:
        entry["message"] = charged
    elif passed == n:
        entry["message"] = f"all {n} hidden cases passed"
    else:
        entry["message"] = f"{passed} of {n} hidden cases passed"


def student_for(path: str | os.PathLike, lab: str, manifest_student: str | None = None) -> str:
    """Who handed in ``path``: the zip manifest's student, else the file name (or its folder)."""
    if manifest_student:
        return manifest_student
    p = Path(path)
    stem = p.name
    for suffix in (".zip", ".ipynb"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if re.match(rf"^0*{int(lab)}_", stem) and p.parent.name:
        return p.parent.name
    return stem
