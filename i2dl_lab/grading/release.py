"""Student notebooks from solution notebooks (``i2dl-lab release``).

In each solution notebook:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` (indented like the marker); in a markdown cell the block
  becomes ``YOUR ANSWER HERE``;
* code between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed, and a cell
  left empty by that is dropped; so are cells with metadata ``{"i2dl": {"solution_only": true}}``;
* the quiz cell's ``ANSWERS`` values become ``None`` (true/false) or ``""`` (multiple choice);
* outputs and execution counts are cleared; the notebook metadata gets
  ``{"i2dl": {"lab": "NN", "version": ..., "kind": "student"}}``;
* so that Run All goes to the end, the first code cell after the parameters cell starts with
  ``%load_ext i2dl_lab.grading.runall`` (unfinished exercises and failing self-checks are
  reported, not raised: :mod:`.runall`; no cell moves, so cell numbers stay those of the
  solution), and a last cell prints where the student stands and checks the quiz answers'
  format (:func:`.runall.notebook_status`).

A ``MANIFEST.json`` next to the released notebooks lists each file with its sha256. Release
refuses to write a notebook in which a solution line or hidden test survived, or whose code
cells no longer parse.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import re
from pathlib import Path

from .. import __version__
from .notebook import parse_notebook, sha256
from .quiz import quiz_form

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_LAB_FILE = re.compile(r"^(\d+)_.*\.ipynb$")
RUNALL_LINES = ("# Run All goes on past exercises you have not written yet and failing self-checks, saying which.\n"
                "%load_ext i2dl_lab.grading.runall\n")


class ReleaseError(ValueError):
    """A solution notebook that cannot be released safely."""


def _strip_blocks(src: str, begin: str, end: str, replacement) -> tuple[str, list[str]]:
    """Replace each begin..end block; returns the new text and the removed lines."""
    out, removed, inside, indent = [], [], False, ""
    for line in src.split("\n"):
        stripped = line.strip()
        if stripped.startswith(begin):
            if inside:
                raise ReleaseError(f"nested {begin!r}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            continue
        if stripped.startswith(end):
            if not inside:
                raise ReleaseError(f"{end!r} without {begin!r}")
            inside = False
            out.extend(replacement(indent))
            continue
        (removed if inside else out).append(line)
    if inside:
        raise ReleaseError(f"{begin!r} without {end!r}")
    return "\n".join(out), removed


def _code_cell(cell_id: str, source: str, role: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {"i2dl": {role: True}},
            "outputs": [], "source": source}


def _status_source(lab: str, form: dict | None) -> str:
    call = f"notebook_status({lab!r}, ANSWERS, {form!r})" if form is not None else f"notebook_status({lab!r})"
    return ("# Where you stand: each exercise's self-check, the cells skipped for unfinished exercises, and\n"
            "# whether the quiz answers above can be graded as written.\n"
            "from i2dl_lab.grading.runall import notebook_status\n\n" + call)


def _answers_of(src: str) -> dict | None:
    for stmt in ast.parse(src).body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in stmt.targets):
            value = ast.literal_eval(stmt.value)
            return value if isinstance(value, dict) else None
    return None


def _blank_answers(src: str) -> str:
    tree = ast.parse(src)
    lines = src.split("\n")
    for stmt in reversed(tree.body):
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in stmt.targets):
            value = ast.literal_eval(stmt.value)
            if not isinstance(value, dict):
                raise ReleaseError("the quiz cell's ANSWERS is not a dict")
            blank = ",\n".join(f"    {k!r}: {None if isinstance(v, bool) else chr(34) * 2}" for k, v in value.items())
            new = f"ANSWERS = {{\n{blank},\n}}".replace("{\n,\n}", "{}")
            lines[stmt.lineno - 1: stmt.end_lineno] = new.split("\n")
    return "\n".join(lines)


def release_notebook(data: bytes, lab: str, name: str = "notebook") -> tuple[dict, dict]:
    """The student version of solution notebook bytes, and a report of what was removed."""
    parse_notebook(data, name)  # validates
    nb = json.loads(data.decode("utf-8-sig"))
    if ((nb.get("metadata") or {}).get("i2dl") or {}).get("kind") == "student":
        raise ReleaseError(f"{name} is already a released (student) notebook; release the solution notebooks")
    version = f"{__version__}+{sha256(data)[:12]}"
    cells_out = []
    secret_lines: list[str] = []
    n_solutions = 0
    form = None
    for cell in nb["cells"]:
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        meta = cell.get("metadata") or {}
        i2dl = meta.get("i2dl") or {}
        if i2dl.get("solution_only"):
            secret_lines.extend(src.split("\n"))
            continue
        src, hidden = _strip_blocks(src, BEGIN_HIDDEN, END_HIDDEN, lambda ind: [])
        secret_lines.extend(hidden)
        if hidden and not src.strip():
            continue
        if cell["cell_type"] == "code":
            src, sol = _strip_blocks(src, BEGIN_SOLUTION, END_SOLUTION,
                                     lambda ind: [f"{ind}# YOUR CODE HERE", f"{ind}raise NotImplementedError()"])
            if i2dl.get("quiz") is True:
                form = quiz_form(_answers_of(src) or {})
                src = _blank_answers(src)
            try:
                ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n")))
            except SyntaxError as exc:
                raise ReleaseError(f"{name}: a code cell does not parse after release "
                                   f"(line {exc.lineno}: {exc.msg}):\n{src}") from None
            cell = dict(cell, outputs=[], execution_count=None)
        else:
            src, sol = _strip_blocks(src, BEGIN_SOLUTION, END_SOLUTION, lambda ind: [f"{ind}YOUR ANSWER HERE"])
            cell = dict(cell)
            cell.pop("attachments", None) if sol else None
        n_solutions += bool(sol)
        secret_lines.extend(sol)
        cell["source"] = src
        cells_out.append(cell)
    code = [c for c in cells_out if c["cell_type"] == "code"]
    host = next((c for c in code if "parameters" not in (c.get("metadata") or {}).get("tags", [])), None)
    if host is None:
        cells_out.insert(0, _code_cell("i2dl-runall", "", "runall"))
        host = cells_out[0]
    host["source"] = RUNALL_LINES + host["source"]
    cells_out.append(_code_cell("i2dl-status", _status_source(lab, form), "status"))
    # every cell gets an id (nbformat 4.5): workspaces track cells by id, and JupyterLab would
    # add missing ids itself and open the notebook as modified
    taken = {c.get("id") for c in cells_out}
    for i, c in enumerate(cells_out):
        if not c.get("id"):
            c["id"] = next(f"cell-{i:03d}{s}" for s in ("", *"abcdefghij") if f"cell-{i:03d}{s}" not in taken)
            taken.add(c["id"])
    metadata = dict(nb.get("metadata") or {})
    metadata["i2dl"] = {"lab": lab, "version": version, "kind": "student"}
    out = dict(nb, cells=cells_out, metadata=metadata, nbformat=4, nbformat_minor=max(5, nb.get("nbformat_minor", 5)))
    text = json.dumps(out)
    # nothing secret may survive: every non-trivial removed line must be gone from the student text
    kept = "\n".join(c["source"] for c in cells_out)
    leaks = [ln.strip() for ln in secret_lines if len(ln.strip()) > 3 and ln.strip() in kept.split("\n")
             and not _also_public(ln.strip(), nb, secret_lines)]
    if leaks:
        raise ReleaseError(f"{name}: solution lines would reach the student notebook: {leaks[:3]}")
    return out, {"solutions": n_solutions, "removed_lines": len(secret_lines), "version": version, "size": len(text)}


def _also_public(line: str, nb: dict, secret_lines) -> bool:
    """True when ``line`` also appears outside every solution block (e.g. ``return out``)."""
    count_secret = sum(1 for s in secret_lines if s.strip() == line)
    count_all = sum(1 for c in nb["cells"] for ln in ("".join(c["source"]) if isinstance(c["source"], list)
                                                       else c["source"]).split("\n") if ln.strip() == line)
    return count_all > count_secret


def lab_of(path: Path) -> str:
    m = _LAB_FILE.match(path.name)
    if not m:
        raise ReleaseError(f"{path.name}: lab notebooks are named NN_topic.ipynb")
    return f"{int(m.group(1)):02d}"


def find_labs(source: Path, labs=None) -> list[Path]:
    files = sorted(p for p in Path(source).glob("*.ipynb") if _LAB_FILE.match(p.name))
    if labs:
        want = {f"{int(str(x).split('_')[0]):02d}" for x in labs}
        files = [p for p in files if lab_of(p) in want]
        missing = want - {lab_of(p) for p in files}
        if missing:
            raise ReleaseError(f"no solution notebook for lab(s) {', '.join(sorted(missing))} in {source}")
    return files


def release(source: str | Path, out: str | Path, labs=None) -> dict:
    """Release the labs in ``source`` (all, or those numbered in ``labs``) into ``out``."""
    source, out = Path(source), Path(out)
    files = find_labs(source, labs)
    if not files:
        raise ReleaseError(f"no lab notebooks (NN_topic.ipynb) in {source}")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"released_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "i2dl_lab_version": __version__, "files": {}}
    for path in files:
        lab = lab_of(path)
        nb, report = release_notebook(path.read_bytes(), lab, path.name)
        data = (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        tmp = out / (path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(out / path.name)
        manifest["files"][path.name] = {"lab": lab, "version": report["version"], "sha256": sha256(data),
                                        "solutions_removed": report["solutions"]}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
