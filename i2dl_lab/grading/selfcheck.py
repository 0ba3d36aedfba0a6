"""Self-checks students run inside a notebook: public cases only, plain feedback."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .spec import Exercise


class SelfCheckFailed(AssertionError):
    """Raised by :func:`self_check` when a public case fails (the cell shows red)."""


@dataclass
class SelfCheckResult:
    exercise: str
    passed: int
    total: int
    messages: list[str]

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


def self_check(lab: str, exercise_id: str, obj, *, raise_on_fail: bool = True, verbose: bool = True) -> SelfCheckResult:
    """Run the public cases of one exercise against ``obj`` and print what happened.

    Only the public cases run here. The hidden cases, drawn with different inputs, run at
    grading time, so passing here is necessary but not sufficient.

    Raises:
        SelfCheckFailed: when a case fails and ``raise_on_fail`` (the default).
    """
    ex = get_exercise(lab, exercise_id)
    cases = ex.public_cases()
    messages: list[str] = []
    passed = 0
    for i, args in enumerate(cases, 1):
        expected = ex.run(ex.reference, args)
        try:
            got = ex.run(obj, args)
        except NotImplementedError:
            messages.append(f"case {i}: not implemented yet (the cell still raises NotImplementedError)")
            continue
        except Exception as exc:  # noqa: BLE001 - report the student's error, do not crash the check
            messages.append(f"case {i}: raised {type(exc).__name__}: {exc}")
            continue
        ok, msg = ex.check(expected, got)
        passed += ok
        messages.append(f"case {i}: {'passed' if ok else 'FAILED'} - {msg}")
    result = SelfCheckResult(exercise_id, passed, len(cases), messages)
    if verbose:
        title = ex.title or ex.id
        print(f"Self-check '{title}': {passed}/{len(cases)} public cases passed.")
        for m in messages:
            print("  " + m)
        print("  Hidden tests with other inputs run at grading time; they are not part of this check.")
    if raise_on_fail and not result:
        raise SelfCheckFailed(f"{exercise_id}: {len(cases) - passed} of {len(cases)} public cases failed (see above)")
    return result
