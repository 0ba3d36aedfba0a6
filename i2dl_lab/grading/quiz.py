"""The quiz's answer format, checked the same way in the notebook and by the grader.

The quiz cell holds ``ANSWERS = {"q1": True, "q5": "AC", ...}``:

* a true/false question takes ``True`` or ``False`` (Python booleans, not the strings
  ``"True"``/``"false"``), or ``None`` to leave it blank;
* a multiple-choice question takes a string of option letters, each at most once, such as
  ``"AC"`` (upper or lower case), or ``""``/``None`` to leave it blank.

:func:`validate_answers` lists every answer that breaks these rules, in words a student can
act on; an empty list means every answer can be graded as written.
"""

from __future__ import annotations

import string

TRUE_FALSE, MULTIPLE_CHOICE = "tf", "mc"
_LETTERS = set(string.ascii_letters)


def quiz_form(key_or_blank: dict) -> dict[str, str]:
    """``{question: "tf" | "mc"}`` from a quiz key (bools and letter strings) or a released blank
    (``None`` for true/false, ``""`` for multiple choice)."""
    form = {}
    for q, v in key_or_blank.items():
        if v in (TRUE_FALSE, MULTIPLE_CHOICE):
            form[q] = v
        elif v is None or isinstance(v, bool):
            form[q] = TRUE_FALSE
        elif isinstance(v, str):
            form[q] = MULTIPLE_CHOICE
        else:
            raise ValueError(f"quiz question {q!r}: expected a bool or a string of letters in the key, got {v!r}")
    return form


def _tf_problem(q: str, a) -> str | None:
    if a is None or isinstance(a, bool):
        return None
    if isinstance(a, str) and a.strip().lower() in ("true", "false"):
        return f"{q}: {a!r} is a string; write {a.strip().capitalize()} without quotes"
    return f"{q}: a true/false question takes True, False or None, got {a!r}"


def _mc_problem(q: str, a) -> str | None:
    if a is None or a == "":
        return None
    if isinstance(a, (list, tuple, set)):
        letters = "".join(str(x) for x in a)
        return f"{q}: write the options as one string such as {letters.upper()!r}, not a {type(a).__name__}"
    if isinstance(a, bool) or not isinstance(a, str):
        return f"{q}: a multiple-choice question takes a string of option letters such as 'AC', got {a!r}"
    bad = sorted({ch for ch in a if ch not in _LETTERS})
    if bad:
        return f"{q}: only option letters may appear in {a!r} (found {''.join(bad)!r}); write e.g. 'AC'"
    if len(set(a.upper())) != len(a):
        return f"{q}: {a!r} names an option twice"
    return None


def validate_answers(answers, form: dict | None = None) -> list[str]:
    """Every malformed answer in ``answers``, as a message naming the question.

    Args:
        answers: the notebook's ``ANSWERS``.
        form: ``{question: "tf" | "mc"}`` (see :func:`quiz_form`); None checks the values alone.
    Returns:
        the problems, one string each; empty when everything can be graded.
    """
    if not isinstance(answers, dict):
        return [f"ANSWERS must be a dict like {{'q1': True, 'q2': 'AC'}}, got {type(answers).__name__}"]
    problems = []
    if form is not None:
        for q in answers:
            if q not in form:
                near = [k for k in form if str(k).lower() == str(q).lower()]
                hint = f" (did you mean {near[0]!r}?)" if near else f"; the questions are {', '.join(form)}"
                problems.append(f"{q!r} is not a question of this quiz{hint}; it would be ignored")
        for q in form:
            if q not in answers:
                problems.append(f"{q}: missing; keep every key and write None to leave a question blank")
    for q, a in answers.items():
        kind = form.get(q) if form is not None else (TRUE_FALSE if a is None or isinstance(a, bool)
                                                     or (isinstance(a, str) and a.lower() in ("true", "false"))
                                                     else MULTIPLE_CHOICE)
        if kind is None:
            continue
        msg = _tf_problem(str(q), a) if kind == TRUE_FALSE else _mc_problem(str(q), a)
        if msg:
            problems.append(msg)
    return problems
