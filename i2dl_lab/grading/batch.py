"""Grading many submissions: inline, in ``--jobs N`` local processes, or on a Dask cluster.

Workers (processes or Dask tasks) only orchestrate: each grades one submission through
:func:`grader.grade_bytes`, which runs the student's code in its own sandboxed child. The
coordinating process alone writes the gradebook, one transaction per submission as results
arrive, so an interrupted batch keeps everything graded so far and a rerun skips it.
Inline (``--jobs 1``), the next submission is prepared (:func:`grader.prepare`: parsed,
checked statically, its cases drawn) in a thread while this one's child runs.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..progress import progress
from .feedback import write_report
from .gradebook import Gradebook
from .grader import LabConfig, grade_bytes, prepare, run_prepared, student_for
from .notebook import MAX_NOTEBOOK_BYTES, sha256
from .protocol import GradeResult, safe_text
from .sandbox import keep_spare_children, preflight, spare_children


@dataclass
class Item:
    """One submission file; its bytes are read again only when it is dispatched (bounded memory)."""

    path: str
    name: str
    sha256: str
    student: str
    submitted_at: str | None = None

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
    results: list[GradeResult] = field(default_factory=list)

    def line(self) -> str:
        n = len(self.per_submission)
        mean = sum(self.per_submission) / n if n else 0.0
        return (f"{self.graded} graded, {self.rejected} rejected, {self.errors} grader errors, {self.skipped} "
                f"skipped (already in the gradebook) in {self.seconds:.1f} s; mean {mean:.2f} s per submission")


def collect(paths) -> list[tuple[Path, Path | None]]:
    """Notebooks and zips named in ``paths`` (folders are searched recursively), each with its folder."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend((f, p) for f in sorted(p.rglob("*")) if f.suffix in (".ipynb", ".zip") and f.is_file()
                       and ".ipynb_checkpoints" not in f.parts)
        elif p.exists():
            out.append((p, None))
        else:
            raise FileNotFoundError(f"no such submission: {p}")
    seen, uniq = set(), []
    for p, root in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            uniq.append((p, root))
    return uniq


