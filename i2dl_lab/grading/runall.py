"""Run All in a released notebook goes on past unfinished exercises and failing self-checks.

A released notebook starts with ``%load_ext i2dl_lab.grading.runall`` (the release transform
adds that cell). From then on every cell runs inside a guard that catches three things and
reports them in one plain line instead of stopping the notebook:

* ``NotImplementedError``: the cell needs an exercise that still says ``raise
  NotImplementedError()``; the line names the function (``needs `adam`, not written yet``);
* :class:`~i2dl_lab.grading.selfcheck.SelfCheckFailed`: the self-check printed what failed;
* any error in a cell that uses a name a skipped cell assigns (``test_acc``, or ``models``
  left half-filled): the line names it instead of a cascade of ``NameError``/``KeyError``,
  and what this cell assigns counts as unfinished in turn.

Any other error is the student's and stops Run All as usual. A cell's last expression is
still displayed (figures, sliders). :func:`notebook_status` (the release's last cell) lists
the exercises and whether their self-checks pass, and checks the quiz answers' format.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_GUARD = """\
try:
    pass
except Exception as _i2dl_exc:
    if not __import__("i2dl_lab.grading.runall", fromlist=["x"]).STATE.handle(_i2dl_exc, ASSIGNED, USED):
        raise
else:
    __import__("i2dl_lab.grading.runall", fromlist=["x"]).STATE.tainted.difference_update(ASSIGNED)
"""
_SHOW = '__import__("i2dl_lab.grading.runall", fromlist=["x"]).STATE.pop_value()'


@dataclass
class RunAllState:
    """What the guard has seen in this kernel: unfinished functions and skipped cells."""

    unfinished: list[str] = field(default_factory=list)
    skipped: int = 0
    tainted: set[str] = field(default_factory=set)  # names that skipped cells assign
    value: object = None

    def handle(self, exc: BaseException, assigned=(), used=()) -> bool:
        """Report ``exc`` if it is one the guard handles; False means re-raise it.

        Args:
            exc: what the cell raised.
            assigned: names the cell assigns at top level (unfinished if it is skipped).
            used: names the cell reads.
        """
        from .selfcheck import SelfCheckFailed

        if isinstance(exc, SelfCheckFailed):
            self.skipped += 1
            self.tainted.update(assigned)  # the rest of the cell did not run
            print(f"Self-check failed ({exc}); the rest of this cell is skipped and Run All goes on.")
            return True
        if isinstance(exc, NotImplementedError):
            name = _raising_function(exc)
            if name not in self.unfinished:
                self.unfinished.append(name)
            self.skipped += 1
            self.tainted.update(assigned)
            print(f"Skipped the rest of this cell: it needs `{name}`, which is not written yet (its exercise cell "
                  "still raises NotImplementedError). Write it, run its cell and its self-check, then this cell.")
            return True
        needs = sorted(self.tainted.intersection(used))
        if needs:
            waiting = ", ".join(f"`{n}`" for n in self.unfinished) or "an exercise"
            self.skipped += 1
            self.tainted.update(assigned)
            print(f"Skipped this cell: it uses {', '.join(f'`{n}`' for n in needs)}, which a skipped cell above "
                  f"did not finish (unfinished: {waiting}; here it raised {type(exc).__name__}: {exc}).")
            return True
        return False

    def pop_value(self):
        value, self.value = self.value, None
        return value


STATE = RunAllState()


def _raising_function(exc: BaseException) -> str:
    """``qualname`` of the innermost function that raised ``exc`` (``TwoLayerNet.forward``)."""
    tb, name = exc.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name != "<module>":
            name = getattr(code, "co_qualname", code.co_name)
        tb = tb.tb_next
    return name or "an exercise"


class GuardCells(ast.NodeTransformer):
    """Wrap a cell's statements in the guard; keep its last expression as the displayed value."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        body = list(node.body)
        if not body or any(isinstance(s, ast.ImportFrom) and s.module == "__future__" for s in body):
            return node
        original = {id(n) for stmt in body for n in ast.walk(stmt)}
        first, end = body[0].lineno, max(getattr(s, "end_lineno", s.lineno) or s.lineno for s in body)
        last = body[-1]
        show = isinstance(last, ast.Expr)
        if show:
            target = ast.Attribute(value=_state_expr(), attr="value", ctx=ast.Store())
            body[-1] = ast.Assign(targets=[target], value=last.value)
        assigned, used = _names(body)
        guard = ast.parse(_GUARD.replace("ASSIGNED", repr(assigned)).replace("USED", repr(used))).body[0]
        guard.body = body
        new = [guard]
        if show:
            new.append(ast.Expr(value=ast.parse(_SHOW, mode="eval").body))
        node.body = new
        # what the guard adds sits on the cell's last line, so tracebacks keep the cell's line numbers
        for n in ast.walk(node):
            if id(n) in original or not hasattr(n, "lineno") and not isinstance(n, ast.stmt | ast.expr):
                continue
            if isinstance(n, (ast.stmt, ast.expr, ast.excepthandler)):
                n.lineno, n.end_lineno = (first, end) if n is guard else (end, end)
                n.col_offset, n.end_col_offset = 0, 0
        return node


