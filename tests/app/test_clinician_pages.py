"""The clinicians' pages (Lesion browser, Case, New image, Statistics) through AppTest, on
the session's smoke demo suite."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermviz.analysis.browse import MISSED_MELANOMAS, LesionFilter, lesion_table
from tests.app.pages import card_ids


def test_browser_filters_change_the_grid_and_survive_a_reload(open_page, smoke_models_dir,
                                                              smoke_suite):
    table = lesion_table(smoke_suite, dataset=smoke_suite.dataset())
    at = open_page(smoke_models_dir, "browser")
    assert not at.exception, at.exception
    default = LesionFilter().apply(table)["image_id"].tolist()
    assert card_ids(at) == default[:24]
    assert dict(at.query_params) == {}  # the default view needs no parameter

    at.selectbox(key="browser_true_class").set_value("naevus").run()
    assert not at.exception, at.exception
    naevi = LesionFilter(true_class="naevus").apply(table)["image_id"].tolist()
    assert card_ids(at) == naevi and len(naevi) < len(default)
    at.toggle(key="browser_descending").set_value(False).run()
    query = dict(at.query_params)
    assert query == {"true_class": "naevus", "descending": "0"}
    ascending = LesionFilter(true_class="naevus", descending=False).apply(table)
    assert card_ids(at) == ascending["image_id"].tolist()

    # A reload (or a shared link): a new session with the same URL shows the same view.
    again = open_page(smoke_models_dir, "browser", **query)
    assert not again.exception, again.exception
    assert again.selectbox(key="browser_true_class").value == "naevus"
    assert again.toggle(key="browser_descending").value is False
    assert card_ids(again) == card_ids(at)

    # Missed melanomas in one click; the URL follows.
    next(b for b in again.button if b.label == "Missed melanomas").click().run()
    assert not again.exception, again.exception
    assert dict(again.query_params) == MISSED_MELANOMAS.to_query()
    missed = MISSED_MELANOMAS.apply(table)["image_id"].tolist()
    assert card_ids(again) == missed
    assert again.selectbox(key="browser_verdict").value == "naevus"


def test_browser_survives_a_bad_link(open_page, smoke_models_dir):
    at = open_page(smoke_models_dir, "browser", min_wrong="lots", sort="colour", page="99")
    assert not at.exception, at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "min_wrong" in notes and "sort" in notes
    assert card_ids(at)  # the rest of the view still shows


@pytest.fixture(scope="module")
def case_models(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the smoke suite (this module stores a KernelSHAP map in it)."""
    root = tmp_path_factory.mktemp("case-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke")
    return root


def test_case_page_shows_the_chosen_members_overlays_and_similar_cases(open_page, case_models):
    from dermviz.explain.cache import MapCache
    from dermviz.explain.maps import SaliencyMaps
    from dermviz.explain.precompute import default_params
    from dermviz.models.suite import Suite

    suite = Suite(case_models / "demo-smoke")
    first, second = suite.member_ids[:2]
    image_id = str(suite.dataset().holdout["image_id"].iloc[3])
    # A stored KernelSHAP map for the first member (its values do not matter here; the
    # paper's 2500 samples would take a minute): the page shows what the store holds.
    size = suite.image_size
    signed = np.random.default_rng(0).normal(size=(1, size, size)).astype(np.float32)
    MapCache.of(suite).put(first, [image_id], SaliencyMaps(
        method="kernelshap", maps=signed, target_class=np.array([1]),
        p_melanoma=np.array([0.7], np.float32), grid=None,
        params=default_params(suite, "kernelshap")))

    at = open_page(case_models, "case", image=image_id)
    assert not at.exception, at.exception
    assert at.query_params["image"] == image_id
    assert at.sidebar.selectbox[1].value == image_id
    captions = [c for img in at.get("image") for c in img.captions]
    said = " ".join(i.value for i in at.info)  # an empty map is said, not painted
    for name in (f"GradCAM {first}", f"GradCAM {second}", f"KernelSHAP {first}"):
        assert name in captions or f"**{name}**" in said, name
    similar = [c for c in captions if "th percentile)" in c]
    assert len(similar) == at.slider(key="case_k").value
    assert any("Tschandl" in c.value for c in at.caption)
    assert any(h.value.startswith("#### Suite vote") for h in at.markdown)
    # The second member has no stored KernelSHAP map: a button offers it.
    assert [b.key for b in at.button if b.label == "Compute KernelSHAP"] == [
        f"case-shap-{second}-{image_id}"]
    # Localization beside chance and the centred Gaussian (the smoke data has lesion masks,
    # and, drawn in the evidence mode, evidence masks): each map on each region.
    scores = next(f.value for f in at.dataframe if "share of mass" in f.value.columns)
    assert {"chance (area)", "centred Gaussian"} <= set(scores)
    assert sorted(scores["region"].value_counts().items()) == [("evidence", 3), ("lesion", 3)]
    labels = {d.label for d in at.get("download_button")}
    assert {"Members (CSV)", "PNG", "Case report (HTML)"} <= labels

    at.multiselect(key="case_members").set_value([second]).run()
    assert not at.exception, at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    said = " ".join(i.value for i in at.info)
    assert f"GradCAM {second}" in captions or f"**GradCAM {second}**" in said
    assert f"GradCAM {first}" not in captions
    at.toggle(key="case_outline").set_value(False).run()
    assert not at.exception, at.exception


