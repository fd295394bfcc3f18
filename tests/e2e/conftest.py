"""Real-browser fixtures: the smoke demo suite, a Streamlit server on it, headless Chromium.

Chromium comes from the system (``apt-get install chromium``), driven by the
``playwright`` package through ``executable_path``; ``playwright install`` is never
needed. Without either, every test here skips and says which one is missing.
Screenshots go to ``test-artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers import share_suite
from tests.streamlit_server import free_port, running

CHROMIUM = Path(os.environ.get("DERMVIZ_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
SUITE = "demo-smoke"
TIMEOUT_MS = 180_000  # the first run of a page imports TensorFlow and loads a model


@pytest.fixture(scope="session")
def playwright_api():
    """``playwright.sync_api``, or a skip naming what is missing."""
    try:
        from playwright import sync_api  # optional: the `test` extra
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright==1.65.2)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "DERMVIZ_CHROMIUM)")
    return sync_api


@pytest.fixture(scope="session")
def e2e_models_dir(playwright_api, request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's smoke demo (shared members, its own maps) and a small saved GradCAM
    randomization study, built by the CLI.

    ``DERMVIZ_E2E_MODELS`` names an already built folder instead (for reruns).
    """
    from dermviz.cli import main
    from dermviz.models.suite import Suite

    if os.environ.get("DERMVIZ_E2E_MODELS"):
        return Path(os.environ["DERMVIZ_E2E_MODELS"])
    root = tmp_path_factory.mktemp("e2e-models")
    share_suite(request.getfixturevalue("smoke_models_dir") / SUITE, root / SUITE)
    ids = Suite(root / SUITE).dataset().holdout["image_id"].tolist()[:2]
    assert main(["--models-dir", str(root), "sanity", "--suite", SUITE, "--study", "custom",
                 "--methods", "gradcam", "--images", ",".join(ids),
                 "--stages", "head_dense,stem/conv1", "--also", "none", "--no-progress"]) == 0
    return root


@pytest.fixture(scope="session")
def app_url(e2e_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app/Home.py`` on a free port, serving :func:`e2e_models_dir`."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py",
               "--server.headless", "true", "--server.port", str(port)]
    log = tmp_path_factory.mktemp("e2e-server") / "streamlit.log"
    with running(command, port=port, log=log, env={"DERMVIZ_MODELS": str(e2e_models_dir)}):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def browser(playwright_api):
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _streamlit_probe(message) -> bool:
    """Streamlit's frontend, loaded at a page's own URL (``/browser?...``, as a reload or a
    shared link does), first asks for ``/browser/_stcore/...`` and falls back to
    ``/_stcore/...`` when that 404s: a console error that is not the app's."""
    url = (message.location or {}).get("url", "")
    return "404" in message.text and "/_stcore/" in url


@pytest.fixture
def page(browser, app_url: str, request: pytest.FixtureRequest):
    """A fresh tab on the dashboard's home page; fails the test on any console error.

    Tall viewport: Streamlit's main area scrolls inside the page, so a screenshot
    shows only what fits the window. The screenshot is taken after the test.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(f"console: {m.text}")
           if m.type == "error" and not _streamlit_probe(m) else None)
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.goto(app_url)
    wait_idle(tab)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    context.close()
    assert not errors, errors


QUIET_MS = 300  # how long no script may run before a page counts as drawn

_QUIET = """ms => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = app !== null && app.dataset.testScriptState === 'notRunning'
    && [...document.querySelectorAll('[data-testid="stImage"] img')]
      .every(i => i.complete && i.naturalWidth > 0);
  if (!idle) { window.__dermvizQuietSince = undefined; return false; }
  window.__dermvizQuietSince ??= performance.now();
  return performance.now() - window.__dermvizQuietSince >= ms;
}"""


def wait_idle(tab) -> None:
    """Wait until no script has run for ``QUIET_MS`` and every image has loaded.

    "Not running" alone also holds in the moment between two runs (a page that reruns
    itself, a fragment), when only part of the page is drawn: counting then failed CI twice.
    """
    tab.evaluate("() => { window.__dermvizQuietSince = undefined; }")
    tab.wait_for_function(_QUIET, arg=QUIET_MS, polling=50)


def open_page(tab, link: str, heading: str | None = None) -> None:
    """Go to a page through the sidebar navigation, as a user would; wait for its title."""
    tab.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    tab.get_by_role("heading", level=1, name=heading or link).wait_for()
    wait_idle(tab)
