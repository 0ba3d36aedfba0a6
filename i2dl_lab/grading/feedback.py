"""HTML feedback reports, one per submission (``--feedback DIR``).

A report shows each exercise's points and, per hidden case, passed or a student-safe
reason (wrong shape, NaN, relative error, the exception type and line): never the hidden
inputs, the expected values or the spec's own messages, which stay in the gradebook for
the instructor. The page comes from ``templates/feedback.html.j2``, rendered by jinja2 with
autoescaping on, so every value from the submission is HTML-escaped by the template.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .protocol import GradeResult


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("i2dl_lab.grading", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("feedback.html.j2")


def render(result: GradeResult) -> str:
    """The HTML report of one grading result (as returned by ``grade_bytes``)."""
    return _template().render(r=result, file_name=Path(str(result.file)).name)


def write_report(result: GradeResult, out_dir: str | Path) -> Path:
    out = Path(out_dir) / f"lab{result.lab}"
    out.mkdir(parents=True, exist_ok=True)
    who = re.sub(r"[^A-Za-z0-9._-]+", "_", str(result.student or "unknown")).strip("._") or "unknown"
    path = out / f"{who}_{result.sha256[:12]}.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(result), encoding="utf-8")
    tmp.replace(path)
    return path