def test_case_page_with_an_unknown_image(open_page, smoke_models_dir):
    at = open_page(smoke_models_dir, "case", image="no_such_image")
    assert not at.exception, at.exception
    assert any("no_such_image" in w.value for w in at.warning)


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _jpeg(size: int = 128) -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (size, size, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG")
    return buf.getvalue()


BAD_UPLOADS = {
    "not an image": ("notes.png", b"this is not an image at all", "not an image"),
    "wrong extension": ("lesion.jpg", _png(100, 100), "extension .jpg but contains a PNG"),
    "truncated": ("cut.jpg", _jpeg()[:600], "truncated or corrupt"),
    "empty": ("empty.png", b"", "empty"),
    "tiny": ("tiny.png", _png(32, 32), "at least 64"),
    "extreme aspect": ("strip.png", _png(600, 80), "longer side"),
    "too many pixels": ("bomb.png", _png_header(20_000, 20_000), "pixels"),
    "too many bytes": ("huge.jpg", b"\xff\xd8" + bytes(21 * 2**20), "the limit is"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_get_their_message(open_page, tmp_path, smoke_models_dir, case):
    name, data, message = BAD_UPLOADS[case]
    at = open_page(smoke_models_dir, "upload")
    at.file_uploader(key="upload").upload(name, data).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0] and name in errors[0], errors


def test_an_upload_gets_the_vote_overlays_and_similar_cases(open_page, smoke_models_dir,
                                                            smoke_suite):
    from dermviz.data.synthetic import render_lesion

    lesion, _ = render_lesion(seed=3, label="mel", difficulty=0.2)
    buf = io.BytesIO()
    Image.fromarray(lesion).save(buf, "JPEG")
    at = open_page(smoke_models_dir, "upload")
    at.file_uploader(key="upload").upload("mine.jpg", buf.getvalue(), "image/jpeg").run()
    assert not at.exception, at.exception
    assert not at.error
    assert any(h.value.startswith("#### Suite vote") for h in at.markdown)
    from dermviz import api  # members no better than chance are named beside the vote

    expected = api.chance_sentence(api.statistics(smoke_suite)["members"])
    assert [w.value for w in at.warning if "no better than chance" in w.value] == (
        [expected] if expected else [])
    members = next(f.value for f in at.dataframe if "p_melanoma" in f.value.columns)
    assert members["member"].tolist() == smoke_suite.member_ids
    assert members["p_melanoma"].between(0, 1).all()
    captions = [c for img in at.get("image") for c in img.captions]
    said = " ".join(i.value for i in at.info)  # an empty map is said, not painted
    for m in smoke_suite.member_ids[:4]:
        assert f"GradCAM {m}" in captions or f"**GradCAM {m}**" in said, m
    assert sum("th percentile)" in c for c in captions) == at.slider(key="upload_k").value


def test_statistics_page_renders(open_page, smoke_models_dir, smoke_suite):
    at = open_page(smoke_models_dir, "statistics")
    assert not at.exception, at.exception
    assert at.title[0].value == "Where the suite goes wrong"
    assert next(m for m in at.metric if m.label == "Members").value == str(
        len(smoke_suite.member_ids))
    assert len(at.get("plotly_chart")) == 5


def test_statistics_page_warns_of_a_member_no_better_than_chance(open_page, smoke_models_dir,
                                                                 tmp_path):
    import pandas as pd

    from dermviz import api
    from dermviz.models.suite import Suite

    shutil.copytree(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke",
                    ignore=shutil.ignore_patterns("maps"))
    suite = Suite(tmp_path / "demo-smoke")
    *learned, coin = suite.member_ids
    for member in suite.member_ids:  # every member separates the hold-out but the last
        path = suite.path / "members" / member / "holdout_predictions.csv"
        table = pd.read_csv(path)
        table["p_melanoma"] = 0.5 if member == coin else 0.1 + 0.8 * table["y"]
        table["predicted"] = (table["p_melanoma"] >= suite.threshold(member)).astype(int)
        table.to_csv(path, index=False)
    at = open_page(tmp_path, "statistics")
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning if "no better than chance" in w.value]
    assert warning == api.chance_sentence(api.statistics(suite)["members"])
    assert warning.startswith(f"1 of {len(suite.member_ids)} members") and coin in warning
    assert not any(f"{m} " in warning for m in learned)
