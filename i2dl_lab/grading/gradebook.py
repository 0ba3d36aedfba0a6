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

from .protocol import GradeResult

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
        fresh = not self.path.exists()
        self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        if fresh:  # grades are private: only the instructor's account may read them
            os.chmod(self.path, 0o600)

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
                       result.seconds, json.dumps(result.to_dict(), default=str)))
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

    def latest(self, lab: str | None = None) -> list[dict]:
        """One row per (student, lab): the most recently submitted (then graded) submission."""
        best: dict[tuple, dict] = {}
        for r in self.rows(lab):
            k = (r["student"], r["lab"])
            rank = (r["submitted_at"] or "", r["graded_at"])
            if k not in best or rank > (best[k]["submitted_at"] or "", best[k]["graded_at"]):
                best[k] = r
        out = []
        for k in sorted(best):
            r = dict(best[k])
            r["exercises"] = {e: p for e, p in self.conn.execute(
                "SELECT exercise, points FROM exercise_scores WHERE lab=? AND sha256=? AND student=? ORDER BY rowid",
                (r["lab"], r["sha256"], r["student"]))}
            out.append(r)
        return out

    def export_csv(self, path: str | Path, lab: str | None = None) -> int:
        """Write one row per student and lab with per-exercise points; returns the row count."""
        rows = self.latest(lab)
        ex_cols = []
        for r in rows:
            for e in r["exercises"]:
                col = f"{r['lab']}:{e}"
                if col not in ex_cols:
                    ex_cols.append(col)
        fields = ["student", "lab", "score", "max_score", "status", "submitted_at", "graded_at", "file", "sha256"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(fields + ex_cols)
            for r in rows:
                per = {f"{r['lab']}:{e}": p for e, p in r["exercises"].items()}
                w.writerow([r[f] for f in fields] + [per.get(c, "") for c in ex_cols])
        return len(rows)
