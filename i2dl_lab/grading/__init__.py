"""Release, self-check, submit and sandboxed grading of the labs.

Modules
-------
spec        how a lab declares its graded exercises (the contract with lab authors)
selfcheck   ``self_check(lab, exercise, obj)``: public cases in the notebook
release     solution notebooks -> student notebooks (``i2dl-lab release``)
submit      notebook -> zip with a manifest (``i2dl-lab submit``)
notebook    reading notebooks and zips without trusting them
codecheck   static checks of exercise cells (own definition, no reference use)
protocol    the typed messages between grader and child, and the result record
wire        the plain-data encoding of case inputs and outputs on that channel
sandbox     the child: launch, confine, execute (in the child), supervise (in the grader)
grader      one submission: hidden inputs, reference in the parent, scoring
gradebook   SQLite, one transaction per submission; CSV export
feedback    HTML report per submission from a jinja2 template (no hidden inputs or expected values)
batch       many submissions: inline, ``--jobs N`` processes, or Dask
cli         ``register(subparsers)`` for ``i2dl-lab release|submit|grade|grades``

Where nbgrader and otter-grader users get hurt, and what this grader does instead:

* hidden tests leaking into feedback -> hidden *inputs* come from a secret and the
  notebook's sha256; feedback says what went wrong (shape, NaN, relative error, exception
  type and line) but never shows inputs, expected values or the spec's messages;
* one bad notebook killing a batch -> every failure (corrupt JSON, crash, timeout, memory,
  grader bug) is one submission's recorded result; each is committed on its own, so a
  killed batch resumes where it stopped;
* no parallel grading -> ``--jobs N`` processes, each with a fork server, or a Dask cluster;
* students patching the grader or printing fake scores -> student code runs only in a
  child (own uid, namespaces, limits) that returns plain data; the grader computes the
  reference and compares in its own process, and parses nothing the student printed.

What lab authors must know (beyond ``spec.py``): the grader runs only the exercise cells
and the import lines they use, each top-level statement on its own, so an exercise cell
must be self-contained apart from imports and other exercise cells; drivers must not call
the reference (in the child, references, the library functions they call by name and
copies of them become tripwires in place, and their source files are hidden; the spec's
own helpers stay callable for drivers); case arguments must be plain data. A backward
pass (an exercise whose function name holds ``backward`` or ``bptt``, or any exercise with
``numpy_only=True``) may not use torch: its autograd would do the work, so it scores zero.

Who handed in what comes from the instructor's side (the per-student folder, else the file
name; the time is the file's), never from the zip's manifest. ``grades --policy latest|best``
chooses which submission counts.
"""

from .selfcheck import SelfCheckFailed, SelfCheckResult, self_check
from .spec import PUBLIC_SEED, QUIZ_RULES, Exercise, Quiz, allclose, rel_error

__all__ = [
    "Exercise", "Quiz", "QUIZ_RULES", "PUBLIC_SEED", "allclose", "rel_error",
    "self_check", "SelfCheckFailed", "SelfCheckResult",
]
