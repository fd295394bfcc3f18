"""Issue 24 on the pages (AppTest, the session's smoke demo suite): the unusual-image
warning above the verdict, calibrated closeness of similar cases, empty maps said in words,
the browser's "unusual for this suite" filter, refused uploads said in words, and a suite
without safety data that the pages prepare in the background."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermviz import api

UNUSUAL = "This image is unlike the images this suite was trained on; its verdict is not reliable."


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def test_a_photograph_upload_is_flagged_above_the_verdict(open_page, smoke_models_dir):
    from skimage import data

    at = open_page(smoke_models_dir, "upload")
    at.file_uploader(key="upload").upload("astronaut.png", _png(data.astronaut()),
                                          "image/png").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning if UNUSUAL in w.value]
    assert len(warnings) == 1 and "99th percentile" in warnings[0]
    assert any(h.value.startswith("#### Suite vote") for h in at.markdown)


def test_a_holdout_case_is_within_the_suites_data(open_page, smoke_models_dir, smoke_suite):
    image_id = str(api.holdout(smoke_suite)["image_id"].iloc[1])
    at = open_page(smoke_models_dir, "case", image=image_id)
    assert not at.exception, at.exception
    assert not any(UNUSUAL in w.value for w in at.warning)
    assert any(c.value.startswith("Within the suite's data: Unusualness") for c in at.caption)
    captions = [c for img in at.get("image") for c in img.captions]
    similar = [c for c in captions if "th percentile)" in c]
    assert len(similar) == at.slider(key="case_k").value
    assert all(any(w in c for w in api.CLOSENESS) for c in similar)
    assert not any(" sim " in c for c in captions)  # no raw cosine


def test_the_signed_toggle_shows_gradcam_without_the_relu(open_page, smoke_models_dir,
                                                         smoke_suite, monkeypatch):
    """The Case page's "Signed GradCAM (no ReLU)" toggle paints each member's signed map
    (dermviz.api.signed_cam) in the diverging colour map instead of the ReLU map."""
    painted = []
    real = api.signed_cam
    monkeypatch.setattr(api, "signed_cam", lambda maps, k=0: painted.append(
        real(maps, k)) or painted[-1])
    image_id = str(api.holdout(smoke_suite)["image_id"].iloc[1])
    at = open_page(smoke_models_dir, "case", image=image_id)
    assert not at.exception, at.exception
    assert not painted  # off by default: the ReLU map
    at.toggle(key="case_signed").set_value(True).run()
    assert not at.exception, at.exception
    members = at.multiselect(key="case_members").value
    assert len(painted) == len(members) and all(m is not None for m in painted)
    captions = [c for img in at.get("image") for c in img.captions]
    said = " ".join(i.value for i in at.info)
    for m in members:
        assert f"Signed GradCAM {m}" in captions or f"**Signed GradCAM {m}**" in said
        assert f"GradCAM {m}" not in captions
    assert any("red raises, blue lowers" in c.value for c in at.caption)


def test_an_empty_map_is_said_not_painted(open_page, smoke_models_dir, smoke_suite,
                                          monkeypatch):
    """Every member's GradCAM map reads as empty: each is a sentence, no coloured square,
    and no "nan" anywhere on the page. (The consensus reads the stored maps through its own
    check, so its overlays stay: tests/explain/test_consensus.py covers its skipping.)"""
    monkeypatch.setattr(api, "is_degenerate_map", lambda m, **kw: True)
    image_id = str(api.holdout(smoke_suite)["image_id"].iloc[2])
    at = open_page(smoke_models_dir, "case", image=image_id)
    assert not at.exception, at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    members = at.multiselect(key="case_members").value
    assert members and not {f"GradCAM {m}" for m in members} & set(captions)
    said = [i.value for i in at.info]
    sentence = api.degenerate_map_sentence("GradCAM", signed=False)
    for m in members:
        assert f"**GradCAM {m}**: {sentence}" in said
    nans = [m.value for m in at.markdown if re.search(r"\bnan\b", m.value)]
    assert not nans, nans


def test_the_browser_filters_unusual_lesions(open_page, smoke_models_dir, smoke_suite):
    at = open_page(smoke_models_dir, "browser")
    assert not at.exception, at.exception
    box = at.checkbox(key="browser_unusual_only")
    assert not box.disabled
    n_unusual = int(api.holdout_ood(smoke_suite)["unusual"].sum())
    assert any(f"{n_unusual} of " in c.value for c in at.caption)
    box.check().run()
    assert not at.exception, at.exception
    assert at.query_params["unusual_only"] == "1"
    assert any(m.value.startswith(f"**{n_unusual} of ") for m in at.markdown)


@pytest.mark.parametrize(("name", "data", "why"), [
    ("moving.gif", b"GIF89a" + bytes(64), "only .jpg, .jpeg and .png images are accepted"),
    ("huge.jpg", b"\xff\xd8" + bytes(21 * 2**20), "the limit is"),
])
def test_a_refused_upload_says_why(open_page, smoke_models_dir, name, data, why):
    at = open_page(smoke_models_dir, "upload")
    at.file_uploader(key="upload").upload(name, data).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error if why in e.value and name in e.value]


@pytest.fixture
def old_suite(smoke_models_dir: Path, tmp_path: Path) -> Path:
    """A copy of the smoke suite as built before the safety data existed."""
    from tests.helpers import share_suite

    share_suite(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke")
    shutil.rmtree(tmp_path / "demo-smoke" / "safety")
    return tmp_path


def test_an_older_suite_is_prepared_in_the_background(open_page, old_suite, monkeypatch):
    """Nothing is computed in the page's run: a background job is started (here a stand-in
    that only reports progress), its progress shown where the similar cases go."""
    import sys

    from dermviz import background

    started = []

    def stand_in(models_dir, name):
        started.append(name)
        return background.start_job(models_dir, name + background.SAFETY_SUFFIX, [
            sys.executable, "-c", "import json, os, sys, time; "
            "json.dump({'pid': os.getpid(), 'started': time.time(), 'done': False, "
            "'error': None, 'job': 'safety', 'phase': 'safety', 'safety_fraction': 0.25, "
            "'detail': 'embedding'}, open(sys.argv[1], 'w')); time.sleep(20)", "{status}"])

    monkeypatch.setattr(api, "start_safety_job", stand_in)
    at = open_page(old_suite, "case")
    assert not at.exception, at.exception
    assert started == ["demo-smoke"]
    bar = at.get("progress")[0]
    assert "Preparing similar cases" in bar.proto.text and bar.proto.value == 25
    assert any("being prepared" in c.value for c in at.caption)  # no verdict warning yet


def test_a_consensus_that_skips_an_empty_map_names_the_member(open_page, smoke_models_dir,
                                                                smoke_suite, monkeypatch):
    """A consensus that skipped one member's empty map (three members, one empty): the Case
    page draws it and names the skipped member (its caption once crashed the page)."""
    from app import state
    from dermviz.explain.consensus import map_consensus

    size = smoke_suite.image_size
    maps = np.random.default_rng(0).random((3, size, size)).astype(np.float32)
    maps[0] = 0.0
    skipping = map_consensus(maps, signed=False, members=["m00", "m01", "m02"],
                             skip_degenerate=True)
    monkeypatch.setattr(state, "consensus", lambda *args, **kwargs: skipping)
    image_id = str(api.holdout(smoke_suite)["image_id"].iloc[3])
    at = open_page(smoke_models_dir, "case", image=image_id)
    assert not at.exception, at.exception
    notes = [c.value for c in at.caption if "skipped (empty or constant map)" in c.value]
    assert notes == ["1 member skipped (empty or constant map): m00."]
