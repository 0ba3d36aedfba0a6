"""``i2dl-lab submit``: pack a notebook and a manifest into a zip under ``submissions/``."""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import re
import zipfile
from pathlib import Path

from .notebook import MANIFEST_NAME, SubmissionError, parse_notebook, sha256

STUDENT_ENV = "I2DL_STUDENT"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "student"


def submit(notebook: str | os.PathLike, out: str | os.PathLike = "submissions", student: str | None = None,
           lab: str | None = None, now: _dt.datetime | None = None) -> Path:
    """Write ``<out>/<student>_<lab>_<time>.zip`` holding the notebook and ``manifest.json``.

    The manifest records the lab id, the notebook's sha256, the time and the student. The
    notebook is checked first (valid JSON notebook), so a broken file is caught before the
    deadline rather than at grading time.
    """
    path = Path(notebook)
    data = path.read_bytes()
    cells, meta = parse_notebook(data, path.name)
    info = meta.get("i2dl") if isinstance(meta.get("i2dl"), dict) else {}
    lab_id = lab or info.get("lab")
    if not lab_id:
        m = re.match(r"^(\d+)_", path.name)
        if not m:
            raise SubmissionError(f"{path.name}: cannot tell which lab this is; pass --lab")
        lab_id = f"{int(m.group(1)):02d}"
    who = student or os.environ.get(STUDENT_ENV) or getpass.getuser()
    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    manifest = {"lab": str(lab_id), "notebook": path.name, "sha256": sha256(data), "student": who,
                "time": when.isoformat(timespec="seconds"), "cells": len(cells)}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{_slug(who)}_{lab_id}_{when.strftime('%Y%m%dT%H%M%SZ')}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name, data)
        zf.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
    tmp.replace(target)
    return target
