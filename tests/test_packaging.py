"""Set-up files agree with each other: pyproject, environment.yml, constraints, README, CI."""

import re
import tomllib
from pathlib import Path

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
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    wanted = {_name(r) for r in project["dependencies"] + extras} - {_name(project["name"])}
    assert _environment_packages() == wanted


def test_one_version_source_and_an_spdx_license():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "i2dl_lab.__version__"}
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_requires_python_covers_what_the_tests_import():
    # this file imports tomllib (3.11+); requires-python and ruff's target must not promise less
    assert _pyproject()["project"]["requires-python"] == ">=3.11"
    assert _pyproject()["tool"]["ruff"]["target-version"] == "py311"


def test_test_tools_and_dask_are_extras_and_dev_pulls_them_in():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert "nbval" in {_name(r) for r in extras["test"]} and "pytest" in {_name(r) for r in extras["test"]}
    assert "nbval" not in {_name(r) for r in project["dependencies"]}
    assert {_name(r) for r in extras["dask"]} == {"dask"}
    assert "i2dl-lab[test,dask]" in extras["dev"]


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
