"""Set-up files agree with each other: pyproject, environment.yml, constraints, README, CI."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_packages():
    names, section = set(), None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if not line.startswith(" ") and stripped.endswith(":"):
            section = stripped[:-1]
            continue
        if stripped == "- pip:":
            continue
        if section != "dependencies" or not stripped.startswith("- ") or stripped.startswith("- -e"):
            continue
        item = stripped[2:].strip()
        if item.startswith("python=") or item == "pip":
            continue
        names.add(_name(item))
    return names


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = _pyproject()["project"]
    wanted = {_name(r) for r in project["dependencies"]} | {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert _environment_packages() == wanted


def test_torch_is_pinned_where_installs_happen():
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch")]
    assert pins == ["torch==2.13.0"]
    assert "torch==2.13.0" in (ROOT / "environment.yml").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^\s*make test\b", ci, re.MULTILINE)


def test_console_script_points_at_cli_main():
    assert _pyproject()["project"]["scripts"]["i2dl-lab"] == "i2dl_lab.cli:main"


def test_documented_top_level_layout_exists():
    for name in ["i2dl_lab", "labs", "data", "tests", "benchmarks", "pyproject.toml", "environment.yml",
                 "README.md", "Makefile", ".ci/run", ".gitignore"]:
        assert (ROOT / name).exists(), name
