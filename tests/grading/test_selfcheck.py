"""Self-checks in a notebook: public cases only, helpful messages, honest about hidden tests."""

import numpy as np
import pytest

from i2dl_lab.grading import SelfCheckFailed, self_check
from i2dl_lab.grading.selfcheck import get_exercise


def ref_affine(x, w, b):
    """A student's own affine layer (not the library's)."""
    return x.reshape(len(x), -1) @ w + b, (x, w, b)


def test_correct_function_passes_and_says_hidden_tests_come_later(capsys):
    res = self_check("03", "affine_forward", ref_affine)
    out = capsys.readouterr().out
    assert res and res.passed == res.total == 3
    assert f"{res.total}/{res.total} public cases passed" in out
    assert "Hidden tests with other inputs run at grading time" in out
    assert "all tests passed" not in out.lower()


def test_wrong_shape_names_expected_and_received_shapes(capsys):
    def transposed(x, w, b):
        out, cache = ref_affine(x, w, b)
        return out.T, cache

    with pytest.raises(SelfCheckFailed, match="public cases failed"):
        self_check("03", "affine_forward", transposed)
    out = capsys.readouterr().out
    assert "expected shape (4, 3), got shape (3, 4)" in out


def test_wrong_values_report_relative_error_and_an_example(capsys):
    def off(x, w, b):
        out, cache = ref_affine(x, w, b)
        return out * 1.01, cache

    res = self_check("03", "affine_forward", off, raise_on_fail=False)
    out = capsys.readouterr().out
    assert not res and res.passed == 0
    assert "relative error" in out and "expected" in out and "got" in out


def test_unimplemented_function_is_reported_as_such(capsys):
    def todo(x, w, b):
        raise NotImplementedError()

    res = self_check("03", "affine_forward", todo, raise_on_fail=False)
    assert res.passed == 0
    assert "not implemented yet" in capsys.readouterr().out


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(ValueError, match="its exercises are: affine_forward"):
        self_check("03", "nope", np.maximum)


def _notebook_history(monkeypatch, *cells):
    """Pretend the kernel ran ``cells`` (the self-check reads the kernel's cell history)."""
    from i2dl_lab.grading import selfcheck

    monkeypatch.setattr(selfcheck, "_history", lambda: ["", *cells])
    ns: dict = {}
    for src in cells:
        exec(src, ns)
    return ns


AFFINE_OWN = ("def affine_forward(x, w, b):\n"
              "    out = x.reshape(x.shape[0], -1) @ w + b\n"
              "    return out, (x, w, b)\n")


def test_wrapper_of_the_reference_fails_the_self_check_as_at_grading(monkeypatch, capsys):
    ns = _notebook_history(monkeypatch, "import numpy as np\nfrom i2dl_lab.nn import functional as F\n",
                           "def affine_forward(x, w, b):\n    return F.affine_forward(x, w, b)\n")
    res = self_check("03", "affine_forward", ns["affine_forward"], raise_on_fail=False)
    out = capsys.readouterr().out
    assert not res and "the grader would score this exercise 0" in out
    assert "uses the library's reference `F.affine_forward`" in out


def test_helper_from_another_cell_fails_here_not_only_at_grading(monkeypatch, capsys):
    ns = _notebook_history(monkeypatch, "import numpy as np\n",
                           "def flat(x):\n    return x.reshape(x.shape[0], -1)\n",
                           "def affine_forward(x, w, b):\n    return flat(x) @ w + b, (x, w, b)\n")
    res = self_check("03", "affine_forward", ns["affine_forward"], raise_on_fail=False)
    out = capsys.readouterr().out
    assert not res and "NameError: name 'flat' is not defined" in out
    assert "define what the function uses in its exercise cell" in out


def test_own_code_passes_when_rebuilt_as_the_grader_does(monkeypatch, capsys):
    ns = _notebook_history(monkeypatch, "import numpy as np\n", AFFINE_OWN)
    assert self_check("03", "affine_forward", ns["affine_forward"])


def test_outputs_are_named_as_the_reference_names_them(capsys):
    ex = get_exercise("03", "affine_backward")
    from i2dl_lab.grading.selfcheck import output_names

    assert output_names(ex) == ("dx", "dw", "db")

    def wrong_db(dout, cache):
        x, w, _ = cache
        dx = (dout @ w.T).reshape(x.shape)
        dw = x.reshape(len(x), -1).T @ dout
        return dx, dw, dout.sum(axis=0) + 1.0

    self_check("03", "affine_backward", wrong_db, raise_on_fail=False)
    out = capsys.readouterr().out
    assert "FAILED - db: values differ" in out and "output[2]" not in out
    assert "np.float64" not in out


def test_a_call_into_the_library_reference_fails_however_it_is_spelt(capsys):
    import importlib
    import sys

    # a copy held where no static check looks: a plain dict
    held = {"layer": importlib.import_module("i2dl_lab.nn.functional").affine_forward}

    def sneaky(x, w, b):
        return held["layer"](x, w, b)

    res = self_check("03", "affine_forward", sneaky, raise_on_fail=False)
    out = capsys.readouterr().out
    assert res.passed == 0 and res.total == 3
    assert "case 1: FAILED - it calls the library's `affine_forward`; the grader scores" in out
    assert sys.getprofile() is None  # the watch is gone after the check...
    x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
    np.testing.assert_array_equal(get_exercise("03", "affine_forward").reference(x, w, b)[0], np.full((2, 4), 3.0))


def test_a_call_into_another_exercises_reference_fails_too(capsys):
    from i2dl_lab.nn import functional as F  # noqa: N812

    def relu_by_library(x):
        return F.relu_forward(x)

    res = self_check("03", "relu_forward", relu_by_library, raise_on_fail=False)
    assert res.passed == 0
    assert "it calls the library's `relu_forward`" in capsys.readouterr().out
