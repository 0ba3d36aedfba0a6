"""Static checks on a submission's code, done in the grader without running anything.

The grader runs only the exercise cells (``metadata.i2dl.exercise``) and the import lines
they need. Before that, each exercise cell is parsed and checked:

* it must define the graded function or class at top level (``def``/``class``);
* it may not use the library's reference for a graded name: importing it from
  ``i2dl_lab``, reaching it as an attribute of an ``i2dl_lab`` module (``F.affine_forward``),
  or aliasing it (``affine_forward = F.affine_forward``);
* it may not use dynamic imports or evaluation (``__import__``, ``importlib``, ``exec``,
  ``eval``, ``compile``, ``sys.modules``, strings naming ``i2dl_lab``), which would hide
  such a use from this check.

* a NumPy-only exercise (every backward pass, see ``Exercise.numpy_only``) may not import or
  name torch: torch's autograd would compute the backward pass the student is asked to
  derive, so such an exercise scores zero.

A violation scores zero for that exercise with a message saying which line did what. The
child adds run-time guards for what static checks cannot see (see :mod:`.sandbox.execute`).

Cost: every check is one pass over the cell's syntax tree, and only cells that can matter
are parsed (exercise cells, cells with import lines, cells that define a graded name). A
code cell larger than :data:`MAX_CELL_BYTES` is never parsed: as an exercise cell it scores
zero, elsewhere it is ignored. A 20 MB notebook (the size limit) is planned in seconds.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .notebook import Cell

LIBRARY = "i2dl_lab"
_DYNAMIC_NAMES = {"__import__", "importlib", "exec", "eval", "compile", "__builtins__", "__loader__"}
#: Largest code cell the grader parses (characters); exercise cells are a few kilobytes.
MAX_CELL_BYTES = 256 * 1024
_IMPORT_LINE = re.compile(r"^(?:import|from)\s[^\n]*", re.M)
_DEFINED = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.M)


@dataclass
class Plan:
    """What the child runs and what the static checks decided.

    ``units``: ``{"kind": "import"|"exercise", "ex": id or None, "cell": index, "source": str}``
    in notebook order. ``zero``: exercise id -> reason it scores zero without running.
    """

    units: list[dict] = field(default_factory=list)
    zero: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def _parse(src: str) -> ast.Module | None:
    if len(src) > MAX_CELL_BYTES:
        return None
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class _Trees(dict):
    """Cell index -> syntax tree (None when unparsable or too large), parsed on first use."""

    def __init__(self, code: list[Cell]):
        super().__init__()
        self.cells = {c.index: c for c in code}
        self._defined: dict[int, set[str]] = {}

    def defined(self, idx: int) -> set[str]:
        """Names a cell's lines define at column 0 (``def``/``class``), found without parsing it."""
        if idx not in self._defined:
            self._defined[idx] = set(_DEFINED.findall(self.cells[idx].source))
        return self._defined[idx]

    def __missing__(self, idx: int):
        tree = self[idx] = _parse(_strip_magics(self.cells[idx].source))
        return tree


