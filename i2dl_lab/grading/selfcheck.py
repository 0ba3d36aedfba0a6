"""Self-checks students run inside a notebook: the grader's public half.

``self_check(lab, exercise, obj)`` does what the grader does, with the public inputs:

* the same static checks (:mod:`.codecheck`): the exercise cell must define the function
  itself, without importing, wrapping or aliasing the library's reference;
* the same code: in a notebook the function is rebuilt from what the grader runs, the
  exercise cells and the import lines they use, so a helper defined in some other cell
  fails here (with a message saying so) rather than at grading;
* the same rule at run time: a call into the library's reference (however it was reached,
  e.g. ``getattr(F, "relu_" + "forward")``) fails the case, as the grader's tripwire scores
  it zero. Here a profile hook only watches; the library is left as it is;
* the same comparisons, with outputs named as the reference names them (``db``, not
  ``output[2]``) and values printed as plain numbers.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field

from .notebook import Cell
from .spec import Exercise


class SelfCheckFailed(AssertionError):
    """Raised by :func:`self_check` when a public case fails (the cell shows red)."""


@dataclass
class SelfCheckResult:
    exercise: str
    passed: int
    total: int
    messages: list[str]
    not_implemented: bool = field(default=False)

    def __bool__(self) -> bool:
        return self.passed == self.total

    def __repr__(self) -> str:
        return f"SelfCheckResult({self.exercise!r}, passed={self.passed}/{self.total})"


def lab_spec(lab: str):
    """Import the spec module of ``lab`` ("3", "03" or "03_backprop")."""
    num = str(lab).split("_", 1)[0]
    if not num.isdigit():
        raise ValueError(f"lab must be a lab number such as '03', got {lab!r}")
    name = f"i2dl_lab.grading.specs.lab{int(num):02d}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise ValueError(f"lab {lab!r} has no grading spec ({name})") from exc
        raise


def get_exercise(lab: str, exercise_id: str) -> Exercise:
    spec = lab_spec(lab)
    for ex in spec.EXERCISES:
        if ex.id == exercise_id:
            return ex
    known = ", ".join(e.id for e in spec.EXERCISES)
    raise ValueError(f"lab {lab} has no exercise {exercise_id!r}; its exercises are: {known}")


#: the latest result of each ``(lab, exercise)`` in this process (the notebook's status cell reads it)
LAST_RESULTS: dict[tuple[str, str], SelfCheckResult] = {}


def _function_tree(fn) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _returns(fn: ast.FunctionDef) -> list[ast.expr | None]:
    """The values of the ``return`` statements of ``fn`` itself (not of nested functions)."""
    found, stack = [], list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return):
            found.append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return found


def output_names(ex: Exercise) -> tuple[str, ...]:
    """Names of the outputs: the spec's ``outputs``, else the names in the reference's
    ``return dx, dw, db`` (when every return names the same variables, and the driver, if any,
    returns the function's result unchanged)."""
    if getattr(ex, "outputs", ()):
        return tuple(ex.outputs)
    if ex.driver is not None:
        drv = _function_tree(ex.driver)
        if drv is None or not drv.args.args:
            return ()
        first = drv.args.args[0].arg
        if not all(isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == first
                   for v in _returns(drv)):
            return ()
    fn = _function_tree(ex.reference)
    if fn is None:
        return ()
    found = set()
    for v in _returns(fn):
        if not (isinstance(v, ast.Tuple) and all(isinstance(e, ast.Name) for e in v.elts)):
            return ()
        found.add(tuple(e.id for e in v.elts))
    return found.pop() if len(found) == 1 else ()


def _name_outputs(message: str, names: tuple[str, ...]) -> str:
    def sub(m):
        i = int(m.group(1))
        return names[i] if i < len(names) else m.group(0)

    return re.sub(r"^output\[(\d+)\]", sub, message) if names else message


def _history() -> list[str] | None:
    """The cells run so far in this IPython kernel (raw text), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    if ip is None or not hasattr(ip, "history_manager"):
        return None
    return list(ip.history_manager.input_hist_raw)


def grader_view(lab: str, ex: Exercise, obj):
    """``(object, problem)``: ``obj`` as the grader would build it, or why it would score zero.

    In a notebook the kernel's cell history stands in for the notebook: the latest cell that
    defines each exercise's function is its exercise cell. Outside IPython only the static
    check of ``obj``'s own source runs, and ``obj`` is used as given.
    """
    from .codecheck import _lib_aliases, check_cell, plan

    exercises = lab_spec(lab).EXERCISES
    history = _history()
    if history is None:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        except (OSError, TypeError, SyntaxError):
            return obj, None
        graded = {e.function for e in exercises}
        mods, objs = _lib_aliases([tree])
        for name, value in getattr(obj, "__globals__", {}).items():  # what the function's module imported
            module = getattr(value, "__name__", "") if inspect.ismodule(value) else getattr(value, "__module__", "")
            if isinstance(module, str) and module.split(".")[0] == "i2dl_lab":
                if inspect.ismodule(value):
                    mods.add(name)
                else:
                    objs[name] = getattr(value, "__name__", name)
        return obj, check_cell(tree, graded, mods, objs)
    cells = [Cell(i, "code", src, {}) for i, src in enumerate(history)]  # plan() wants index == position
    for e in exercises:
        for c in reversed(cells):
            try:
                tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                           for ln in c.source.split("\n")))
            except SyntaxError:
                continue
            if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == e.function
                   for n in tree.body):
                c.metadata = {"i2dl": {"exercise": e.id}}
                break
    if not any(c.metadata for c in cells):
        return obj, None  # the function was not written in this kernel (passed in from elsewhere)
    p = plan(cells, exercises)
    if ex.id in p.zero:
        return None, p.zero[ex.id]
    namespace: dict = {"__name__": "__i2dl_self_check__"}
    for unit in p.units:
        try:
            exec(compile(unit["source"], f"<cell {unit['cell']}>", "exec"), namespace)  # noqa: S102
        except NotImplementedError:
            continue  # an exercise cell with top-level work left to do
        except Exception as exc:  # noqa: BLE001 - the grader would record this; so do we
            if unit["kind"] == "exercise" and unit["ex"] != ex.id:
                continue  # another exercise's problem, reported by its own self-check
            return None, (f"running the cell as the grader does (only exercise cells and their import lines) "
                          f"raised {type(exc).__name__}: {exc}")
    if ex.function not in namespace:
        return None, f"`{ex.function}` is not defined by the exercise cell"
    return namespace[ex.function], None


_REFERENCE_CODE: dict[str, dict] = {}


def _reference_code(lab: str) -> dict:
    """``code object -> name`` of what the lab's graded code may not call (computed once per lab)."""
    from .sandbox.references import reference_code

    spec = lab_spec(lab)
    if spec.__name__ not in _REFERENCE_CODE:
        _REFERENCE_CODE[spec.__name__] = reference_code(spec)
    return _REFERENCE_CODE[spec.__name__]


@contextlib.contextmanager
def _calls_into(codes: dict):
    """Yield a list that fills with the names of ``codes``' functions called inside the block
    (those called from outside them: what the reference calls in turn is not news)."""
    seen: list[str] = []
    previous = sys.getprofile()

    def hook(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in seen \
                and (frame.f_back is None or frame.f_back.f_code not in codes):
            seen.append(codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(hook)
    try:
        yield seen
    finally:
        sys.setprofile(previous)


def self_check(lab: str, exercise_id: str, obj, *, raise_on_fail: bool = True, verbose: bool = True) -> SelfCheckResult:
    """Run the public cases of one exercise against ``obj`` and print what happened.

    Only the public cases run here. The hidden cases, drawn with different inputs, run at
    grading time, so passing here is necessary but not sufficient.

    Raises:
        SelfCheckFailed: when a case fails and ``raise_on_fail`` (the default).
    """
    ex = get_exercise(lab, exercise_id)
    cases = ex.public_cases()
    names = output_names(ex)
    messages: list[str] = []
    passed = 0
    not_implemented = False
    graded, problem = grader_view(lab, ex, obj)
    if problem:
        messages.append(f"the grader would score this exercise 0: {problem}")
    watched = _reference_code(lab) if not problem else {}
    for i, args in enumerate(cases if not problem else [], 1):
        expected = ex.run(ex.reference, args)
        try:
            with _calls_into(watched) as called:
                got = ex.run(graded, args)
        except NotImplementedError:
            not_implemented = True
            messages.append(f"case {i}: not implemented yet (the cell still raises NotImplementedError)")
            continue
        except NameError as exc:
            messages.append(f"case {i}: raised NameError: {exc}. At grading only the exercise cells and their "
                            "import lines run: define what the function uses in its exercise cell")
            continue
        except Exception as exc:  # noqa: BLE001 - report the student's error, do not crash the check
            messages.append(f"case {i}: raised {type(exc).__name__}: {exc}")
            continue
        if called:
            used = ", ".join(f"`{name}`" for name in called)
            messages.append(f"case {i}: FAILED - it calls the library's {used}; the grader scores an exercise "
                            "that does 0: compute the result in your own code")
            continue
        ok, msg = ex.check(expected, got)
        passed += ok
        messages.append(f"case {i}: {'passed' if ok else 'FAILED'} - {_name_outputs(msg, names)}")
    result = SelfCheckResult(exercise_id, passed, len(cases), messages, not_implemented)
    LAST_RESULTS[(f"{int(str(lab).split('_', 1)[0]):02d}", exercise_id)] = result
    if verbose:
        title = ex.title or ex.id
        print(f"Self-check '{title}': {passed}/{len(cases)} public cases passed.")
        for m in messages:
            print("  " + m)
        print("  Hidden tests with other inputs run at grading time; they are not part of this check.")
    if raise_on_fail and not result:
        raise SelfCheckFailed(f"{exercise_id}: {len(cases) - passed} of {len(cases)} public cases failed (see above)")
    return result
