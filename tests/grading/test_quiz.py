"""The quiz's answer format: every malformed answer named, the documented forms accepted."""

import pytest

from i2dl_lab.grading.quiz import quiz_form, validate_answers

FORM = quiz_form({"q1": True, "q2": False, "q3": "AC", "q4": "B"})


def test_form_from_a_key_or_a_released_blank():
    assert FORM == {"q1": "tf", "q2": "tf", "q3": "mc", "q4": "mc"}
    assert quiz_form({"q1": None, "q3": ""}) == {"q1": "tf", "q3": "mc"}


@pytest.mark.parametrize("answers", [
    {"q1": True, "q2": None, "q3": "AC", "q4": ""},
    {"q1": False, "q2": True, "q3": "ca", "q4": None},
])
def test_documented_forms_pass(answers):
    assert validate_answers(answers, FORM) == []


@pytest.mark.parametrize("answers, message", [
    ({"q1": "True", "q2": None, "q3": "", "q4": ""}, "q1: 'True' is a string; write True without quotes"),
    ({"q1": "false", "q2": None, "q3": "", "q4": ""}, "q1: 'false' is a string; write False without quotes"),
    ({"q1": 1, "q2": None, "q3": "", "q4": ""}, "q1: a true/false question takes True, False or None, got 1"),
    ({"q1": None, "q2": None, "q3": ["A", "C"], "q4": ""}, "q3: write the options as one string such as 'AC'"),
    ({"q1": None, "q2": None, "q3": "A,C", "q4": ""}, "q3: only option letters may appear in 'A,C'"),
    ({"q1": None, "q2": None, "q3": "AA", "q4": ""}, "q3: 'AA' names an option twice"),
    ({"q1": None, "q2": None, "q3": True, "q4": ""}, "q3: a multiple-choice question takes a string"),
    ({"Q1": True, "q2": None, "q3": "", "q4": ""}, "'Q1' is not a question of this quiz (did you mean 'q1'?)"),
    ({"q2": None, "q3": "", "q4": ""}, "q1: missing"),
])
def test_each_malformed_answer_is_named(answers, message):
    problems = validate_answers(answers, FORM)
    assert any(message in p for p in problems), problems


def test_answers_must_be_a_dict():
    assert "ANSWERS must be a dict" in validate_answers(["A"], FORM)[0]