def _names(body: list[ast.stmt]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names a cell assigns at top level (not inside its functions) and names it reads anywhere."""
    assigned, used = set(), set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            assigned.add(node.name)
            used.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assigned.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        if isinstance(node, ast.Name):
            (assigned if isinstance(node.ctx, ast.Store) else used).add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return tuple(sorted(assigned)), tuple(sorted(used))


def _state_expr() -> ast.expr:
    return ast.parse('__import__("i2dl_lab.grading.runall", fromlist=["x"]).STATE', mode="eval").body


def load_ipython_extension(ipython) -> None:
    """``%load_ext i2dl_lab.grading.runall``: guard every later cell of this kernel (once)."""
    if not any(isinstance(t, GuardCells) for t in ipython.ast_transformers):
        ipython.ast_transformers.append(GuardCells())


def unload_ipython_extension(ipython) -> None:
    ipython.ast_transformers[:] = [t for t in ipython.ast_transformers if not isinstance(t, GuardCells)]


def notebook_status(lab: str, answers: dict | None = None, form: dict | None = None) -> None:
    """Print where the lab stands (the last cell of a released notebook); see :func:`lab_status`."""
    lab_status(lab, answers, form, echo=print)


def lab_status(lab: str, answers: dict | None = None, form: dict | None = None, echo=None) -> dict:
    """Where the lab stands: each exercise's self-check, skipped cells, the quiz's format.

    Args:
        lab: the lab number ("04").
        answers: the notebook's ``ANSWERS`` dict (None: no quiz).
        form: ``{question: "tf" | "mc"}`` of the quiz (the release writes it in).
    Returns:
        ``{"exercises": {id: state}, "unfinished": [...], "quiz_problems": [...]}``; with
        ``echo`` (e.g. ``print``) also the lines a student reads.
    """
    def print(*args):  # noqa: A001 - the report goes to echo
        if echo is not None:
            echo(*args)

    from .quiz import validate_answers
    from .selfcheck import LAST_RESULTS, lab_spec

    spec = lab_spec(lab)
    states = {}
    print(f"Lab {lab}: where you stand")
    for ex in spec.EXERCISES:
        res = LAST_RESULTS.get((f"{int(lab):02d}", ex.id))
        if res is None:
            state = "self-check not run"
        elif res.not_implemented or ex.function in STATE.unfinished:
            state = "not written yet"
        elif res:
            state = f"self-check passed ({res.passed}/{res.total} public cases)"
        else:
            state = f"self-check FAILED ({res.passed}/{res.total} public cases)"
        states[ex.id] = state
        print(f"  exercise {ex.id:<24} {state}")
    todo = [i for i, s in states.items() if not s.startswith("self-check passed")]
    if todo:
        print(f"  unfinished exercises: {', '.join(todo)}")
    else:
        print("  every exercise passes its public self-check (hidden cases run at grading)")
    if STATE.skipped:
        print(f"  {STATE.skipped} cell(s) were skipped because they need an unfinished exercise")
    problems: list[str] = []
    if answers is not None:
        problems = validate_answers(answers, form)
        answered = sum(v not in (None, "") for v in answers.values()) if isinstance(answers, dict) else 0
        if problems:
            print("  quiz: these answers cannot be graded as written:")
            for p in problems:
                print(f"    - {p}")
        else:
            print(f"  quiz: {answered} of {len(form or answers)} questions answered; the format is fine")
    return {"exercises": states, "unfinished": todo, "quiz_problems": problems}