def identify(path: Path, lab: str, root: Path | None = None) -> Item:
    """The submission at ``path``: its sha256, its student (folder or name) and its time (the file's)."""
    with open(path, "rb") as fh:
        data = fh.read(4 * MAX_NOTEBOOK_BYTES + 1)
    mtime = _dt.datetime.fromtimestamp(os.stat(path).st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
    return Item(str(path), safe_text(path.name, 255), sha256(data), student_for(path, lab, root), mtime)


def grade_task(name: str, data: bytes, cfg: LabConfig) -> GradeResult:
    """One submission, as run by a worker process or a Dask task (module level: picklable)."""
    return grade_bytes(data, name, cfg)


class _Recorder:
    """Writes each result as it arrives: the gradebook, the feedback report, the summary, the bar."""

    def __init__(self, book: Gradebook, cfg: LabConfig, summary: BatchSummary, bar, feedback_dir):
        self.book, self.cfg, self.summary, self.bar, self.feedback_dir = book, cfg, summary, bar, feedback_dir

    def __call__(self, item: Item, result: GradeResult) -> None:
        result.student, result.submitted_at = item.student, item.submitted_at
        result.file = safe_text(item.path, 1000)
        self.book.record(result)
        if self.feedback_dir is not None:
            try:
                write_report(result, self.feedback_dir)
            except OSError as exc:  # the grade is safe in the book; say so and go on
                self.bar.write(f"could not write the feedback of {item.path}: {exc}")
        s = self.summary
        s.graded += result.status == "graded"
        s.rejected += result.status == "rejected"
        s.errors += result.status == "error"
        s.per_submission.append(float(result.seconds or 0.0))
        s.results.append(result)
        self.bar.update(1)
        self.bar.set_postfix(last=f"{result.score:g}/{result.max_score:g}")

    def crashed(self, item: Item, exc: BaseException) -> GradeResult:
        return GradeResult.crashed(item.name, item.sha256, self.cfg.lab, item.student,
                                   f"grading worker failed: {type(exc).__name__}: {exc}")


def _hidden_from_children(cfg: LabConfig, paths, db, feedback_dir) -> LabConfig:
    """``cfg`` with the gradebook's folder, the feedback folder and the submissions hidden from the child."""
    hide = [str(Path(db).resolve().parent)] + ([str(Path(feedback_dir).resolve())] if feedback_dir else [])
    hide += [str(Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent) for p in paths]
    return replace(cfg, hide=list(cfg.hide) + hide)


def grade_batch(cfg: LabConfig, paths, db: str | Path, jobs: int = 1, force: bool = False,
                feedback_dir: str | Path | None = None, dask_address: str | None = None,
                quiet: bool = False) -> BatchSummary:
    """Grade every submission in ``paths`` into the gradebook ``db``."""
    t0 = time.monotonic()
    summary = BatchSummary()
    files = collect(paths)
    cfg = _hidden_from_children(cfg, paths, db, feedback_dir)
    with Gradebook(db) as book:
        todo = []
        for f, root in files:
            item = identify(f, cfg.lab, root)
            if not force and book.has(cfg.lab, item.sha256, item.student):
                summary.skipped += 1
            else:
                todo.append(item)
        bar = progress(total=len(todo), desc=f"grading lab {cfg.lab}", disable=quiet or not todo)
        record = _Recorder(book, cfg, summary, bar, feedback_dir)
        # a spare child starts and confines itself while the previous submission is scored and recorded
        with spare_children():
            try:
                if todo:  # refuse before the first submission rather than record an error for each
                    preflight(cfg.spec, cfg.limits, cfg.hide)
                if dask_address:
                    _run_dask(dask_address, cfg, todo, record, record.crashed)
                elif jobs > 1 and len(todo) > 1:
                    _run_pool(jobs, cfg, todo, record, record.crashed)
                else:
                    _run_serial(cfg, todo, record, record.crashed)
            finally:
                bar.close()
    summary.seconds = time.monotonic() - t0
    return summary


#: The interpreter's switch interval while the serial batch prepares ahead (see :func:`_run_serial`).
PREPARE_SWITCH_SECONDS = 0.0002


def _prepare_item(item: Item, cfg: LabConfig):
    return prepare(item.data, item.name, cfg, expect=True)


def _run_serial(cfg: LabConfig, todo, record, crashed) -> None:
    """Grade ``todo`` in order in this process, preparing each next submission while this one's child runs.

    At most one submission is prepared ahead, its expected outputs included (the grading
    thread then only sends the job and starts the next child before it reads the answers;
    the references are timed in that thread, beside the other work, so the exercises'
    clocks can only come out longer). Preparing runs no student code and never
    raises for what a submission holds; a file that cannot be read any more is its own
    recorded error. Results are recorded in order, each as soon as it is scored.
    """
    switch = sys.getswitchinterval()
    # Whenever this thread waits (a read, a fork request), the preparing thread takes the
    # interpreter; it must hand it back within a fraction of a millisecond, not the default 5 ms.
    sys.setswitchinterval(PREPARE_SWITCH_SECONDS)
    try:
        _serial(cfg, todo, record, crashed)
    finally:
        sys.setswitchinterval(switch)


def _serial(cfg: LabConfig, todo, record, crashed) -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="i2dl-grading-prepare") as ahead:
        nxt = ahead.submit(_prepare_item, todo[0], cfg) if todo else None
        for i, item in enumerate(todo):
            t0 = time.monotonic()
            try:
                prepared = nxt.result()
            except Exception as exc:  # noqa: BLE001 - e.g. the file went away: this submission's error only
                prepared = exc
            waited = time.monotonic() - t0
            started: list = []

            def prepare_next(k=i + 1, started=started):
                # once this submission's child has its job: preparing competes with the grader's own work before
                if not started and k < len(todo):
                    started.append(ahead.submit(_prepare_item, todo[k], cfg))

            result = crashed(item, prepared) if isinstance(prepared, Exception) else \
                run_prepared(prepared, waited, prepare_next)
            prepare_next()  # no child ran (a rejected file)
            record(item, result)
            nxt = started[0] if started else None


def _run_pool(jobs: int, cfg: LabConfig, todo, record, crashed) -> None:
    import multiprocessing as mp

    queue = list(reversed(todo))
    in_flight = 4 * jobs  # submissions read into memory at a time
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                             initializer=keep_spare_children) as pool:
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
