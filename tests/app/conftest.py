"""Fixtures of the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.pages import HOME, TIMEOUT, VIEWS


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch):
    """``open_page(models_dir, view, **query) -> AppTest``: the dashboard on
    ``models_dir``, switched to ``app/views/<view>.py`` with ``query`` and run."""
    from streamlit.testing.v1 import AppTest

    def make(models_dir: Path, view: str, /, **query: str) -> AppTest:
        monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
        at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
        at.query_params.update(query)
        return at.switch_page(str(VIEWS / f"{view}.py")).run()

    return make
