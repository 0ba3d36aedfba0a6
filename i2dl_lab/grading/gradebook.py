"""The SQLite gradebook: one transaction per submission, keyed by the submission's sha256.

A submission is identified by ``(lab, sha256 of the submitted file, student)``. Grading a
batch commits each result on its own, so a crash or ``kill -9`` loses nothing already
graded, and a rerun skips what is in the book (``status`` graded or rejected) unless forced.
Grader errors (``status = 'error'``) are retried on the next run.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import sqlite3
from pathlib import Path

from .protocol import GradeResult, safe_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    lab TEXT NOT NULL, sha256 TEXT NOT NULL, student TEXT NOT NULL,
    file TEXT, submitted_at TEXT, graded_at TEXT NOT NULL, status TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, message TEXT, lab_version TEXT,
    grader_version TEXT, seconds REAL, result_json TEXT NOT NULL,
    PRIMARY KEY (lab, sha256, student)
);
CREATE TABLE IF NOT EXISTS exercise_scores (
    lab TEXT NOT NULL, sha256 TEXT NOT NULL, student TEXT NOT NULL, exercise TEXT NOT NULL,
    points REAL NOT NULL, max_points REAL NOT NULL, message TEXT,
    PRIMARY KEY (lab, sha256, student, exercise)
);
"""


class Gradebook:
    """Open (or create) ``path``. Only the coordinating process writes to it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Grades are private from the first byte: the file is created 0600 before SQLite opens it,
        # and SQLite gives its -wal and -shm files the database file's permissions.
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            for f in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                if f.exists() and f.stat().st_mode & 0o077:
                    os.chmod(f, 0o600)
        self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def has(self, lab: str, sha: str, student: str) -> bool:
        row = self.conn.execute("SELECT status FROM submissions WHERE lab=? AND sha256=? AND student=?",
                                (lab, sha, student)).fetchone()
        return row is not None and row[0] != "error"

    def record(self, result: GradeResult) -> None:
        """Store one graded submission in a single transaction."""
        key = (result.lab, result.sha256, result.student)
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM exercise_scores WHERE lab=? AND sha256=? AND student=?", key)
            c.execute("INSERT OR REPLACE INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (*key, result.file, result.submitted_at, now, result.status, float(result.score),
                       float(result.max_score), result.message, result.lab_version, result.grader_version,
                       result.seconds, result.to_json()))
            c.executemany("INSERT INTO exercise_scores VALUES (?,?,?,?,?,?,?)",
                          [(*key, e.id, float(e.points), float(e.max_points), e.message) for e in result.exercises])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def rows(self, lab: str | None = None) -> list[dict]:
        q = "SELECT lab, sha256, student, file, submitted_at, graded_at, status, score, max_score, message " \
            "FROM submissions" + (" WHERE lab=?" if lab else "") + " ORDER BY lab, student"
        cols = ["lab", "sha256", "student", "file", "submitted_at", "graded_at", "status", "score", "max_score",
                "message"]
        return [dict(zip(cols, r)) for r in self.conn.execute(q, (lab,) if lab else ())]

    def result(self, lab: str, sha: str, student: str) -> GradeResult | None:
        row = self.conn.execute("SELECT result_json FROM submissions WHERE lab=? AND sha256=? AND student=?",
                                (lab, sha, student)).fetchone()
        return GradeResult.from_dict(json.loads(row[0])) if row else None

    def latest(self, lab: str | None = None, policy: str = "latest") -> list[dict]:
        """One row per (student, lab), chosen by ``policy``, with per-exercise points and counts.

        ``policy="latest"``: the most recently handed-in submission (the file's time, then the
        grading time); ``"best"``: the highest-scoring graded one (a rejected one only if there
        is nothing else). Each row also says how many submissions the student made
        (``submissions``) and how many were rejected (``rejected``).
        """
        if policy not in POLICIES:
            raise ValueError(f"resubmission policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        groups: dict[tuple, list[dict]] = {}
        for r in self.rows(lab):
            groups.setdefault((r["student"], r["lab"]), []).append(r)
        out = []
        for k in sorted(groups):
            subs = groups[k]
            r = dict(max(subs, key=POLICIES[policy]))
            r["submissions"] = len(subs)
            r["rejected"] = sum(s["status"] == "rejected" for s in subs)
            r["exercises"] = {e: p for e, p in self.conn.execute(
                "SELECT exercise, points FROM exercise_scores WHERE lab=? AND sha256=? AND student=? ORDER BY rowid",
                (r["lab"], r["sha256"], r["student"]))}
            out.append(r)
        return out

    def export_csv(self, path: str | Path, lab: str | None = None, policy: str = "latest") -> int:
        """Write one row per student and lab with per-exercise points; returns the row count.

        Every text cell is neutralised for spreadsheets (:func:`csv_cell`).
        """
        rows = self.latest(lab, policy)
        ex_cols = []
        for r in rows:
            for e in r["exercises"]:
                col = f"{r['lab']}:{e}"
                if col not in ex_cols:
                    ex_cols.append(col)
        fields = ["student", "lab", "score", "max_score", "status", "submitted_at", "graded_at", "file", "sha256",
                  "submissions", "rejected"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([csv_cell(c) for c in fields + ex_cols])
            for r in rows:
                per = {f"{r['lab']}:{e}": p for e, p in r["exercises"].items()}
                w.writerow([csv_cell(r[f]) for f in fields] + [per.get(c, "") for c in ex_cols])
        return len(rows)


#: How ``latest`` picks one submission per student: sort keys, the largest wins.
POLICIES = {
    "latest": lambda r: (r["submitted_at"] or "", r["graded_at"]),
    "best": lambda r: (r["status"] == "graded", r["score"], r["submitted_at"] or ""),
}


def csv_cell(value):
    """A value safe to open in a spreadsheet: text that a spreadsheet would run as a formula is quoted.

    >>> csv_cell("=1+2"), csv_cell("-1+2"), csv_cell(3.5), csv_cell("ada")
    ("'=1+2", "'-1+2", 3.5, 'ada')
    """
    if not isinstance(value, str):
        return value
    value = safe_text(value, 1000)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%") else value
