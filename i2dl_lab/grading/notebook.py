"""Reading notebooks and submission files without trusting them.

Nothing here executes code: notebooks are parsed as JSON, zips are read in memory (never
extracted), and every problem becomes a :class:`SubmissionError` whose message a student
can act on.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field

#: Biggest notebook the grader reads (bytes); anything larger is rejected unread.
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_ZIP_ENTRIES = 16
MANIFEST_NAME = "manifest.json"


class SubmissionError(ValueError):
    """A submission that cannot be graded; the message says why, in plain words."""


@dataclass
class Cell:
    index: int
    cell_type: str
    source: str
    metadata: dict

    @property
    def i2dl(self) -> dict:
        meta = self.metadata.get("i2dl") if isinstance(self.metadata, dict) else None
        return meta if isinstance(meta, dict) else {}

    @property
    def exercise(self) -> str | None:
        ex = self.i2dl.get("exercise")
        return ex if isinstance(ex, str) else None

    @property
    def is_quiz(self) -> bool:
        return self.i2dl.get("quiz") is True


@dataclass
class Submission:
    """A notebook as the grader sees it: the cells, the bytes' sha256 and where it came from."""

    name: str
    notebook_sha256: str
    cells: list[Cell]
    metadata: dict
    student: str | None = None
    submitted_at: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lab_meta(self) -> dict:
        m = self.metadata.get("i2dl") if isinstance(self.metadata, dict) else None
        return m if isinstance(m, dict) else {}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source(src) -> str:
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return "".join(src)
    raise SubmissionError("a cell's source is neither text nor a list of lines")


def _json(text: str, what: str):
    """``json.loads`` with every pathology (nesting, huge numbers, bad syntax) as a SubmissionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise SubmissionError(f"{what} is JSON nested too deeply to be read") from None
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}); it may be truncated or edited by hand") from None
    except (ValueError, MemoryError) as exc:  # e.g. an integer with more digits than Python converts
        raise SubmissionError(f"{what} holds JSON that cannot be read ({type(exc).__name__}: {str(exc)[:120]})") \
            from None


def parse_notebook(data: bytes, name: str = "notebook") -> tuple[list[Cell], dict]:
    """Cells and metadata of notebook bytes; raises SubmissionError with the reason."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{name}: the notebook is {len(data)} bytes; the limit is {MAX_NOTEBOOK_BYTES}")
    if not data.strip():
        raise SubmissionError(f"{name}: the file is empty (0 cells); was the notebook saved?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{name}: the file is not UTF-8 text (bad byte at position {exc.start}); "
                              "a notebook is JSON in UTF-8") from None
    nb = _json(text, f"{name}: the notebook")
    if not isinstance(nb, dict) or "cells" not in nb:
        raise SubmissionError(f"{name}: this JSON is not a Jupyter notebook (no 'cells' list)")
    major = nb.get("nbformat")
    if major != 4:
        raise SubmissionError(f"{name}: notebook format {major!r} is not supported; expected nbformat 4 "
                              "(save it with JupyterLab 3 or newer)")
    cells_raw = nb["cells"]
    if not isinstance(cells_raw, list):
        raise SubmissionError(f"{name}: 'cells' is not a list")
    if not cells_raw:
        raise SubmissionError(f"{name}: the notebook has no cells")
    cells = []
    for i, c in enumerate(cells_raw):
        if not isinstance(c, dict) or not isinstance(c.get("cell_type"), str):
            raise SubmissionError(f"{name}: cell {i} is malformed (no cell_type)")
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        cells.append(Cell(i, c["cell_type"], _source(c.get("source", "")), meta))
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    return cells, meta


def _safe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\x00" in name)


def read_zip(data: bytes, name: str, max_bytes: int = MAX_NOTEBOOK_BYTES) -> tuple[bytes, dict]:
    """The notebook bytes and manifest inside a submission zip, read in memory with caps."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SubmissionError(f"{name}: not a readable zip file ({exc})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise SubmissionError(f"{name}: the zip holds {len(infos)} files; a submission holds a notebook and "
                              "a manifest")
    for info in infos:
        if not _safe_member(info.filename):
            raise SubmissionError(f"{name}: the zip contains an unsafe path {info.filename!r}; rejected")

    def read(info) -> bytes:
        if info.file_size > max_bytes:
            raise SubmissionError(f"{name}: {info.filename} unpacks to {info.file_size} bytes; the limit is "
                                  f"{max_bytes} (zip bomb?)")
        try:
            with zf.open(info) as fh:
                out = fh.read(max_bytes + 1)  # never trust the declared size
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise SubmissionError(f"{name}: cannot read {info.filename} from the zip ({exc})") from None
        if len(out) > max_bytes:
            raise SubmissionError(f"{name}: {info.filename} unpacks to more than {max_bytes} bytes (zip bomb?)")
        return out

    notebooks = [i for i in infos if i.filename.endswith(".ipynb") and not i.is_dir()]
    if len(notebooks) != 1:
        raise SubmissionError(f"{name}: expected exactly one .ipynb in the zip, found {len(notebooks)}")
    nb_bytes = read(notebooks[0])
    manifest = {}
    man = [i for i in infos if i.filename.rsplit("/", 1)[-1] == MANIFEST_NAME]
    if man:
        try:
            text = read(man[0]).decode("utf-8")
        except UnicodeDecodeError:
            raise SubmissionError(f"{name}: the manifest in the zip is not UTF-8 text") from None
        manifest = _json(text, f"{name}: the manifest in the zip")
        if not isinstance(manifest, dict):
            raise SubmissionError(f"{name}: the manifest in the zip is not a JSON object")
        want = manifest.get("sha256")
        if want is not None and want != sha256(nb_bytes):
            raise SubmissionError(f"{name}: the notebook does not match the checksum in its manifest "
                                  "(changed or corrupted after `i2dl-lab submit`)")
    return nb_bytes, manifest


def load_submission(data: bytes, name: str) -> Submission:
    """Parse a submission (a .ipynb or a zip made by ``i2dl-lab submit``) from its bytes."""
    manifest: dict = {}
    if data[:4] == b"PK\x03\x04" or name.endswith(".zip"):
        data, manifest = read_zip(data, name)
    cells, meta = parse_notebook(data, name)
    sub = Submission(name=name, notebook_sha256=sha256(data), cells=cells, metadata=meta)
    student = manifest.get("student") or sub.lab_meta.get("student")
    sub.student = str(student)[:200] if isinstance(student, (str, int)) and str(student) else None
    at = manifest.get("time")
    sub.submitted_at = str(at)[:64] if isinstance(at, str) else None
    return sub
