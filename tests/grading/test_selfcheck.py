"""Self-checks in a notebook: public cases only, helpful messages, honest about hidden tests."""

import numpy as np
import pytest

from i2dl_lab.grading import SelfCheckFailed, self_check
from i2dl_lab.grading.selfcheck import get_exercise


def ref_affine(x, w, b):
    return get_exercise("03", "affine_forward").reference(x, w, b)


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
