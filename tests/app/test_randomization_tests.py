"""The layer-randomization page offers the modern tests and renders stored sMPRT/eMPRT
studies (computed cheaply on the smoke suite: two images, one stage, two noisy copies)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
PAGE = str(REPO_ROOT / "app" / "views" / "randomization.py")
TIMEOUT = 180  # the first run imports TensorFlow


@pytest.fixture(scope="module")
def models_dir(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite's members (shared, read-only) with its own ``sanity/`` cache
    holding one sMPRT and one eMPRT study."""
    from dermviz import sanity
    from dermviz.models.suite import Suite

    root = tmp_path_factory.mktemp("mprt-models")
    src = smoke_models_dir / "demo-smoke"
    (root / "demo-smoke").mkdir()
    shutil.copy(src / "suite.json", root / "demo-smoke" / "suite.json")
    (root / "demo-smoke" / "members").symlink_to(src / "members", target_is_directory=True)
    suite = Suite(root / "demo-smoke")
    holdout = suite.dataset().holdout
    ids = [holdout.loc[holdout["dx"] == dx, "image_id"].iloc[0] for dx in ("mel", "nv")]
    model = suite.load_model(suite.member_ids[0])
    for spec in (
        sanity.smprt_spec(suite, image_ids=ids, stages=["head_dense"], n_noisy=2),
        sanity.emprt_spec(suite, image_ids=ids, layer_set="paper", stages=["head_dense"]),
    ):
        sanity.run(suite, spec, progress=False, load_model=lambda _: model)
    return root


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> AppTest:
    monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _open(at: AppTest, models_dir: Path, kind: str) -> AppTest:
    (folder,) = (models_dir / "demo-smoke" / "sanity").glob(f"{kind}-*")
    next(s for s in at.selectbox if s.label == "Saved study").set_value(str(folder)).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_page_offers_the_tests_and_their_options(page):
    test = page.radio(key="rnd_test")
    assert test.options == ["classic MPRT", "sMPRT (smoothed maps)", "eMPRT (map entropy)"]
    test.set_value("smprt").run()
    assert page.radio(key="rnd_order_smprt").value == "bottom_up"  # the paper's advice
    assert page.number_input(key="rnd_n_noisy").value == 50
    test.set_value("emprt").run()
    assert not page.exception
    assert page.radio(key="rnd_layer_set_emprt").value == "blocks"
    assert page.number_input(key="rnd_n_bins").value == 100
    labels = next(s for s in page.selectbox if s.label == "Saved study").options
    assert len(labels) == 2
    assert any("sMPRT" in x for x in labels) and any("eMPRT" in x for x in labels)


def test_stored_smprt_study_renders_layerwise(page, models_dir):
    at = _open(page, models_dir, "smprt")
    assert any("sMPRT" in m.value and "2 copies" in m.value for m in at.markdown)
    assert len(at.get("image")) == 2 * 3  # input, original, head_dense per image
    # similarity; the mass on the evidence per stage (the smoke demo is an evidence suite)
    assert len(at.get("plotly_chart")) == 2
    assert len(at.dataframe) == 4  # stages, baselines, steps, evidence per stage


def test_stored_emprt_study_renders_ratios(page, models_dir):
    at = _open(page, models_dir, "emprt")
    assert any("eMPRT" in m.value for m in at.markdown)
    assert len(at.get("image")) == 2 * 3  # input, trained, randomized per image
    assert len(at.get("plotly_chart")) == 1
    scores, summary = (df.value for df in at.dataframe)
    assert list(scores.columns) == ["image_id", "entropy_trained", "entropy_randomized", "ratio"]
    assert len(scores) == 2
    assert set(summary["source"]) == {"randomized", "baseline:random", "baseline:edge",
                                      "baseline:constant"}
