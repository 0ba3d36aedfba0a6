"""HTML feedback reports, one per submission (``--feedback DIR``).

A report shows each exercise's points and, per hidden case, passed or a student-safe
reason (wrong shape, NaN, relative error, the exception type and line): never the hidden
inputs, the expected values or the spec's own messages, which stay in the gradebook for
the instructor. Everything from the submission is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

_CSS = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.ok{color:#176f2c}.bad{color:#a1221b}.note{color:#555;font-size:.9em}h2{margin-top:1.5em}"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def render(result: dict) -> str:
    """The HTML report of one grading result (as returned by ``grade_bytes``)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Lab {_e(result['lab'])} feedback</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Lab {_e(result['lab'])}: {_e(round(result['score'], 3))} / {_e(result['max_score'])} points</h1>",
             f"<p>Student: {_e(result.get('student'))}<br>File: {_e(Path(str(result.get('file'))).name)}<br>"
             f"Submission sha256: <code>{_e(result['sha256'])}</code></p>"]
    if result["status"] == "rejected":
        parts.append(f"<p class='bad'>This submission could not be graded: {_e(result['message'])}</p>")
    elif result["status"] == "error":
        parts.append("<p class='bad'>The grader failed on this submission; your instructor has been told. "
                     "It will be graded again.</p>")
    parts.append("<p class='note'>Graded with hidden test inputs drawn for this submission; "
                 "the inputs and expected outputs are not shown.</p>")
    for note in result.get("notes", []):
        parts.append(f"<p class='note'>Note: {_e(note)}</p>")
    for ex in result.get("exercises", []):
        parts.append(f"<h2>{_e(ex['title'])}: {_e(round(ex['points'], 3))} / {_e(ex['max_points'])}</h2>")
        if ex.get("message"):
            parts.append(f"<p>{_e(ex['message'])}</p>")
        for n in ex.get("notes", []):
            parts.append(f"<p class='note'>Note: {_e(n)}</p>")
        if ex.get("cases"):
            parts.append("<table><tr><th>case</th><th>result</th></tr>")
            for i, c in enumerate(ex["cases"], 1):
                label = c.get("question") or f"hidden case {i}"
                cls = "ok" if c["passed"] else "bad"
                parts.append(f"<tr><td>{_e(label)}</td><td class='{cls}'>{_e(c.get('feedback', ''))}</td></tr>")
            parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(result: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir) / f"lab{result['lab']}"
    out.mkdir(parents=True, exist_ok=True)
    who = re.sub(r"[^A-Za-z0-9._-]+", "_", str(result.get("student") or "unknown")).strip("._") or "unknown"
    path = out / f"{who}_{result['sha256'][:12]}.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(result), encoding="utf-8")
    tmp.replace(path)
    return path
