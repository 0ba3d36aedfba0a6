"""Run All in a released notebook: unfinished exercises and failing self-checks are reported,
later cells that need them say so, and any other error still stops the notebook."""

import ast

import pytest

from i2dl_lab.grading import runall
from i2dl_lab.grading.selfcheck import SelfCheckFailed


@pytest.fixture
def kernel(capsys):
    """Runs cell sources through the guard the way IPython does (one namespace, last value shown)."""
    saved = runall.STATE
    runall.STATE = runall.RunAllState()
    ns: dict = {}

    def run(src):
        tree = runall.GuardCells().visit(ast.parse(src))
        *stmts, last = tree.body
        exec(compile(ast.Module(body=stmts, type_ignores=[]), "<cell>", "exec"), ns)
        if isinstance(last, ast.Expr):
            return eval(compile(ast.Expression(body=last.value), "<cell>", "eval"), ns)
        exec(compile(ast.Module(body=[last], type_ignores=[]), "<cell>", "exec"), ns)
        return None

    yield run, ns
    runall.STATE = saved


def test_unfinished_exercise_is_named_and_later_cells_say_why_they_skip(kernel, capsys):
    run, ns = kernel
    run("def train(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    assert run("model = train(3)\ntest_acc = 0.9\n") is None
    out = capsys.readouterr().out
    assert "needs `train`, which is not written yet" in out and "test_acc" not in ns
    run("print(test_acc)")
    out = capsys.readouterr().out
    assert "uses `test_acc`, which a skipped cell above did not finish (unfinished: `train`" in out
    assert runall.STATE.skipped == 2 and runall.STATE.unfinished == ["train"]


def test_half_filled_state_of_a_skipped_cell_does_not_cascade(kernel, capsys):
    run, _ = kernel
    run("def fit(x):\n    raise NotImplementedError()\n")
    run("models = {}\nfor name in ['SGD', 'Adam']:\n    models[name] = fit(name)\n")
    run("acc = models['Adam']")       # KeyError: models stayed empty
    run("print(acc)")                 # acc comes from a skipped cell in turn
    out = capsys.readouterr().out
    assert "uses `models`, which a skipped cell above did not finish" in out and "KeyError: 'Adam'" in out
    assert "uses `acc`" in out
    run("models = {'Adam': 1}")       # a cell that runs through assigns the name afresh
    with pytest.raises(KeyError):
        run("models['SGD']")


def test_methods_are_named_with_their_class(kernel, capsys):
    run, _ = kernel
    run("class Net:\n    def forward(self, x):\n        raise NotImplementedError()\n")
    run("Net().forward(1)")
    assert "needs `Net.forward`" in capsys.readouterr().out


def test_last_expression_is_still_the_cells_value(kernel):
    run, _ = kernel
    assert run("x = 2\nx * 21") == 42


def test_failing_self_check_reports_and_goes_on(kernel, capsys):
    run, ns = kernel
    ns["fail"] = lambda: (_ for _ in ()).throw(SelfCheckFailed("relu: 1 of 3 public cases failed"))
    run("fail()\nafter = 1")
    assert "Self-check failed (relu: 1 of 3 public cases failed); the rest of this cell is skipped" in \
        capsys.readouterr().out
    run("print(after)")  # assigned after the failed check: skipped in turn, not a NameError
    assert "uses `after`" in capsys.readouterr().out


def test_other_errors_still_stop_the_notebook(kernel):
    run, _ = kernel
    with pytest.raises(ZeroDivisionError):
        run("1 / 0")
    with pytest.raises(NameError):  # nothing was skipped: a NameError is the student's typo
        run("print(undefined_thing)")


def test_lines_keep_their_numbers_in_tracebacks(kernel):
    run, _ = kernel
    with pytest.raises(ZeroDivisionError) as info:
        run("a = 1\nb = 2\nc = a / 0\n")
    assert info.traceback[-1].lineno + 1 == 3
