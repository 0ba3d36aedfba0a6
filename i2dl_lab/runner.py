"""Execute labs headlessly with papermill and summarise the results.

This is what ``i2dl-lab run`` calls; it is importable so that tests and instructors'
scripts can run a course programmatically::

    from i2dl_lab.runner import discover_labs, run_labs, format_summary
    results = run_labs(discover_labs()[:2], out_dir="build/labs")
    print(format_summary(results))
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .report import Headline, find_headlines


class LabNotFound(ValueError):
    """A lab selector matched no notebook (the message lists the labs that exist)."""


@dataclass(frozen=True)
class Lab:
    """One notebook of the course: ``number`` ("01"), ``name`` ("01_linear_regression")."""

    number: str
    name: str
    path: Path
    title: str


@dataclass
class LabResult:
    lab: Lab
    status: str  # "ok", "failed" or "skipped"
    seconds: float
    output: Path | None = None
    headlines: list[Headline] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def headline(self) -> str:
        return "; ".join(str(h) for h in self.headlines)


def default_labs_dir() -> Path:
    """Where ``list`` and ``run`` look for labs, first match wins.

    ``$I2DL_LABS_DIR``; the student workspace the current folder is in; the ``labs/`` folder
    of the source checkout (the solution notebooks, for instructors); the student release
    of the installed package.
    """
    env = os.environ.get("I2DL_LABS_DIR")
    if env:
        return Path(env)
    from .course import checkout_root, packaged_release
    from .workspace import find_workspace

    ws = find_workspace(Path.cwd())
    if ws is not None:
        return ws
    root = checkout_root()
    if root is not None:
        return root / "labs"
    packaged = packaged_release()
    return packaged / "labs" if packaged else Path.cwd() / "labs"


def notebook_title(path: Path) -> str:
    """The first Markdown heading of the notebook (without the leading #), or its stem."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return path.stem
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else src
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                return line.lstrip("# ").strip()
        break
    return path.stem


def discover_labs(labs_dir: str | os.PathLike | None = None) -> list[Lab]:
    """Every ``NN_topic.ipynb`` in ``labs_dir``, in course order."""
    root = Path(labs_dir) if labs_dir is not None else default_labs_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"labs folder not found: {root} (set --labs-dir or I2DL_LABS_DIR, or run it in a "
                                f"workspace made by `i2dl-lab init DIR`)")
    labs = []
    for path in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        labs.append(Lab(path.name[:2], path.stem, path, notebook_title(path)))
    return labs


def select_labs(labs: Sequence[Lab], selectors: Iterable[str]) -> list[Lab]:
    """Pick labs by number ("4", "04"), name ("04_optimizers") or path; keep course order."""
    selectors = list(selectors)
    if not selectors:
        return list(labs)
    chosen: list[Lab] = []
    for sel in selectors:
        key = Path(sel).stem
        match = [lab for lab in labs
                 if key in (lab.name, lab.number) or (key.isdigit() and int(key) == int(lab.number))]
        if not match:
            known = ", ".join(lab.name for lab in labs) or "(none)"
            raise LabNotFound(f"no lab matches {sel!r}; labs are: {known}")
        chosen.extend(m for m in match if m not in chosen)
    return sorted(chosen, key=lambda lab: lab.name)


def parse_value(text: str):
    """Turn a command-line parameter into int, float, bool, None or str (as papermill does)."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class ParameterError(ValueError):
    """A ``-p``/``-y`` value that names no parameter of a lab, or has the wrong type."""


def notebook_parameters(path: str | os.PathLike) -> dict:
    """The defaults of the cell tagged ``parameters``: ``{name: value}`` in the cell's order.

    Only plain assignments of literals count (``EPOCHS = 10``, ``WIDTHS = [16, 32]``), which is
    what papermill can override.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell.get("source", "")
        out = {}
        text = "".join(src) if isinstance(src, list) else src
        text = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in text.split("\n"))
        for stmt in ast.parse(text).body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                try:
                    out[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                except ValueError:
                    continue
        return out
    return {}


def _kind(value) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
            list: "a list (pass it with -y)", tuple: "a list (pass it with -y)",
            dict: "a mapping (pass it with -y)"}.get(type(value), type(value).__name__)


