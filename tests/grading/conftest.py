"""Fixtures of the grader tests: the demo lab 97 (tests/grading/fixtures) graded with short limits."""

from __future__ import annotations

import os

import pytest

from i2dl_lab.grading.grader import grade_bytes, resolve_lab
from i2dl_lab.grading.sandbox import Limits

from .fixtures import demo_lab as D  # noqa: N812 - short alias used throughout

SECRET = b"test-course-secret"
FULL = 20.0  # 4 + 3 + 3 + 2 exercise points and an 8-point quiz

ROOT = os.geteuid() == 0


def fast_limits(**kw) -> Limits:
    """Short limits; each exercise gets exactly ``wall_per_exercise`` unless ``exercise_floor`` is given."""
    lim = Limits(wall_per_exercise=4.0, wall_per_submission=40.0, startup=40.0, cpu_seconds=30,
                 memory_bytes=1 << 30)
    for k, v in kw.items():
        setattr(lim, k, v)
    if "exercise_floor" not in kw:
        lim.exercise_floor = lim.wall_per_exercise
    return lim


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A course folder with the demo solution notebook."""
    return D.source_dir(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def cfg(course):
    return resolve_lab(D.LAB, spec=D.SPEC, source=course, secret=SECRET, limits=fast_limits())


@pytest.fixture
def grade(cfg):
    """grade(cells or notebook dict or bytes, name=..., cfg=...) -> result dict."""

    def _grade(sub, name="student.ipynb", config=None):
        if isinstance(sub, list):
            sub = D.notebook(sub)
        data = sub if isinstance(sub, bytes) else D.dumps(sub)
        return grade_bytes(data, name, config or cfg)

    return _grade


def points(result) -> dict:
    return result.points()


def ex(result, ex_id):
    return result.exercise(ex_id)


CONTAINED = FULL - 4.0  # an attack in the relu exercise costs its 4 points and nothing else


def relu_only_lost(r, feedback=None, message=None):
    """Assert that only the relu exercise lost its points; return its result for more checks."""
    assert r.status == "graded", r.message
    assert points(r) == {"relu": 0.0, "affine": 3.0, "softmax": 3.0, "scale": 2.0, "quiz": 8.0}, r.exercises
    assert r.score == CONTAINED
    e = ex(r, "relu")
    if message is not None:
        assert e.message == message, e.message
    if feedback is not None:
        assert [c.feedback for c in e.cases] == [feedback] * 4, e.cases
    return e


def with_relu(body: str, setup: str = "") -> list:
    """Solution cells with the relu exercise cell replaced by ``body`` (other exercises stay correct)."""
    cells = D.solution_cells(relu=body)
    if setup:
        cells[1]["source"] += setup
    return cells
