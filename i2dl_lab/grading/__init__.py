"""Release, self-check, submit and sandboxed grading of the labs."""

from .selfcheck import SelfCheckFailed, SelfCheckResult, self_check
from .spec import PUBLIC_SEED, QUIZ_RULES, Exercise, Quiz, allclose, rel_error

__all__ = [
    "Exercise", "Quiz", "QUIZ_RULES", "PUBLIC_SEED", "allclose", "rel_error",
    "self_check", "SelfCheckFailed", "SelfCheckResult",
]
