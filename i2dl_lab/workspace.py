"""A student's workspace: the released notebooks, brought up to date without losing work.

``i2dl-lab init DIR`` copies the student release (:func:`i2dl_lab.course.release_labs`) into
``DIR`` and records what it wrote in ``DIR/.i2dl/workspace.json``: per notebook the course
version and a hash of every cell's text, keyed by the cell's id. Run again after a course
update, it compares three versions of each cell (recorded, the student's, the new release):

==================================  ==========================================================
student's cell                      result
==================================  ==========================================================
unchanged since it was released     the course's new version replaces it
edited, and the course's unchanged  the student's cell stays
edited, and the course's changed    the student's cell stays; reported as a conflict, and the
                                    course's whole notebook is written to ``.i2dl/incoming/``
deleted by the student              stays deleted
added by the student                stays, after the cell it followed
==================================  ==========================================================

New labs and new cells are added; outputs of kept cells stay. The record also keeps the
student id that ``i2dl-lab submit`` asks for once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

RECORD = Path(".i2dl") / "workspace.json"
INCOMING = Path(".i2dl") / "incoming"
FORMAT = 1


class WorkspaceError(ValueError):
    """A folder that cannot be used as a workspace (the message says why)."""


def cell_hash(cell: dict) -> str:
    """Hash of what a student can change in a cell: its type and text (not outputs or counts)."""
    src = cell.get("source", "")
    text = "".join(src) if isinstance(src, list) else str(src)
    return hashlib.sha256(f"{cell.get('cell_type')}\0{text}".encode()).hexdigest()[:16]


def find_workspace(start: str | os.PathLike) -> Path | None:
    """The workspace holding ``start`` (a file or folder in it), or None."""
    p = Path(start).resolve()
    for folder in [p, *p.parents] if p.is_dir() else list(p.parents):
        if (folder / RECORD).is_file():
            return folder
    return None


def read_record(root: str | os.PathLike) -> dict:
    path = Path(root) / RECORD
    if not path.is_file():
        return {"format": FORMAT, "student": None, "labs": {}}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc}); restore it or remove it to start afresh") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise WorkspaceError(f"{path} was written by another version of i2dl-lab (format {record.get('format')!r})")
    return record


def write_record(root: str | os.PathLike, record: dict) -> None:
    path = Path(root) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def kernel_language_info() -> dict:
    """What this interpreter's IPython kernel reports as ``language_info`` (as ipykernel does).

    JupyterLab writes the kernel's ``language_info`` into a notebook it opens; when the file
    holds the same, the notebook opens unmodified.
    """
    import sys

    return {"name": "python", "version": sys.version.split()[0], "mimetype": "text/x-python",
            "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]}, "pygments_lexer": "ipython3",
            "nbconvert_exporter": "python", "file_extension": ".py"}


def _write_notebook(path: Path, nb: dict) -> None:
    if nb.get("metadata", {}).get("kernelspec", {}).get("language", "python") == "python":
        nb = dict(nb, metadata=dict(nb.get("metadata") or {}, language_info=kernel_language_info()))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass
class LabUpdate:
    """What ``init`` did to one notebook."""

    name: str
    action: str  # "added", "updated", "unchanged", "conflict", "kept"
    updated_cells: int = 0
    added_cells: int = 0
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [f"{self.name}: {self.action}"]
        if self.updated_cells or self.added_cells:
            parts.append(f"{self.updated_cells} cell(s) updated, {self.added_cells} added")
        if self.conflicts:
            parts.append(f"conflicts in cell(s) {', '.join(self.conflicts)}: kept yours; the course's version is in "
                         f"{INCOMING / self.name}")
        parts.extend(self.notes)
        return "; ".join(parts)


def merge_cells(released: list[dict], current: list[dict], recorded: dict[str, str]) -> tuple[list[dict], LabUpdate]:
    """The student's ``current`` cells brought up to ``released`` (see the module's table)."""
    upd = LabUpdate("", "updated")
    cur_by_id = {c.get("id"): c for c in current if c.get("id")}
    new_ids = {c.get("id") for c in released}
    out: list[dict] = []
    for nc in released:
        cid, nh = nc.get("id"), cell_hash(nc)
        old = recorded.get(cid)
        if cid in cur_by_id:
            cc = cur_by_id[cid]
            ch = cell_hash(cc)
            if ch == nh or nh == old:
                out.append(cc)  # same text, or only the student changed it
            elif ch == old:
                out.append(nc)
                upd.updated_cells += 1
            else:
                out.append(cc)
                upd.conflicts.append(cid)
        elif old is not None:
            if nh != old:
                upd.notes.append(f"you deleted cell {cid}, which the course has changed; not restored")
        else:
            out.append(nc)
            upd.added_cells += 1
    for i, cc in enumerate(current):
        cid = cc.get("id")
        if any(c is cc for c in out) or cid in new_ids:
            continue  # placed above, or replaced by the course's version of the same cell
        if cid in recorded:
            if cell_hash(cc) == recorded[cid]:
                continue  # the course removed it and the student never touched it
            upd.notes.append(f"the course removed cell {cid}; your edited copy stays")
        # a cell the student added: after the cell it followed, or first
        pos = 0
        for j in range(i - 1, -1, -1):
            prev = current[j]
            k = next((k for k, c in enumerate(out) if c is prev or (prev.get("id") and c.get("id") == prev["id"])),
                     None)
            if k is not None:
                pos = k + 1
                break
        out.insert(pos, cc)
    return out, upd


def init_workspace(target: str | os.PathLike, source: str | os.PathLike | None = None) -> list[LabUpdate]:
    """Create or update the workspace ``target`` from the released notebooks in ``source``.

    Args:
        target: the workspace folder (created if missing).
        source: folder of released notebooks (default: :func:`i2dl_lab.course.release_labs`).
    Returns:
        one :class:`LabUpdate` per released notebook.
    """
    from .course import release_labs

    root = Path(target)
    src = Path(source) if source is not None else release_labs()
    released = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not released:
        raise WorkspaceError(f"no released notebooks in {src}")
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    record = read_record(root)
    updates = []
    for path in released:
        new_nb = json.loads(path.read_text(encoding="utf-8"))
        if (new_nb.get("metadata", {}).get("i2dl") or {}).get("kind") != "student":
            raise WorkspaceError(f"{path} is not a released notebook (no kind 'student' in its metadata); "
                                 "a workspace is made from the release, never from the solutions")
        new_hashes = {c.get("id"): cell_hash(c) for c in new_nb["cells"]}
        version = new_nb["metadata"]["i2dl"].get("version")
        rec = record["labs"].get(path.name)
        dest = root / path.name
        if not dest.exists():
            _write_notebook(dest, new_nb)
            upd = LabUpdate(path.name, "added" if rec is None else "restored (it was missing)")
        elif rec is None:
            (root / INCOMING).mkdir(parents=True, exist_ok=True)
            _write_notebook(root / INCOMING / path.name, new_nb)
            upd = LabUpdate(path.name, "kept", notes=[f"a notebook of that name was already here and is not from "
                                                      f"this workspace's record; the course's version is in "
                                                      f"{INCOMING / path.name}"])
            updates.append(upd)
            continue
        elif rec.get("cells") == new_hashes:
            upd = LabUpdate(path.name, "unchanged")
        else:
            try:
                cur_nb = json.loads(dest.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise WorkspaceError(f"{dest} is not valid JSON ({exc}); fix or rename it, then run init again") \
                    from None
            cells, upd = merge_cells(new_nb["cells"], cur_nb.get("cells", []), rec.get("cells", {}))
            upd.name = path.name
            meta = dict(cur_nb.get("metadata") or {})
            meta["i2dl"] = new_nb["metadata"]["i2dl"]
            _write_notebook(dest, dict(cur_nb, cells=cells, metadata=meta,
                                       nbformat=new_nb["nbformat"], nbformat_minor=new_nb["nbformat_minor"]))
            if upd.conflicts:
                upd.action = "conflict"
                (root / INCOMING).mkdir(parents=True, exist_ok=True)
                _write_notebook(root / INCOMING / path.name, new_nb)
        record["labs"][path.name] = {"version": version, "cells": new_hashes}
        updates.append(upd)
    write_record(root, record)
    return updates


_NO_NEWS = {"fetchNews": "false", "checkForUpdates": False}


def lab_command(root: str | os.PathLike, state: str | os.PathLike, extra: list[str] | tuple = ()) -> tuple[list, dict]:
    """The ``jupyter lab`` command line and environment that open ``root`` as a course folder.

    Args:
        root: the folder JupyterLab shows (a workspace, or the solutions for instructors).
        state: a folder for the generated settings (``<workspace>/.i2dl/jupyter``).
        extra: more arguments for ``jupyter lab``.
    Returns:
        ``(command, environment)``. In it: this Python's ``bin`` folder leads ``PATH``, and
        terminals start an interactive (not login) shell whose start-up file puts it back
        after the user's own, so ``i2dl-lab`` is found in them (a login shell would reset
        ``PATH`` from /etc/profile); Jupyter's news and update notifications are off; the
        JupyterLab user settings live in ``state`` (seeded once, the student's changes kept).
    """
    import shutil
    import sys

    state = Path(state).resolve()
    bindir = str(Path(sys.executable).parent)
    settings = state / "settings"
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    if not notif.exists():
        notif.parent.mkdir(parents=True, exist_ok=True)
        notif.write_text(json.dumps(_NO_NEWS) + "\n", encoding="utf-8")
    rc = state / "shellrc"
    rc.write_text("# The shell of a JupyterLab terminal opened by i2dl-lab: your start-up file, then the course's\n"
                  "# commands (i2dl-lab, python, jupyter) first on PATH.\n"
                  "[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n"
                  "[ -f \"$HOME/.bashrc\" ] && . \"$HOME/.bashrc\"\n"
                  f"export PATH=\"{bindir}:$PATH\"\n", encoding="utf-8")
    bash = shutil.which("bash")
    shell = [bash, "--rcfile", str(rc), "-i"] if bash else [shutil.which("sh") or "/bin/sh", "-i"]
    config = state / "jupyter_lab_config.json"
    config.write_text(json.dumps({
        "ServerApp": {"root_dir": str(Path(root).resolve()), "terminado_settings": {"shell_command": shell}},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }, indent=1) + "\n", encoding="utf-8")
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), ENV=str(rc),
               JUPYTERLAB_SETTINGS_DIR=str(settings))
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--config={config}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in cmd:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    return cmd, env
