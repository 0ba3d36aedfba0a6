"""The headline line: printed with its baseline, parsed back by the runner."""

import pytest

from i2dl_lab.report import Headline, find_headlines, headline


def test_headline_with_baseline_round_trips(capsys):
    text = headline("digits test accuracy (your CNN)", 0.98765, baseline=("kNN k=1", 0.9612))
    assert capsys.readouterr().out.strip() == text
    assert text == "[headline] digits test accuracy (your CNN): 0.9877 | baseline kNN k=1: 0.9612"
    assert find_headlines("noise\n" + text + "\nmore") == [
        Headline("digits test accuracy (your CNN)", "0.9877", ("kNN k=1", "0.9612"))]


def test_headline_without_baseline_parses_with_none():
    (h,) = find_headlines("[headline] bits per char: 2.1000\n")
    assert (h.name, h.value, h.baseline) == ("bits per char", "2.1000", None)
    assert str(h) == "bits per char: 2.1000"


@pytest.mark.parametrize("name", ["a: b", "a | b", "", "two\nlines"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="may not contain|non-empty"):
        headline(name, 1.0)


def test_baseline_must_be_a_pair():
    with pytest.raises(TypeError, match=r"\(name, value\) tuple"):
        headline("acc", 0.5, baseline=0.4)
