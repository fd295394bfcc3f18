"""The Search page, on a searched suite (fake trials, no TensorFlow training) and on a
fixed-hyperparameter one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

PAGE = str(REPO_ROOT / "app" / "views" / "search.py")
HOME = str(REPO_ROOT / "app" / "Home.py")
TIMEOUT = 180


@pytest.fixture(scope="module")
def searched_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.backends import LocalBackend
    from dermviz.models.search import search_suite
    from dermviz.models.search_config import PROFILES
    from tests.models.test_search import FakeTrials

    root = tmp_path_factory.mktemp("search-models")
    profile = PROFILES["smoke"]
    search_suite(make_synthetic(profile.data), profile.config.replace(sampler="tpe"),
                 out_dir=root / "searched", backend=LocalBackend(1, gpus=[], run=FakeTrials()),
                 progress=False)
    return root


def _page(monkeypatch: pytest.MonkeyPatch, models: Path) -> AppTest:
    monkeypatch.setenv("DERMVIZ_MODELS", str(models))
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def test_search_page_shows_trials_best_hyperparameters_and_auc(monkeypatch, searched_models):
    at = _page(monkeypatch, searched_models).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Search"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Members searched"] == "2"
    assert metrics["Trials per member"] == "2"
    assert len(at.get("plotly_chart")) == 2  # trial values, AUC distribution
    frames = at.dataframe
    assert len(frames) == 3  # trials per member, best hyperparameters, summary
    best = frames[1].value
    assert list(best["member"]) == ["m00", "m01"]
    assert {"learning_rate", "optimizer", "dense_units", "epochs"} <= set(best.columns)
    summary = frames[2].value
    assert {"mean", "variance", "sd", "paper_mean", "reproduction_mean"} <= set(summary.columns)


def test_search_page_on_a_fixed_suite(monkeypatch, searched_models, tmp_path):
    fixed = tmp_path / "models" / "fixed"
    shutil.copytree(searched_models / "searched", fixed,
                    ignore=shutil.ignore_patterns("trials", "cache", "*.db", "*.npy"))
    manifest = json.loads((fixed / "suite.json").read_text())
    del manifest["search"]
    (fixed / "suite.json").write_text(json.dumps(manifest))
    at = _page(monkeypatch, tmp_path / "models").run()
    assert not at.exception, at.exception
    assert any("fixed hyperparameters" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 1  # the AUC distribution is still shown


def test_search_page_reachable_from_home(monkeypatch, searched_models):
    """Once Home.py registers the page (the lead's step), navigation works too."""
    if "search.py" not in Path(HOME).read_text():
        pytest.skip("app/views/search.py is not registered in app/Home.py yet")
    monkeypatch.setenv("DERMVIZ_MODELS", str(searched_models))
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Search"


def test_home_page_shows_the_search(monkeypatch, searched_models):
    monkeypatch.setenv("DERMVIZ_MODELS", str(searched_models))
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any(h.value == "Hyperparameter search" for h in at.subheader)
    tables = [frame.value for frame in at.dataframe]
    trials = next(t for t in tables if "trials" in t.columns)
    assert list(trials["trials"]) == [2, 2]
    best = next(t for t in tables if "learning_rate" in t.columns)
    assert list(best["member"]) == ["m00", "m01"]
