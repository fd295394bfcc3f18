"""Bring your own model in the browser: three small classifiers trained "elsewhere", each
imported with one ``dermviz import`` command, open on the Case and Statistics pages (every
page, with ``-m slow``) without an exception."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.byom_models import SPECS, save_model
from tests.e2e.conftest import open_page, wait_idle
from tests.e2e.test_dashboard import PAGES, main_area
from tests.streamlit_server import free_port, running

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

#: The import options of each test model, as command-line flags.
FLAGS = {
    "mobilenet": ["--preprocessing", "tf"],
    "efficientnet": ["--preprocessing", "torch", "--melanoma-class", "4"],
    "cnn": [],
}


@pytest.fixture(scope="module")
def byom_models_dir(playwright_api, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one imported suite per test model, each built by one command
    (with what the clinicians' pages read prepared, as a user's import would)."""
    from dermviz.cli import main

    root = tmp_path_factory.mktemp("byom-e2e")
    for key, spec in SPECS.items():
        path = save_model(spec, root)
        assert main(["--models-dir", str(root / "models"), "import", f"byom-{key}",
                     "--data", "synthetic", "--synthetic-train", "40", "--synthetic-test",
                     "12", "--model", str(path), *FLAGS[key]]) == 0
    return root / "models"


@pytest.fixture(scope="module")
def app_url(byom_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard serving the imported suites (overrides the demo's server)."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py",
               "--server.headless", "true", "--server.port", str(port)]
    log = tmp_path_factory.mktemp("byom-server") / "streamlit.log"
    with running(command, port=port, log=log, env={"DERMVIZ_MODELS": str(byom_models_dir)}):
        yield f"http://127.0.0.1:{port}"


def choose_suite(tab, name: str) -> None:
    """Pick a suite in the sidebar's Suite box, as a user would."""
    tab.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    tab.get_by_role("option", name=name).click()
    wait_idle(tab)


def _opens(tab, suite: str, link: str, title: str) -> None:
    open_page(tab, link, title)
    choose_suite(tab, suite)
    errors = tab.get_by_test_id("stException")
    assert errors.count() == 0, (suite, link, errors.first.inner_text()[:2000])
    assert main_area(tab).get_by_role("heading", level=1).inner_text() == title


@pytest.mark.parametrize("key", list(SPECS))
def test_case_and_statistics_open_on_an_imported_suite(page, key):
    for link, title in (("Case", "Case"), ("Statistics", "Where the suite goes wrong")):
        _opens(page, f"byom-{key}", link, title)
    open_page(page, "Case")
    text = main_area(page).inner_text()
    assert "The gradient methods explain the melanoma" in text


@pytest.mark.slow
@pytest.mark.parametrize("key", list(SPECS))
def test_every_page_opens_on_an_imported_suite(page, key):
    for link, title in PAGES:
        _opens(page, f"byom-{key}", link, title)
