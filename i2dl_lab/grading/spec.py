"""How a lab declares what is graded: the contract between lab notebooks and the grader.

A lab ``NN`` has a spec module ``i2dl_lab.grading.specs.labNN`` that defines

``EXERCISES``
    a list of :class:`Exercise`. Each names the function (or class) the student's exercise
    cell must define, the reference implementation, and a function that draws test inputs
    from a random generator. Self-checks draw them with the public seed; the grader draws
    them with a generator seeded from the instructor's secret and the submission, so the
    hidden inputs are unknown to students even though this file ships with the package.

In the **solution notebook**:

* an exercise cell carries the metadata ``{"i2dl": {"exercise": "<id>"}}`` and wraps the
  solution in ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (release turns that block into
  ``# YOUR CODE HERE`` and ``raise NotImplementedError()``);
* the self-check cell after it calls ``self_check("NN", "<id>", <function>)``;
* the quiz cell carries ``{"i2dl": {"quiz": true}}`` and holds one dict literal
  ``ANSWERS = {"q1": True, "q2": "AC", ...}``: ``True``/``False`` for a true/false question,
  a string of option letters for a multiple-choice one. Release blanks every value
  (``None`` / ``""``). The grader reads both notebooks' dicts with ``ast.literal_eval``;
  it never executes them.

Everything the child process returns must be plain data (ndarrays, numbers, strings,
tuples/lists/dicts of those), so references and drivers return plain data too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..gradcheck import rel_error

#: Seed of the inputs that self-checks use (public by design).
PUBLIC_SEED = 20261123


@dataclass(frozen=True)
class Exercise:
    """One graded function of a lab.

    Args:
        id: the exercise id written in the exercise cell's metadata.
        function: name of the function or class the cell must define.
        points: points for the exercise, shared equally by its test cases.
        reference: the trusted implementation, called like the student's.
        cases: ``cases(rng) -> list of argument tuples``; fixed edge cases may ignore ``rng``.
        driver: ``driver(obj, *args) -> plain data``; how to exercise the student's object
            (default: ``obj(*args)``). Must be a module-level function so the sandboxed
            child can import it by name. The grader calls it on the reference too.
        compare: ``compare(expected, got) -> (ok, message)``; default :func:`allclose`.
        title: a short human title for feedback reports.
        outputs: names of the outputs when the exercise returns a tuple (``("dx", "dw", "db")``),
            used in messages instead of ``output[2]``; when empty the self-check reads them
            from the reference's ``return dx, dw, db``.
        numpy_only: the graded code may not use torch. ``None`` (the default) decides by the
            name: a backward pass (``*backward*``, ``*bptt*``) is derived by hand in NumPy, and
            torch's autograd would do that work, so a backward exercise that imports or names
            torch scores zero. Set ``True`` for other NumPy exercises, ``False`` to allow torch.
    """

    id: str
    function: str
    points: float
    reference: Callable[..., Any]
    cases: Callable[[np.random.Generator], Sequence[tuple]]
    driver: Callable[..., Any] | None = None
    compare: Callable[[Any, Any], tuple[bool, str]] | None = None
    title: str = ""
    outputs: tuple[str, ...] = ()
    numpy_only: bool | None = None

    @property
    def forbids_torch(self) -> bool:
        if self.numpy_only is not None:
            return self.numpy_only
        name = self.function.lower()
        return "backward" in name or "bptt" in name

    def run(self, obj, args: tuple):
        """Call ``obj`` on one case the way the grader does."""
        return self.driver(obj, *args) if self.driver is not None else obj(*args)

    def check(self, expected, got) -> tuple[bool, str]:
        return (self.compare or _DEFAULT_COMPARE)(expected, got)

    def public_cases(self) -> list[tuple]:
        return list(self.cases(np.random.default_rng(PUBLIC_SEED)))


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}, dtype {x.dtype}"
    if isinstance(x, np.generic):
        x = x.item()  # 1.5, not np.float64(1.5)
    return f"{type(x).__name__} {x!r}"[:120]


def plain(value):
    """Tensors, arrays, numbers and tuples/lists of them as NumPy float64 arrays (nested tuples).

    What drivers of torch exercises return: plain data the child can send back, the same
    whatever device or float dtype the student's code used.

    >>> plain((1, [2.5, 3]))
    (array(1.), (array(2.5), array(3.)))
    """
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class allclose:  # noqa: N801 - reads like numpy's function at the call site
    """Compare numbers, arrays and (nested) tuples/lists/dicts of them.

    A case passes when shapes agree, ``got`` is finite where ``expected`` is, and
    ``|got - expected| <= atol + rtol * |expected|`` everywhere.
    """

    rtol: float = 1e-6
    atol: float = 1e-8
    path: str = field(default="output", compare=False)

    def __call__(self, expected, got) -> tuple[bool, str]:
        return _compare(expected, got, self.rtol, self.atol, self.path)


_DEFAULT_COMPARE = allclose()


def _compare(expected, got, rtol, atol, path) -> tuple[bool, str]:
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return False, f"{path}: expected a dict with keys {sorted(expected)}, got {_describe(got)}"
        for k in expected:
            ok, msg = _compare(expected[k], got[k], rtol, atol, f"{path}[{k!r}]")
            if not ok:
                return ok, msg
        return True, f"{path}: ok"
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(expected)
            return False, f"{path}: expected a tuple of {n} values, got {_describe(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            ok, msg = _compare(e, g, rtol, atol, f"{path}[{i}]")
            if not ok:
                return ok, msg
        return True, f"{path}: ok"
    if isinstance(expected, str):
        ok = isinstance(got, str) and got == expected
        return ok, f"{path}: expected {expected!r}, got {got!r}" if not ok else f"{path}: ok"
    e = np.asarray(expected)
    if isinstance(got, (str, bytes, dict)) or got is None:
        return False, f"{path}: expected {_describe(e)}, got {_describe(got)}"
    try:
        g = np.asarray(got)
    except Exception:  # noqa: BLE001 - anything that is not array-like is a wrong answer
        return False, f"{path}: expected {_describe(e)}, got {type(got).__name__}"
    if g.dtype == object or not (np.issubdtype(g.dtype, np.number) or g.dtype == np.bool_):
        return False, f"{path}: expected numbers, got {_describe(got)}"
    if g.shape != e.shape:
        return False, f"{path}: expected shape {e.shape}, got shape {g.shape}"
    ef = e.astype(np.float64)
    gf = g.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(gf - ef)
        within = diff <= atol + rtol * np.abs(ef)
    if ef.size and within.all() and np.isfinite(ef).all():
        # the common case in a few ufuncs: every expected value finite and every value within
        # tolerance, so every value of both is finite (a NaN or an infinity in got fails the test
        # above); the same error as rel_error gives
        err = float(np.max(diff / np.maximum(1e-8, np.abs(ef) + np.abs(gf))))
        return True, f"{path}: ok (relative error {err:.1e})"
    finite = np.isfinite(ef)
    bad = ~np.isfinite(gf) & finite
    if bad.any():
        return False, f"{path}: got {int(bad.sum())} NaN/inf value(s) where finite numbers were expected"
    # np.isclose(gf, ef, rtol, atol, equal_nan=True) in plain ufuncs (its wrapper costs more than the maths
    # on small outputs): where both are finite, within tolerance; elsewhere equal (an infinity of the same
    # sign) or both NaN
    close = np.where(finite & np.isfinite(gf), within, (gf == ef) | (np.isnan(gf) & np.isnan(ef)))
    err = rel_error(ef[finite], gf[finite]) if finite.any() else 0.0
    if not close.all():
        idx = np.unravel_index(int(np.argmin(close)), close.shape) if close.ndim else ()
        return False, (
            f"{path}: values differ (relative error {err:.2e}); at index {tuple(int(i) for i in idx)} "
            f"expected {float(ef[idx])!r}, got {float(gf[idx])!r}"
        )
    return True, f"{path}: ok (relative error {err:.1e})"


@dataclass(frozen=True)
class Quiz:
    """Scoring rules of the seeds' exams.

    True/false: +2 right, -1 wrong, 0 blank. Multiple choice: 4 points, minus 2 per wrong
    selection (a chosen wrong option or a missed right one), never below 0; blank is 0.
    """

    tf_right: float = 2.0
    tf_wrong: float = -1.0
    mc_full: float = 4.0
    mc_penalty: float = 2.0

    def score_true_false(self, answer, key: bool) -> float:
        if answer is None or answer == "":
            return 0.0
        if not isinstance(answer, bool):
            raise ValueError(f"a true/false answer must be True, False or None, got {answer!r}")
        return self.tf_right if answer == key else self.tf_wrong

    def score_multiple_choice(self, answer, key: str) -> float:
        if answer is None or answer == "":
            return 0.0
        if not isinstance(answer, str) or not answer.replace(",", "").replace(" ", "").isalpha():
            raise ValueError(f"a multiple-choice answer must be option letters like 'AC', got {answer!r}")
        chosen = set(answer.upper().replace(",", "").replace(" ", ""))
        wrong = len(chosen ^ set(key.upper()))
        return max(0.0, self.mc_full - self.mc_penalty * wrong)

    def max_points(self, key: dict) -> float:
        return sum(self.tf_right if isinstance(v, bool) else self.mc_full for v in key.values())

    def score(self, answers: dict, key: dict) -> dict[str, float]:
        """Points per question; unknown or malformed answers count as wrong (TF) or 0 (MC)."""
        out = {}
        for q, k in key.items():
            a = answers.get(q) if isinstance(answers, dict) else None
            try:
                out[q] = self.score_true_false(a, k) if isinstance(k, bool) else self.score_multiple_choice(a, k)
            except ValueError:
                out[q] = self.tf_wrong if isinstance(k, bool) else 0.0
        return out


QUIZ_RULES = Quiz()