def coerce_parameter(lab: str, name: str, value, default):
    """``value`` (a command-line string or a YAML value) as the type of the lab's ``default``."""
    given = value

    def bad():
        return ParameterError(f"parameter {name} of lab {lab} takes {_kind(default)} (default {default!r}), "
                              f"got {given!r}")

    if default is None:
        return parse_value(value) if isinstance(value, str) else value
    if isinstance(value, str) and not isinstance(default, str):
        if isinstance(default, (list, tuple, dict)):
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise bad() from None
        else:
            value = parse_value(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad()
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad()
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise bad()
        return list(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise bad()
        return value
    return value


def lab_parameters(lab: Lab, given: dict) -> dict:
    """Check ``given`` against the lab's parameters cell and type each value like its default.

    Raises:
        ParameterError: a name the lab does not have (the message lists the ones it has), or a
            value that does not fit the default's type.
    """
    defaults = notebook_parameters(lab.path)
    unknown = [n for n in given if n not in defaults]
    if unknown:
        valid = ", ".join(defaults) or "(none: the lab has no parameters cell)"
        raise ParameterError(f"lab {lab.name} has no parameter {', '.join(unknown)}; its parameters are: {valid}")
    return {n: coerce_parameter(lab.name, n, v, defaults[n]) for n, v in given.items()}


def _output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


def exercise_names(nb) -> list[str]:
    """Names of the functions and classes that the exercise cells of ``nb`` define."""
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("i2dl", {}):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in names:
                names.append(node.name)
    return names


_STUB_CELL = """\
# Inserted by the stub check: every exercise now raises, so nothing below may rest on them.
def _i2dl_stub(name):
    def stub(*args, **kwargs):
        raise RuntimeError(f"stub check: exercise {{name}} was replaced by a stub")
    return stub
for _i2dl_name in {names!r}:
    globals()[_i2dl_name] = _i2dl_stub(_i2dl_name)
"""


def stub_exercises(nb):
    """Copy of ``nb`` in which, after the last self-check cell, every function and class written
    in an exercise cell is replaced by a stub that raises.

    The course's rule is that a lab's headline model is the student's own code; executed,
    the stubbed notebook must therefore fail before it prints its headline.
    """
    import copy

    import nbformat

    names = exercise_names(nb)
    checks = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "self_check(" in c.source]
    if not names or not checks:
        raise ValueError("stub check needs exercise cells and at least one self_check(...) cell")
    out = copy.deepcopy(nb)
    out.cells.insert(checks[-1] + 1, nbformat.v4.new_code_cell(_STUB_CELL.format(names=names)))
    return out


# The thread pools a lab kernel may start: OpenMP (torch), OpenBLAS, MKL, BLIS, Accelerate.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@contextmanager
def kernel_threads(threads: int | None) -> Iterator[None]:
    """Start kernels inside this block with ``threads`` threads per BLAS/OpenMP pool.

    The labs' arrays are small: more threads than free cores only add contention (lab 06 ran
    7x slower on a loaded 2-core machine with default pools than pinned to one thread), and
    a fixed count keeps a lab's floating-point sums, and so its printed numbers, the same from
    run to run. ``None`` leaves the environment as it is.
    """
    if threads is None:
        yield
        return
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_lab(lab: Lab, out_dir: str | os.PathLike = "build/labs", parameters: dict | None = None,
            kernel_name: str = "python3", timeout: float | None = 600, stub: bool = False,
            threads: int | None = 1) -> LabResult:
    """Execute one lab with papermill into ``out_dir``; never raises for a failing lab.

    With ``stub=True`` the lab runs with its exercises stubbed out after the last self-check
    (:func:`stub_exercises`). The kernel's BLAS and OpenMP pools get ``threads`` threads each
    (:func:`kernel_threads`; ``None``: whatever the environment says).
    """
    import nbformat
    import papermill as pm
    from jupyter_client.manager import KernelManager

    out = Path(out_dir) / lab.path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    source = str(lab.path)
    if stub:
        stubbed = stub_exercises(nbformat.read(lab.path, as_version=4))
        source = str(out.with_suffix(".stub-input.ipynb"))
        nbformat.write(stubbed, source)
    # Kernels inherit the environment: plain progress lines instead of redrawn bars.
    os.environ.setdefault("I2DL_PLAIN_PROGRESS", "1")
    start = time.perf_counter()
    # Unix-socket (ipc) transport in a private folder: TCP kernels pick free ports, release
    # them and bind later, so two runs starting kernels at once can swap ports and hang
    # waiting for replies that went to the other kernel.
    with tempfile.TemporaryDirectory(prefix="i2dl-kernel-") as sockets, kernel_threads(threads):
        km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(sockets, "k"))
        try:
            nb = pm.execute_notebook(
                source, str(out), parameters=parameters or {}, kernel_name=kernel_name, km=km,
                progress_bar=False, cwd=str(lab.path.parent), execution_timeout=timeout, log_output=False,
            )
        except pm.PapermillExecutionError as exc:
            seconds = time.perf_counter() - start
            return LabResult(lab, "failed", seconds, out, error=f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
        except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the course run
            seconds = time.perf_counter() - start
            return LabResult(lab, "failed", seconds, out, error=f"{type(exc).__name__}: {exc}")
        finally:
            # nbclient leaves a kernel it was handed running: shut it down before its sockets go.
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    return LabResult(lab, "ok", seconds, out, headlines=find_headlines(_output_text(nb)))


def headlines_of(path: str | os.PathLike) -> list[Headline]:
    """The headlines printed in an executed notebook (also one that stopped with an error)."""
    import nbformat

    return find_headlines(_output_text(nbformat.read(path, as_version=4)))


def run_labs(labs: Sequence[Lab], out_dir: str | os.PathLike = "build/labs", parameters: dict | None = None,
             kernel_name: str = "python3", timeout: float | None = 600, echo=print,
             threads: int | None = 1) -> list[LabResult]:
    """Run ``labs`` one after another; ``echo`` gets a line as each one finishes.

    ``parameters`` are checked and typed for every lab first (:func:`lab_parameters`), so a
    misspelt name or a bad value stops the run before anything executes.
    """
    typed = {lab.name: lab_parameters(lab, parameters or {}) for lab in labs}  # every error before any run
    results = []
    for i, lab in enumerate(labs, 1):
        res = run_lab(lab, out_dir, typed[lab.name], kernel_name, timeout, threads=threads)
        results.append(res)
        if echo:
            detail = res.headline if res.ok else res.error
            echo(f"[{i}/{len(labs)}] {lab.name}: {res.status} in {res.seconds:.1f} s  {detail}".rstrip())
    return results


def format_summary(results: Sequence[LabResult]) -> str:
    """A plain-text table: lab, status, seconds, headline metric (or the error)."""
    rows = [("lab", "status", "seconds", "headline")]
    for r in results:
        rows.append((r.lab.name, r.status, f"{r.seconds:.1f}", (r.headline or "-") if r.ok else r.error[:100]))
    total = sum(r.seconds for r in results)
    failed = sum(not r.ok for r in results)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
        if j == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 8)
    lines.append(f"{len(results)} labs, {len(results) - failed} ok, {failed} failed, {total:.1f} s in all")
    return "\n".join(lines)
