"""A released notebook in real JupyterLab, driven in Debian's Chromium with Playwright: the
widgets render, respond to the keyboard, and redraw their output.

.ci/run installs /usr/bin/chromium with apt and sets COURSE_REQUIRE_BROWSER=1, so in CI a missing
browser fails instead of skipping. Playwright only drives that browser (no `playwright install`).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from notebook_tools import ASSIGNMENTS

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "06_convnets.ipynb"
# Without the networking flags Chromium keeps trying to reach Google's servers, which a closed
# network refuses noisily; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Ready means: JupyterLab has started and restored its layout, the notebook is the current
# widget, its file is loaded, and its kernel session is connected and idle. Run All sent
# earlier is silently dropped in a large share of runs.
READY = """() => {
    const app = window.jupyterapp;
    if (!app || !window.__labRestored) return false;
    const panel = app.shell.currentWidget;
    if (!panel || !panel.context || !panel.sessionContext) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return panel.context.path.endsWith(%r) && panel.context.isReady
        && panel.sessionContext.isReady && !!kernel && kernel.status === "idle"
        && kernel.connectionStatus === "connected" && panel.content.widgets.length > 0;
}""" % NOTEBOOK


def _browser_or_skip():
    required = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is missing (pip install -e '.[test]')"
    if problem and required:
        pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {problem}")
    if problem:
        pytest.skip(problem)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of the released notebook; yields its URL; stopped by PID."""
    _browser_or_skip()
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ASSIGNMENTS / "06_convnets" / NOTEBOOK, root / NOTEBOOK)
    port = _free_port()
    log = open(tmp_path / "jupyterlab.log", "w")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n"
                            f"{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 90 s")
                time.sleep(0.3)
        yield url
    finally:
        os.kill(server.pid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _report(page):
    return page.locator(".widget-html-content", has_text="output size").first.text_content()


def _figure(page):
    """The explorer's picture: an image inside the same widget as its text, so never out of step."""
    img = page.locator(".widget-html-content", has_text="output size").first.locator("img")
    return img.get_attribute("src"), img.get_attribute("alt")


def test_conv_explorer_responds_in_a_real_browser(lab, tmp_path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}")
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=90_000)
            page.evaluate("() => { window.jupyterapp.restored.then(() => { window.__labRestored = true; }); }")
            page.wait_for_function(READY, timeout=120_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # The explorer sits before the first exercise, so Run All reaches it even though the
            # release's unimplemented functions stop the run further down.
            stride = page.locator(".widget-hslider", has=page.locator("label", has_text="stride S"))
            stride.locator(".noUi-handle").wait_for(timeout=120_000)
            page.wait_for_function("() => [...document.querySelectorAll('.widget-html-content')]"
                                   ".some(e => e.textContent.includes('output size')"
                                   " && e.querySelector('img'))", timeout=60_000)
            before_text, before_figure = _report(page), _figure(page)
            assert "= 5" in before_text and "5x5x4" in before_text, before_text
            assert before_figure[1] == "5 windows: output 5", before_figure[1]

            stride.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")  # stride 2: a 3x3 output
            page.wait_for_function("() => [...document.querySelectorAll('.widget-html-content')]"
                                   ".some(e => e.textContent.includes('3x3x4'))", timeout=30_000)
            page.keyboard.press("ArrowRight")  # stride 3: impossible, and said why
            page.wait_for_function("() => [...document.querySelectorAll('.widget-html-content')]"
                                   ".some(e => e.textContent.includes('impossible'))", timeout=30_000)
            after_text, after_figure = _report(page), _figure(page)
            assert "not a whole number" in after_text, after_text
            # the picture shown with that text is the stride-3 one, not an intermediate drawing
            assert after_figure[1] == "2 windows fit, 1 column(s) left over: invalid", after_figure[1]
            assert after_figure[0] != before_figure[0]
            assert stride.locator(".widget-readout").text_content().strip() == "3"

            stride.scroll_into_view_if_needed()
            shot = tmp_path / "conv_explorer.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
