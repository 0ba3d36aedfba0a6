"""The course's rule, checked on the real labs: the model behind a lab's headline is the
student's code. Each lab whose notebook metadata says ``{"i2dl": {"stub_check": true}}`` is run
with every exercise replaced by a raising stub after its last self-check; it must fail before
it prints a headline."""

import json
from pathlib import Path

import pytest

from i2dl_lab.runner import discover_labs, headlines_of, run_lab

LABS = Path(__file__).resolve().parent.parent / "labs"


def _checked_labs():
    return [lab for lab in discover_labs(LABS)
            if json.loads(lab.path.read_text(encoding="utf-8"))["metadata"].get("i2dl", {}).get("stub_check")]


@pytest.mark.slow
@pytest.mark.parametrize("lab", _checked_labs(), ids=lambda lab: lab.number)
def test_stubbed_exercises_stop_the_lab_before_its_headline(lab, tmp_path):
    res = run_lab(lab, out_dir=tmp_path, stub=True)
    assert res.status == "failed", f"{lab.name} ran to its end with every exercise stubbed out"
    assert "stub check: exercise" in res.error, res.error
    assert headlines_of(res.output) == []
