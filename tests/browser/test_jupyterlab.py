"""Real-browser check: JupyterLab in headless Chromium runs lab 04 and its slider redraws the plot.

Starts JupyterLab on a free loopback port with a token, on a copy of the lab in a temporary
folder (the repository's notebook is never modified), drives it with Playwright through
Debian's Chromium, and leaves a screenshot in the test's output directory
(``test-output/browser/`` in the repository, plus pytest's ``tmp_path``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "labs" / "04_optimizers.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-output" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser():
    """Skip outside CI when Chromium or Playwright is missing; in CI their absence is a failure."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(cmd, cwd, env, port, token, log_path):
    """Run the JupyterLab command ``cmd``; yield its URL once it answers, stop it afterwards."""
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
                    break
                except OSError as exc:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}") from exc
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_KERNEL_IDLE = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")


def _open_notebook(pw, url, token, name):
    """Headless Chromium on JupyterLab's page of notebook ``name``, its kernel started; (browser, page)."""
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{url}/lab/tree/{name}?token={token}")
    page.wait_for_function(_KERNEL_IDLE)
    return browser, page


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of lab 04; yields (url, token)."""
    _require_browser()
    assert LAB.exists(), f"{LAB} is missing"
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(LAB, root / LAB.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    # No "fetch Jupyter news?" toast over the screenshot (and no attempt to reach the network).
    notif = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True)
    notif.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env.pop("CI", None)  # the kernel should behave like a student's (live widgets, not CI mode)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with _serving(cmd, root, env, port, token, tmp_path / "jupyterlab.log") as url:
        yield url, token


# JavaScript run in the page through the app object that expose_app_in_browser publishes.
_CELL_STATE = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const cells = nb.content.model.cells;
  const out = {n: cells.length, running: 0, unexecuted: 0, errors: []};
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    if (c.executionCount === null) out.unexecuted += 1;
    const outputs = c.outputs.toJSON();
    for (const o of outputs) if (o.output_type === 'error') out.errors.push(i + ': ' + o.ename + ': ' + o.evalue);
  }
  out.busy = nb.sessionContext.session && nb.sessionContext.session.kernel
             ? nb.sessionContext.session.kernel.status : 'none';
  out.running = document.querySelectorAll('.jp-InputPrompt').length
    ? [...document.querySelectorAll('.jp-InputPrompt')].filter(e => e.textContent.includes('*')).length : 0;
  return out;
}"""

_PLOT_IMAGES = """() => [...document.querySelectorAll('.jp-OutputArea-output img')]
  .map(i => i.src.length + ':' + i.src.slice(-200))"""


