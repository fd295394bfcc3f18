"""The researchers' pages (layer randomization, reproducibility & variation) via AppTest."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
PAGES = REPO_ROOT / "app" / "views"
TIMEOUT = 180  # the first run imports TensorFlow; Run loads a model and explains


@pytest.fixture(scope="module")
def models_dir(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite's members (shared, read-only) with an empty ``sanity/`` cache."""
    root = tmp_path_factory.mktemp("pages-models")
    src = smoke_models_dir / "demo-smoke"
    (root / "demo-smoke").mkdir()
    shutil.copy(src / "suite.json", root / "demo-smoke" / "suite.json")
    (root / "demo-smoke" / "members").symlink_to(src / "members", target_is_directory=True)
    return root


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, models_dir: Path):
    def open_page(name: str) -> AppTest:
        monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
        at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
        at.switch_page(str(PAGES / name)).run()
        assert not at.exception, at.exception
        return at

    return open_page


def test_pages_without_suite_explain_how_to_build_one(monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIZ_MODELS", str(tmp_path))
    for name in ("randomization.py", "variation.py"):
        at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
        at.switch_page(str(PAGES / name)).run()
        assert not at.exception
        assert any("dermviz demo" in info.value for info in at.info)


def test_randomization_page_runs_gradcam(page):
    at = page("randomization.py")
    assert any("dermviz sanity" in info.value for info in at.info)  # nothing saved yet
    images = at.multiselect(key="rnd_images")
    assert len(images.value) == 4  # two melanomas, two naevi
    images.set_value(images.value[1:3])
    at.multiselect(key="rnd_stages_paper").set_value(["head_dense", "stem/conv1"])
    at.run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # Two rows: the input and three stages (original, head_dense, stem/conv1).
    assert len(at.get("image")) == 2 * 4
    # similarity; the mass on the evidence per stage (the smoke demo is an evidence suite)
    assert len(at.get("plotly_chart")) == 2
    assert len(at.dataframe) == 4  # stages, baselines, steps, evidence per stage
    saved = next(s for s in at.selectbox if s.label == "Saved study")
    assert re.fullmatch(r"randomization-[0-9a-f]{16}", Path(saved.value).name)
    assert any("gradcam · m00 · 2 images" in label for label in saved.options)
    # Fewer rows redraw from the saved study.
    rows = next(m for m in at.multiselect if m.label == "Rows")
    rows.set_value(rows.value[:1]).run()
    assert not at.exception and len(at.get("image")) == 4


def test_variation_page_runs_reproducibility(page):
    at = page("variation.py")
    images = at.multiselect(key="var_images")
    images.set_value(images.value[:2]).run()
    at.button(key="var_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 1  # GradCAM reproducibility
    assert any("run1 vs run2" in str(df.value["pair"].tolist()) for df in at.dataframe)
    saved = next(s for s in at.selectbox if s.label == "Saved check")
    assert re.fullmatch(r"reproducibility-[0-9a-f]{16}", Path(saved.value).name)
