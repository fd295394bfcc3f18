"""Every dashboard page, run through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
TIMEOUT = 180  # the first run imports TensorFlow and loads models


@pytest.fixture
def app_on(monkeypatch: pytest.MonkeyPatch):
    def make(models_dir: Path) -> AppTest:
        monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
        return AppTest.from_file(HOME, default_timeout=TIMEOUT)

    return make


def test_home_without_suite_explains_how_to_build_one(app_on, tmp_path):
    at = app_on(tmp_path).run()
    assert not at.exception
    assert any("dermviz demo" in info.value for info in at.info)


def test_home_shows_members_and_auc(app_on, smoke_models_dir, smoke_suite):
    at = app_on(smoke_models_dir).run()
    assert not at.exception
    assert at.title[0].value == "dermviz"
    members = next(m for m in at.metric if m.label == "Members")
    assert members.value == str(len(smoke_suite.member_ids))
    auc = next(m for m in at.metric if m.label == "Mean hold-out AUC")
    expected = smoke_suite.metrics_table()["auc"].mean()
    assert auc.value == f"{expected:.3f}"
    assert len(at.get("plotly_chart")) == 1


def test_saliency_page_shows_verdicts_and_overlays(app_on, smoke_models_dir, smoke_suite):
    at = app_on(smoke_models_dir)
    at.switch_page(str(REPO_ROOT / "app" / "pages" / "saliency.py")).run()
    assert not at.exception, at.exception
    images = at.get("image")
    # The input plus one overlay per default member.
    n_members = min(4, len(smoke_suite.member_ids))
    assert len(images) == n_members + 1
    text = " ".join(m.value for m in at.markdown)
    assert "p(melanoma)" in text
    # Opacity slider and member choice redraw without errors.
    at.slider[0].set_value(0.9).run()
    assert not at.exception
    at.multiselect[0].set_value(smoke_suite.member_ids[:1]).run()
    assert not at.exception
    assert len(at.get("image")) == 2
