"""Student workspaces: init copies the release, a second init keeps the student's work."""

import json
import sys
from pathlib import Path

import pytest

from i2dl_lab import cli
from i2dl_lab.workspace import (
    RECORD,
    WorkspaceError,
    cell_hash,
    find_workspace,
    init_workspace,
    lab_command,
    merge_cells,
    read_record,
)


def _cell(cid, src, kind="code"):
    cell = {"cell_type": kind, "id": cid, "metadata": {}, "source": src}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _released(folder, name, cells, version="1"):
    folder.mkdir(parents=True, exist_ok=True)
    nb = {"cells": cells, "metadata": {"i2dl": {"lab": name[:2], "version": version, "kind": "student"}},
          "nbformat": 4, "nbformat_minor": 5}
    (folder / name).write_text(json.dumps(nb))
    return folder / name


def _load(path):
    return json.loads(path.read_text())


def test_init_copies_the_release_and_records_it(tmp_path, capsys):
    rel = tmp_path / "release"
    _released(rel, "01_a.ipynb", [_cell("c1", "# Lab 1", "markdown"), _cell("c2", "x = 1")])
    ws = tmp_path / "ws"
    updates = init_workspace(ws, rel)
    assert [(u.name, u.action) for u in updates] == [("01_a.ipynb", "added")]
    assert _load(ws / "01_a.ipynb")["cells"][1]["source"] == "x = 1"
    assert set(read_record(ws)["labs"]) == {"01_a.ipynb"}
    assert find_workspace(ws / "01_a.ipynb") == ws.resolve()


def test_second_init_keeps_edits_updates_untouched_cells_and_adds_new_labs(tmp_path):
    rel = tmp_path / "release"
    _released(rel, "01_a.ipynb", [_cell("c1", "a = 1"), _cell("c2", "b = 2"), _cell("c3", "c = 3")])
    ws = tmp_path / "ws"
    init_workspace(ws, rel)
    nb = _load(ws / "01_a.ipynb")
    nb["cells"][0]["source"] = "a = 'mine'"                       # the student's answer
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    nb["cells"].insert(2, _cell("s1", "my_note = 'scratch'"))      # a cell the student added after c2
    (ws / "01_a.ipynb").write_text(json.dumps(nb))
    # the course changes c2 (untouched by the student) and c1 (edited: a conflict), adds c4 and lab 02
    _released(rel, "01_a.ipynb", [_cell("c1", "a = 10"), _cell("c2", "b = 20"), _cell("c3", "c = 3"),
                                  _cell("c4", "d = 4")], version="2")
    _released(rel, "02_b.ipynb", [_cell("x", "y = 1")], version="2")
    updates = {u.name: u for u in init_workspace(ws, rel)}
    assert updates["02_b.ipynb"].action == "added"
    upd = updates["01_a.ipynb"]
    assert upd.action == "conflict" and upd.conflicts == ["c1"] and upd.updated_cells == 1 and upd.added_cells == 1
    cells = _load(ws / "01_a.ipynb")["cells"]
    assert [c["source"] for c in cells] == ["a = 'mine'", "b = 20", "my_note = 'scratch'", "c = 3", "d = 4"]
    assert cells[0]["outputs"][0]["text"] == "kept\n"
    assert _load(ws / ".i2dl" / "incoming" / "01_a.ipynb")["cells"][0]["source"] == "a = 10"
    assert _load(ws / "01_a.ipynb")["metadata"]["i2dl"]["version"] == "2"
    # a third init with nothing new changes nothing and reports no conflict again
    again = {u.name: u for u in init_workspace(ws, rel)}
    assert again["01_a.ipynb"].action == "unchanged" and _load(ws / "01_a.ipynb")["cells"] == cells


def test_course_removed_cells_go_unless_the_student_edited_them(tmp_path):
    old = [_cell("a", "1"), _cell("b", "2"), _cell("c", "3")]
    recorded = {c["id"]: cell_hash(c) for c in old}
    current = [_cell("a", "1"), _cell("b", "2 edited"), _cell("c", "3")]
    out, upd = merge_cells([_cell("a", "1")], current, recorded)
    assert [c["source"] for c in out] == ["1", "2 edited"]
    assert any("removed cell b" in n for n in upd.notes)


def test_a_solution_notebook_cannot_seed_a_workspace(tmp_path):
    rel = tmp_path / "labs"
    rel.mkdir()
    (rel / "01_a.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(WorkspaceError, match="not a released notebook"):
        init_workspace(tmp_path / "ws", rel)


def test_init_command_from_the_course_release(tmp_path, capsys):
    """`i2dl-lab init` on the real course: released notebooks only, no solution or quiz key."""
    assert cli.main(["init", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "00_setup_and_tour.ipynb: added" in out and "11_attention_and_transformers.ipynb: added" in out
    for nb in (tmp_path / "ws").glob("*.ipynb"):
        text = nb.read_text()
        assert "### BEGIN SOLUTION" not in text and '"kind": "student"' in text
    assert (tmp_path / "ws" / RECORD).is_file()


def test_lab_command_puts_the_course_on_path_and_silences_news(tmp_path):
    cmd, env = lab_command(tmp_path / "ws", tmp_path / "state", ["--no-browser"])
    bindir = str(Path(sys.executable).parent)
    assert env["PATH"].split(":")[0] == bindir
    config = json.loads((tmp_path / "state" / "jupyter_lab_config.json").read_text())
    shell = config["ServerApp"]["terminado_settings"]["shell_command"]
    assert "-l" not in shell  # a login shell would reset PATH from /etc/profile
    assert bindir in (tmp_path / "state" / "shellrc").read_text()
    assert config["LabApp"]["news_url"] is None
    notif = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    assert json.loads((notif / "notification.jupyterlab-settings").read_text())["fetchNews"] == "false"
    assert cmd[1:4] == ["-m", "jupyter", "lab"] and "--no-browser" in cmd


def test_lab_command_line_passes_arguments_after_dashes_and_makes_the_workspace(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env, cwd: calls.append((cmd, env, cwd)) or 0)
    assert cli.main(["lab", str(tmp_path / "ws"), "--", "--port", "8890", "--no-browser"]) == 0
    cmd, env, cwd = calls[0]
    assert cmd[-3:] == ["--port", "8890", "--no-browser"] or cmd[-4:-1] == ["--port", "8890", "--no-browser"]
    assert cwd == tmp_path / "ws" and (tmp_path / "ws" / RECORD).is_file()  # made on first use
    assert "making one" in capsys.readouterr().out
