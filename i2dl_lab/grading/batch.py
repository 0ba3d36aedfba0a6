"""Grading many submissions: inline, in ``--jobs N`` local processes, or on a Dask cluster.

Workers (processes or Dask tasks) only orchestrate: each grades one submission through
:func:`grader.grade_bytes`, which runs the student's code in its own sandboxed child. The
coordinating process alone writes the gradebook, one transaction per submission as results
arrive, so an interrupted batch keeps everything graded so far and a rerun skips it.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..progress import progress
from .feedback import write_report
from .gradebook import Gradebook
from .grader import LabConfig, grade_bytes, student_for
from .notebook import MAX_NOTEBOOK_BYTES, SubmissionError, read_zip, sha256


@dataclass
class Item:
    """One submission file; its bytes are read again only when it is dispatched (bounded memory)."""

    path: str
    name: str
    sha256: str
    student: str

    @property
    def data(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read(4 * MAX_NOTEBOOK_BYTES + 1)


@dataclass
class BatchSummary:
    graded: int = 0
    rejected: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    per_submission: list[float] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def line(self) -> str:
        n = len(self.per_submission)
        mean = sum(self.per_submission) / n if n else 0.0
        return (f"{self.graded} graded, {self.rejected} rejected, {self.errors} grader errors, {self.skipped} "
                f"skipped (already in the gradebook) in {self.seconds:.1f} s; mean {mean:.2f} s per submission")


def collect(paths) -> list[Path]:
    """Notebooks and zips named in ``paths`` (folders are searched recursively)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in (".ipynb", ".zip") and f.is_file()
                              and ".ipynb_checkpoints" not in f.parts))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such submission: {p}")
    seen, uniq = set(), []
    for p in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            uniq.append(p)
    return uniq


def identify(path: Path, lab: str) -> Item:
    with open(path, "rb") as fh:
        data = fh.read(4 * MAX_NOTEBOOK_BYTES + 1)
    manifest_student = None
    if data[:4] == b"PK\x03\x04" or path.suffix == ".zip":
        try:
            _, manifest = read_zip(data, path.name)
            s = manifest.get("student")
            manifest_student = str(s)[:200] if isinstance(s, (str, int)) and str(s) else None
        except SubmissionError:
            pass
    return Item(str(path), path.name, sha256(data), student_for(path, lab, manifest_student))


def grade_task(name: str, data: bytes, cfg: LabConfig) -> dict:
    """One submission, as run by a worker process or a Dask task (module level: picklable)."""
    return grade_bytes(data, name, cfg)


def grade_batch(cfg: LabConfig, paths, db: str | Path, jobs: int = 1, force: bool = False,
                feedback_dir: str | Path | None = None, dask_address: str | None = None,
                quiet: bool = False) -> BatchSummary:
    """Grade every submission in ``paths`` into the gradebook ``db``."""
    t0 = time.monotonic()
    summary = BatchSummary()
    files = collect(paths)
    hide = [str(Path(db).resolve().parent)] + ([str(Path(feedback_dir).resolve())] if feedback_dir else [])
    hide += [str(Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent) for p in paths]
    cfg = replace(cfg, hide=list(cfg.hide) + hide)
    with Gradebook(db) as book:
        todo = []
        for f in files:
            item = identify(f, cfg.lab)
            if not force and book.has(cfg.lab, item.sha256, item.student):
                summary.skipped += 1
            else:
                todo.append(item)
        bar = progress(total=len(todo), desc=f"grading lab {cfg.lab}", disable=quiet or not todo)

        def record(item: Item, result: dict) -> None:
            # the key is the sha256 of the bytes actually graded (a file replaced mid-batch gets its own row)
            result.setdefault("sha256", item.sha256)
            result["student"] = item.student
            result["file"] = item.path
            book.record(result)
            if feedback_dir is not None:
                try:
                    write_report(result, feedback_dir)
                except OSError as exc:  # the grade is safe in the book; say so and go on
                    bar.write(f"could not write the feedback of {item.path}: {exc}")
            status = result["status"]
            summary.graded += status == "graded"
            summary.rejected += status == "rejected"
            summary.errors += status == "error"
            summary.per_submission.append(float(result.get("seconds") or 0.0))
            summary.results.append({k: result[k] for k in ("student", "file", "status", "score", "max_score")})
            bar.update(1)
            bar.set_postfix(last=f"{result['score']:g}/{result['max_score']:g}")

        def crashed(item: Item, exc: BaseException) -> dict:
            return {"file": item.name, "sha256": item.sha256, "lab": cfg.lab, "student": item.student,
                    "status": "error", "score": 0.0, "max_score": 0.0, "exercises": [], "notes": [],
                    "message": f"grading worker failed: {type(exc).__name__}: {exc}", "seconds": 0.0}

        try:
            if dask_address:
                _run_dask(dask_address, cfg, todo, record, crashed)
            elif jobs > 1 and len(todo) > 1:
                _run_pool(jobs, cfg, todo, record, crashed)
            else:
                for item in todo:
                    record(item, grade_task(item.name, item.data, cfg))
        finally:
            bar.close()
    summary.seconds = time.monotonic() - t0
    return summary


def _run_pool(jobs: int, cfg: LabConfig, todo, record, crashed) -> None:
    import multiprocessing as mp

    queue = list(reversed(todo))
    in_flight = 4 * jobs  # submissions read into memory at a time
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures: dict = {}
        while queue or futures:
            while queue and len(futures) < in_flight:
                it = queue.pop()
                futures[pool.submit(grade_task, it.name, it.data, cfg)] = it
            done, _ = wait(set(futures), return_when=FIRST_COMPLETED)
            for fut in done:
                item = futures.pop(fut)
                exc = fut.exception()
                record(item, crashed(item, exc) if exc else fut.result())


def _run_dask(address: str, cfg: LabConfig, todo, record, crashed) -> None:
    from distributed import Client, as_completed

    client = address if not isinstance(address, str) else Client(address)
    try:
        queue = list(reversed(list(enumerate(todo))))
        in_flight = 4 * max(1, sum(client.nthreads().values()))
        futures: dict = {}
        pending = as_completed()

        def top_up():
            while queue and len(futures) < in_flight:
                i, it = queue.pop()
                fut = client.submit(grade_task, it.name, it.data, cfg, pure=False, key=f"grade-{it.sha256}-{i}")
                futures[fut] = it
                pending.add(fut)

        top_up()
        for fut in pending:
            item = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker is one submission's error, not the batch's
                result = crashed(item, exc)
            record(item, result)
            top_up()
    finally:
        if isinstance(address, str):
            client.close()
