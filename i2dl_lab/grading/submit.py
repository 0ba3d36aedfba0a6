"""``i2dl-lab submit``: pack a released notebook and a manifest into a zip for hand-in.

Only a notebook from the student release can be submitted: its metadata says
``{"i2dl": {"kind": "student", ...}}`` (release writes it) and no solution block is left in
it. The student id is asked for once (``--student``) and kept in the workspace's record
(``.i2dl/workspace.json``), so later submissions from that workspace need no flag. The zip
goes to ``<workspace>/submissions/`` (or ``--out``); its name is
``<student>_<lab>_<UTC time>.zip``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import zipfile
from pathlib import Path

from .notebook import MANIFEST_NAME, SubmissionError, parse_notebook, sha256
from .release import BEGIN_SOLUTION

STUDENT_ENV = "I2DL_STUDENT"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "student"


def check_released(cells, meta: dict, name: str) -> None:
    """Refuse a notebook that is not a student's copy of the release (e.g. a solution notebook)."""
    info = meta.get("i2dl") if isinstance(meta.get("i2dl"), dict) else {}
    if info.get("kind") != "student" or any(BEGIN_SOLUTION in c.source for c in cells):
        raise SubmissionError(
            f"{name} is not a notebook from the student release ("
            + ("it still holds solution blocks" if info.get("kind") == "student"
               else "it is a course source notebook, such as a solution notebook from labs/")
            + "); submit your own copy, the one in your workspace (make one with `i2dl-lab init DIR`)")


def resolve_student(notebook: Path, student: str | None) -> tuple[str, Path | None]:
    """The student id: ``student`` (then kept in the workspace), the workspace's, or $I2DL_STUDENT."""
    from ..workspace import find_workspace, read_record, write_record

    ws = find_workspace(notebook)
    record = read_record(ws) if ws else None
    who = student or (record or {}).get("student") or os.environ.get(STUDENT_ENV)
    if not who:
        raise SubmissionError("who is submitting? pass your student id once with --student ID"
                              + (" (it is then kept in this workspace)" if ws else ""))
    if ws and student and record.get("student") != student:
        if record.get("student"):
            raise SubmissionError(f"this workspace belongs to {record['student']!r}; a workspace keeps one student "
                                  "id (edit .i2dl/workspace.json if it was mistyped)")
        record["student"] = student
        write_record(ws, record)
    return who, ws


def submit(notebook: str | os.PathLike, out: str | os.PathLike | None = None, student: str | None = None,
           lab: str | None = None, now: _dt.datetime | None = None) -> Path:
    """Write ``<out>/<student>_<lab>_<time>.zip`` holding the notebook and ``manifest.json``.

    The manifest records the lab id, the notebook's sha256, the time and the student. The
    notebook is checked first (a valid notebook from the release), so a wrong or broken file
    is caught before the deadline rather than at grading time.

    Raises:
        SubmissionError: not a released notebook, no student id, or a broken file.
    """
    path = Path(notebook)
    data = path.read_bytes()
    cells, meta = parse_notebook(data, path.name)
    check_released(cells, meta, path.name)
    info = meta.get("i2dl") if isinstance(meta.get("i2dl"), dict) else {}
    lab_id = lab or info.get("lab")
    if not lab_id:
        m = re.match(r"^(\d+)_", path.name)
        if not m:
            raise SubmissionError(f"{path.name}: cannot tell which lab this is; pass --lab")
        lab_id = f"{int(m.group(1)):02d}"
    who, ws = resolve_student(path, student)
    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    manifest = {"lab": str(lab_id), "notebook": path.name, "sha256": sha256(data), "student": who,
                "time": when.isoformat(timespec="seconds"), "cells": len(cells),
                "release_version": info.get("version")}
    out_dir = Path(out) if out is not None else (ws or Path.cwd()) / "submissions"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{_slug(who)}_{lab_id}_{when.strftime('%Y%m%dT%H%M%SZ')}"
    target, n = out_dir / f"{stem}.zip", 1
    while target.exists():  # two hand-ins within a second: keep both
        n += 1
        target = out_dir / f"{stem}-{n}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name, data)
        zf.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
    tmp.replace(target)
    return target
