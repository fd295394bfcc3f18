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


#: The Saliency page's extra image on the smoke demo, an evidence-benchmark suite: the input
#: without its evidence.
EVIDENCE_IMAGES = 1


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
    auc = next(m for m in at.metric if m.label == "Hold-out AUC, mean ± sd")
    aucs = smoke_suite.metrics_table()["auc"]
    assert auc.value == f"{aucs.mean():.3f} ± {aucs.std(ddof=1):.3f}"
    assert len(at.get("plotly_chart")) == 1
    # The training record: the config's options, fit time and CPU from member.json.
    training = next(d.value for d in at.dataframe if "item" in d.value.columns)
    record = dict(zip(training["item"], training["value"], strict=True))
    config = smoke_suite.config
    assert record["epochs (at most)"] == str(config["epochs"])
    assert record["learning-rate schedule"] == config["lr_schedule"]
    assert record["hold-out AUC range"] == f"{aucs.min():.3f} - {aucs.max():.3f}"
    members = [smoke_suite.member(m) for m in smoke_suite.member_ids]
    assert record["CPU"] == members[0]["machine"]["cpu"]
    total = sum(m["fit_seconds"] for m in members)
    assert record["fit wall time, all members"] in (f"{total / 60:.1f} min",
                                                   f"{total / 3600:.1f} h")


def test_saliency_page_shows_verdicts_and_overlays(app_on, smoke_models_dir, smoke_suite):
    at = app_on(smoke_models_dir)
    at.switch_page(str(REPO_ROOT / "app" / "views" / "saliency.py")).run()
    assert not at.exception, at.exception
    images = at.get("image")
    # The input plus one overlay per default member.
    n_members = min(4, len(smoke_suite.member_ids))
    assert len(images) == n_members + 1 + EVIDENCE_IMAGES
    text = " ".join(m.value for m in at.markdown)
    assert "p(melanoma)" in text
    # Opacity slider and member choice redraw without errors.
    at.slider[0].set_value(0.9).run()
    assert not at.exception
    at.multiselect[0].set_value(smoke_suite.member_ids[:1]).run()
    assert not at.exception
    assert len(at.get("image")) == 2 + EVIDENCE_IMAGES


def _wait_for_background_maps(timeout: float = 90.0) -> None:
    """Wait for the page's background map jobs (polling the page would slow them down)."""
    import time

    from app import state

    deadline = time.monotonic() + timeout
    while state.map_jobs().active() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_saliency_page_shows_gradcam_and_kernelshap_side_by_side(
    app_on, smoke_models_dir, smoke_suite
):
    """A missing KernelSHAP map is computed on request; cached ones show next to GradCAM."""
    first, second = smoke_suite.member_ids[:2]
    image_id = smoke_suite.dataset().holdout["image_id"].iloc[0]  # the page's first image
    nsamples = 60  # the page's default is the paper's 2500
    page = str(REPO_ROOT / "app" / "views" / "saliency.py")

    at = app_on(smoke_models_dir)
    at.switch_page(page).run()
    at.multiselect[0].set_value([first]).run()
    at.number_input(key="shap_nsamples").set_value(nsamples).run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 2 + EVIDENCE_IMAGES  # input + GradCAM; no SHAP map yet
    compute = at.button(key=f"shap-{first}-{image_id}-{nsamples}")
    assert compute.label == "Compute KernelSHAP"
    compute.click().run()
    assert not at.exception, at.exception
    assert at.get("status") or at.get("progress")  # the fragment shows the job running
    _wait_for_background_maps()
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 3 + EVIDENCE_IMAGES
    assert any("f(all white)" in c.value for c in at.caption)
    assert any("No per-map error estimate" in c.value for c in at.caption)

    # A new session: the map loads from the store; the other member offers a button.
    at = app_on(smoke_models_dir)
    at.switch_page(page).run()
    at.multiselect[0].set_value([first, second]).run()
    at.number_input(key="shap_nsamples").set_value(nsamples).run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 4 + EVIDENCE_IMAGES  # input + 2 GradCAM + 1 SHAP
    assert [b.key for b in at.button if b.label == "Compute KernelSHAP"] == [
        f"shap-{second}-{image_id}-{nsamples}"
    ]
    # Colour scheme and shared scaling redraw from the store.
    at.radio[0].set_value("perceptual").run()
    at.radio[1].set_value("shared").run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 4 + EVIDENCE_IMAGES
    assert any("One scale for all members" in c.value for c in at.caption)


def test_saliency_page_shows_the_leverage_error_estimate(app_on, smoke_models_dir, smoke_suite):
    """A Leverage SHAP map is shown with its split-half error estimate beside it."""
    member = smoke_suite.member_ids[0]
    image_id = smoke_suite.dataset().holdout["image_id"].iloc[0]
    nsamples = 60
    at = app_on(smoke_models_dir)
    at.switch_page(str(REPO_ROOT / "app" / "views" / "saliency.py")).run()
    at.multiselect[0].set_value([member]).run()
    at.number_input(key="shap_nsamples").set_value(nsamples).run()
    at.selectbox(key="shap_sampler").set_value("leverage").run()
    assert not at.exception, at.exception
    at.button(key=f"shap-{member}-{image_id}-{nsamples}").click().run()
    _wait_for_background_maps()
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 3 + EVIDENCE_IMAGES
    notes = [c.value for c in at.caption if "Estimated error" in c.value]
    assert len(notes) == 1 and "run-to-run SSIM (split-half)" in notes[0]