def test_lab04_runs_in_jupyterlab_and_slider_redraws_plot(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, token = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser, page = _open_notebook(pw, url, token, LAB.name)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # Wait until every code cell has run and the kernel is idle again.
        page.wait_for_function(
            f"() => {{ const s = ({_CELL_STATE})(); return s.unexecuted === 0 && s.running === 0 && s.busy === 'idle'"
            " || s.errors.length > 0; }",
            timeout=300_000,
        )
        state = page.evaluate(_CELL_STATE)
        assert state["errors"] == [], f"cells raised errors: {state['errors']}"

        slider = page.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
        slider.scroll_into_view_if_needed()
        slider.wait_for(state="visible")
        page.wait_for_timeout(1000)
        before = page.evaluate(_PLOT_IMAGES)
        page.screenshot(path=str(tmp_path / "lab04_before.png"), full_page=False)
        slider.click()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(f"(before) => JSON.stringify(({_PLOT_IMAGES})()) !== JSON.stringify(before)",
                               arg=before, timeout=60_000)
        # Each key press queues a redraw: wait until the kernel is idle and the plot stops changing.
        after = None
        for _ in range(60):
            page.wait_for_function(f"() => ({_CELL_STATE})().busy === 'idle'", timeout=60_000)
            page.wait_for_timeout(700)
            current = page.evaluate(_PLOT_IMAGES)
            if current == after:
                break
            after = current
        shot = tmp_path / "lab04_after_slider.png"
        page.screenshot(path=str(shot), full_page=False)
        shutil.copy(shot, ARTIFACTS / shot.name)
        state = page.evaluate(_CELL_STATE)
        browser.close()

    assert after != before, "moving the slider did not change any plot"
    assert state["errors"] == [], f"cells raised errors after the slider moved: {state['errors']}"
    assert shot.stat().st_size > 10_000


@pytest.fixture
def workspace_lab(tmp_path):
    """`i2dl-lab lab` as a student gets it: a workspace made by init, JupyterLab started with the
    command line and environment of :func:`i2dl_lab.workspace.lab_command`; yields (url, token, ws)."""
    from i2dl_lab.workspace import init_workspace, lab_command

    _require_browser()
    ws = tmp_path / "ws"
    init_workspace(ws)
    port, token = _free_port(), secrets.token_hex(16)
    cmd, env = lab_command(ws, ws / ".i2dl" / "jupyter", [
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True"])
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-ws"))
    env.pop("CI", None)
    with _serving(cmd, ws, env, port, token, tmp_path / "jupyterlab.log") as url:  # as i2dl-lab lab does
        yield url, token, ws


_STATE_OF_OPEN_NOTEBOOK = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  return {dirty: w.context.model.dirty,
          toasts: document.querySelectorAll('.Toastify__toast').length,
          text: [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent).join('\\n')};
}"""


def test_released_lab_in_a_workspace_opens_clean_runs_all_and_has_the_course_in_terminals(workspace_lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, token, ws = workspace_lab
    name = "04_optimizers.ipynb"
    original = (ws / name).read_bytes()
    with sync_playwright() as pw:
        browser, page = _open_notebook(pw, url, token, name)
        page.wait_for_timeout(3000)  # a news toast or a silent upgrade of the file would have shown by now
        opened = page.evaluate(_STATE_OF_OPEN_NOTEBOOK)
        assert opened["dirty"] is False, "the released notebook opened as modified"
        assert opened["toasts"] == 0, "a notification (Jupyter news?) covers the notebook"

        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            f"() => {{ const s = ({_CELL_STATE})(); return s.unexecuted === 0 && s.running === 0 && s.busy === 'idle'"
            " || s.errors.length > 0; }",
            timeout=300_000,
        )
        state = page.evaluate(_CELL_STATE)
        assert state["errors"] == [], f"Run All stopped on errors: {state['errors']}"
        text = page.evaluate(_STATE_OF_OPEN_NOTEBOOK)["text"]
        assert "needs `sgd_momentum`, which is not written yet" in text
        assert "unfinished exercises: sgd_momentum, nesterov, adagrad, rmsprop, adam" in text
        slider = page.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
        slider.scroll_into_view_if_needed()
        slider.wait_for(state="visible")  # the slider needs no exercise: it is there at once
        page.screenshot(path=str(tmp_path / "workspace_lab04.png"), full_page=False)

        page.evaluate("async () => { await window.jupyterapp.commands.execute('terminal:create-new'); return 1; }")
        term = page.locator(".jp-Terminal .xterm-screen").first
        term.wait_for(state="visible")
        page.wait_for_timeout(3000)  # the shell reads its start-up files
        term.click()
        page.keyboard.type("command -v i2dl-lab > which.txt; i2dl-lab --version >> which.txt")
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 60
        while not (ws / "which.txt").exists() or "i2dl-lab " not in (ws / "which.txt").read_text():
            if time.monotonic() > deadline:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "terminal.png"))
                raise AssertionError("the terminal did not run the command (screenshot: test-output/browser/)")
            page.wait_for_timeout(500)
        browser.close()
    found = (ws / "which.txt").read_text().splitlines()
    assert found[0] == str(Path(sys.executable).parent / "i2dl-lab"), found
    assert (ws / name).read_bytes() == original  # nothing was saved over the student's file