def _strip_magics(src: str) -> str:
    """IPython magics/shell lines (``%matplotlib``, ``!pip``) are not Python; blank them."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))


def _defines(tree: ast.Module, name: str) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
               for n in tree.body)


def _is_lib(module: str | None) -> bool:
    return bool(module) and (module == LIBRARY or module.startswith(LIBRARY + "."))


def _bound_names(stmt) -> set[str]:
    out = set()
    for a in stmt.names:
        if a.name == "*":
            continue
        out.add(a.asname or (a.name.split(".")[0] if isinstance(stmt, ast.Import) else a.name))
    return out


_NODES: dict[int, tuple[ast.AST, list[ast.AST], set[str]]] = {}


def _walk(tree: ast.AST) -> tuple[list[ast.AST], set[str]]:
    """Every node of ``tree`` in ``ast.walk`` order, and the names it reads or binds.

    Cached per tree while it lives: plan() looks at an exercise cell's nodes four times
    (names used, library aliases, the cell's check, torch), and ``ast.walk`` is most of its cost.
    """
    hit = _NODES.get(id(tree))
    if hit is None or hit[0] is not tree:
        if len(_NODES) > 256:
            _NODES.clear()
        nodes, i = [tree], 0
        while i < len(nodes):  # breadth first, children in field order: ast.walk's order, without its generators
            node = nodes[i]
            i += 1
            for name in node._fields:
                v = getattr(node, name, None)
                if isinstance(v, ast.AST):
                    nodes.append(v)
                elif isinstance(v, list):
                    nodes += [x for x in v if isinstance(x, ast.AST)]
        hit = _NODES[id(tree)] = (tree, nodes, {n.id for n in nodes if isinstance(n, ast.Name)})
    return hit[1], hit[2]


def _used_names(tree: ast.AST) -> set[str]:
    """Names a tree reads or binds."""
    return _walk(tree)[1]


def _root(node) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _lib_aliases(trees) -> tuple[set[str], dict[str, str]]:
    """Names bound to i2dl_lab modules, and names bound to i2dl_lab objects (alias -> name)."""
    mods, objs = set(), {}
    for tree in trees:
        for n in _walk(tree)[0]:
            if isinstance(n, ast.Import):
                for a in n.names:
                    if _is_lib(a.name):
                        mods.add(a.asname or a.name.split(".")[0])
            elif isinstance(n, ast.ImportFrom) and _is_lib(n.module):
                for a in n.names:
                    objs[a.asname or a.name] = a.name
    return mods, objs


def check_cell(tree: ast.Module, graded: set[str], mods: set[str], objs: dict[str, str],
               torch_allowed: bool = True) -> str | None:
    """Why this exercise cell may not be graded, or None. ``graded``: every graded name of the lab.

    One pass over the tree: the cost grows with the cell's size only.
    """
    local = _local_defs(tree)
    for n in _walk(tree)[0]:
        line = getattr(n, "lineno", "?")
        if isinstance(n, ast.ImportFrom) and _is_lib(n.module):
            for a in n.names:
                if a.name == "*":
                    return f"line {line}: `from {n.module} import *` may bring in the library's reference code"
                if a.name in graded:
                    return (f"line {line}: imports the library's reference `{a.name}` from {n.module}; "
                            "graded functions must be your own code")
        if isinstance(n, ast.Attribute) and n.attr in graded and (_root(n) in mods or _root(n) in objs):
            return (f"line {line}: uses the library's reference `{ast.unparse(n)}`; graded functions must be "
                    "your own code")
        if isinstance(n, ast.Name) and n.id in objs and objs[n.id] in graded and n.id not in local:
            return f"line {line}: uses the library's reference `{objs[n.id]}` (imported as `{n.id}`)"
        if isinstance(n, ast.Name) and n.id in _DYNAMIC_NAMES:
            return (f"line {line}: uses `{n.id}`; exercise cells may not import or evaluate code dynamically "
                    "(the grader cannot check such code)")
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in n.names] + [n.module or ""] if isinstance(n, ast.ImportFrom) else \
                [a.name for a in n.names]
            if any(x.split(".")[0] in ("importlib", "builtins") for x in names):
                return f"line {line}: imports importlib/builtins; exercise cells may not import code dynamically"
            if not torch_allowed and any(x.split(".")[0] == "torch" for x in names):
                return (f"line {line}: imports torch; this exercise is NumPy only: torch's autograd would do the "
                        "work it asks for")
        if isinstance(n, ast.Attribute) and n.attr == "modules" and _root(n) == "sys":
            return f"line {line}: uses `sys.modules`; exercise cells may not reach modules dynamically"
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and LIBRARY in n.value:
            return f"line {line}: names `{LIBRARY}` in a string; exercise cells may not load the library dynamically"
    return None


def _local_defs(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _exercise_cells(out: Plan, code: list[Cell], trees: dict, exercises) -> dict[int, str]:
    """Which cell(s) define each exercise (cell index -> exercise id); fills ``out.zero`` and notes."""
    by_id: dict[str, list[Cell]] = {}
    for c in code:
        if c.exercise is not None:
            by_id.setdefault(c.exercise, []).append(c)
    known = {ex.id for ex in exercises}
    for ex_id in sorted(set(by_id) - known):
        out.general.append(f"cell(s) {', '.join(str(c.index) for c in by_id[ex_id])} carry unknown exercise id "
                           f"{ex_id!r}; not graded")
    ex_cells: dict[int, str] = {}
    for ex in exercises:
        cs = _cells_of(out, ex, by_id.get(ex.id, []), code, trees)
        for c in cs:
            ex_cells.setdefault(c.index, ex.id)
    return ex_cells


def _cells_of(out: Plan, ex, cs: list[Cell], code: list[Cell], trees: dict) -> list[Cell]:
    """The cells graded for ``ex`` (none if it scores zero statically)."""
    notes = out.notes.setdefault(ex.id, [])
    if not cs:
        cand = [c for c in code if ex.function in trees.defined(c.index) and trees[c.index] is not None
                and _defines(trees[c.index], ex.function)]
        if not cand:
            out.zero[ex.id] = (f"no exercise cell for '{ex.id}': expected a code cell that defines "
                               f"`{ex.function}` (was the cell deleted?)")
            return []
        cs = cand[-1:]
        notes.append(f"no cell carries the exercise id '{ex.id}' in its metadata (re-created or edited cell?); "
                     f"graded cell {cs[0].index}, which defines `{ex.function}`")
    elif len(cs) > 1:
        notes.append(f"{len(cs)} cells carry exercise id '{ex.id}' (cells {', '.join(str(c.index) for c in cs)}); "
                     "all run in order, so the last definition counts, as when running the notebook")
    big = [c for c in cs if len(c.source) > MAX_CELL_BYTES]
    if big:
        out.zero[ex.id] = (f"the exercise cell {big[0].index} holds {len(big[0].source)} characters; the grader "
                           f"reads exercise cells of at most {MAX_CELL_BYTES}")
        return []
    bad = [c for c in cs if trees[c.index] is None]
    if bad:
        out.zero[ex.id] = f"the exercise cell {bad[0].index} has a syntax error ({_syntax_error(bad[0].source)})"
        return []
    if not any(_defines(trees[c.index], ex.function) for c in cs):
        out.zero[ex.id] = (f"the exercise cell must define `{ex.function}` at top level with `def` or `class`; "
                           "it does not")
        return []
    return cs


def _syntax_error(source: str) -> str:
    try:
        ast.parse(_strip_magics(source))
        return "the cell could not be parsed"
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return type(exc).__name__


def _top_level_imports(source: str) -> ast.Module | None:
    """The top-level import statements of a cell, parsed alone (the rest of the cell is never parsed).

    A top-level ``import``/``from`` starts at column 0; a parenthesised or backslash-continued
    one runs on until its bracket closes. Cost: one regular-expression scan of the cell.
    """
    picked = []
    for m in _IMPORT_LINE.finditer(source):
        end = m.end()
        if source.count("(", m.start(), end) > source.count(")", m.start(), end):
            close = source.find(")", end)
            end = len(source) if close < 0 else source.find("\n", close) % (len(source) + 1)
        while source[:end].endswith("\\"):
            nxt = source.find("\n", end + 1)
            end = len(source) if nxt < 0 else nxt
        picked.append(source[m.start():end])
    return _parse("\n".join(picked)) if picked else None


def _import_units(code: list[Cell], trees: dict, ex_cells: dict, graded: set[str]) -> list[dict]:
    """The import lines of other cells that the exercise cells use (never one of a graded name)."""
    ex_trees = [trees[i] for i in ex_cells]
    used = set().union(*(_used_names(t) for t in ex_trees)) if ex_trees else set()
    units = []
    for c in code:
        if c.index in ex_cells:
            continue
        tree = _top_level_imports(c.source)
        for stmt in tree.body if tree is not None else []:
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(stmt, ast.ImportFrom) and _is_lib(stmt.module) and any(
                    a.name == "*" or a.name in graded for a in stmt.names):
                continue  # would put the reference over the student's definition
            if isinstance(stmt, ast.ImportFrom) and stmt.level:
                continue  # relative imports mean nothing outside a package
            if _bound_names(stmt) & used:
                units.append({"kind": "import", "ex": None, "cell": c.index, "source": ast.unparse(stmt)})
    return units


def _torch_names(units: list[dict]) -> set[str]:
    """Names that import lines of other cells bind to torch or a part of it."""
    out = set()
    for u in units:
        stmt = ast.parse(u["source"]).body[0]
        if isinstance(stmt, ast.ImportFrom):
            if (stmt.module or "").split(".")[0] == "torch":
                out |= _bound_names(stmt)
            continue
        out |= {a.asname or a.name.split(".")[0] for a in stmt.names if a.name.split(".")[0] == "torch"}
    return out


def _uses(tree: ast.Module, names: set[str]) -> str | None:
    for n in _walk(tree)[0]:
        name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None
        if name in names:
            return (f"line {n.lineno}: uses torch (`{name}`); this exercise is NumPy only: torch's autograd would "
                    "do the work it asks for")
    return None


def plan(cells: list[Cell], exercises) -> Plan:
    """Decide which code runs in the child and which exercises score zero statically."""
    out = Plan()
    code = [c for c in cells if c.cell_type == "code"]
    trees = _Trees(code)
    graded = {ex.function for ex in exercises}
    ex_cells = _exercise_cells(out, code, trees, exercises)
    import_units = _import_units(code, trees, ex_cells, graded)
    mods, objs = _lib_aliases([trees[i] for i in ex_cells] + [ast.parse(u["source"]) for u in import_units])
    torch_names = _torch_names(import_units) | {"torch"}
    numpy_only = {ex.id for ex in exercises if getattr(ex, "forbids_torch", False)}
    for idx, ex_id in list(ex_cells.items()):
        if ex_id in out.zero:
            continue
        why = check_cell(trees[idx], graded, mods, objs, ex_id not in numpy_only)
        if why is None and ex_id in numpy_only:
            why = _uses(trees[idx], torch_names)
        if why:
            out.zero[ex_id] = f"cell {idx}: {why}; scored 0"
    graded_cells = {i: e for i, e in ex_cells.items() if e not in out.zero}
    units = _import_units(code, trees, graded_cells, graded) + [
        {"kind": "exercise", "ex": e, "cell": i, "source": _strip_magics(cells[i].source)}
        for i, e in graded_cells.items()]
    out.units = sorted(units, key=lambda u: u["cell"])
    return out


def read_answers(cells: list[Cell]) -> tuple[dict, list[str]]:
    """The quiz answers: ``ANSWERS = {...}`` dict literals in quiz cells, read with literal_eval."""
    notes: list[str] = []
    quiz = [c for c in cells if c.cell_type == "code" and c.is_quiz]
    if not quiz:
        quiz = [c for c in cells if c.cell_type == "code" and "ANSWERS" in c.source]
    answers: dict = {}
    for c in quiz:
        if len(c.source) > MAX_CELL_BYTES:
            notes.append(f"the quiz cell {c.index} is larger than {MAX_CELL_BYTES} characters; its answers count "
                         "as blank")
            continue
        tree = _parse(_strip_magics(c.source))
        if tree is None:
            notes.append(f"the quiz cell {c.index} has a syntax error; its answers count as blank")
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS"
                                                    for t in stmt.targets):
                try:
                    val = ast.literal_eval(stmt.value)
                except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                    notes.append(f"the quiz cell {c.index}: ANSWERS is not a plain dict literal; counted as blank")
                    continue
                if isinstance(val, dict):
                    answers.update(val)
    return answers, notes
