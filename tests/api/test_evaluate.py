"""``dermviz.evaluate`` and the report card's API on the smoke suite: a study computed
through the one sanity runner, read back from its cache, its tables and sentences."""

from __future__ import annotations

import pandas as pd
import pytest

import dermviz
from dermviz import api
from dermviz.models.suite import Suite
from tests.conftest import REPORT_OPTIONS


@pytest.fixture
def report_suite(report_models_dir):
    return api.open_suite(report_models_dir / "demo-smoke")


def _no_model(monkeypatch):
    def no_load(self, member_id):  # noqa: ANN001, ANN202
        raise AssertionError("a cached study loaded a model")

    monkeypatch.setattr(Suite, "load_model", no_load)


def test_evaluate_returns_the_summary_and_the_rows_from_its_cache(report_suite, monkeypatch):
    assert dermviz.evaluate is api.evaluate  # the notebook's name
    _no_model(monkeypatch)  # computed once by the session's fixture: read back
    member = report_suite.member_ids[0]
    summary = dermviz.evaluate(report_suite, members=[member], n_bootstrap=200,
                               **REPORT_OPTIONS)
    assert list(summary["metric"]) == ["deletion", "sparseness"]
    assert (summary["member"] == member).all() and (summary["images"] == 2).all()
    for column in ("score", "score_low", "score_high", "score_random", "score_gaussian",
                   "gain_vs_random_low", "gain_vs_gaussian_high", "passes"):
        assert column in summary
    assert summary[["score", "score_random", "score_gaussian"]].notna().all().all()
    rows = dermviz.evaluate(report_suite, members=[member], per_image=True, **REPORT_OPTIONS)
    assert len(rows) == 2 * 2  # images x metrics
    assert set(rows["method"]) == {"gradcam"} and rows["score_random"].notna().all()
    # the summary is the rows', summarised
    mean = rows.groupby("metric", sort=False)["score"].mean()
    assert mean.to_numpy() == pytest.approx(summary["score"].to_numpy())


def test_the_demo_build_ran_a_small_study_the_page_reads(smoke_suite, monkeypatch):
    from dermviz.demo import DEMO_REPORT_CARD

    _no_model(monkeypatch)
    [info] = api.saved_studies(smoke_suite, [api.EVALUATION_KIND])
    assert info.method == "gradcam,gradcam_pp" and info.n_images == DEMO_REPORT_CARD["n_images"]
    summary, families = api.report_card(info.folder, n_bootstrap=200)
    assert set(summary["member"]) == set(smoke_suite.member_ids)
    assert set(families["family"]) == {"faithfulness", "complexity"}
    assert families.groupby(["member", "family"])["best"].any().all()
    sentences = api.report_sentences(summary, families)
    assert any("robustness" in s for s in sentences)  # not computed: said so
    image_id = info.spec.image_ids[0]
    curve = api.report_curve(info.folder, "m00", "gradcam", image_id, "deletion")
    assert set(curve["source"]) == {"method", "random map", "centred Gaussian"}
    image, saliency = api.report_map(info.folder, "m00", "gradcam_pp", image_id)
    assert image.shape[:2] == saliency.shape == (smoke_suite.image_size,) * 2
    # the same options through the API are a cache hit
    again = api.evaluate(smoke_suite, n_bootstrap=200, **DEMO_REPORT_CARD)
    pd.testing.assert_frame_equal(again, summary)


def test_unknown_methods_and_metrics_are_refused_with_the_valid_names(smoke_suite):
    with pytest.raises(KeyError, match="unknown saliency method 'gradcam2'.*gradcam_pp"):
        api.evaluate(smoke_suite, methods=["gradcam2"])
    with pytest.raises(ValueError, match="unknown metric.*'pixelflip'.*available.*deletion"):
        api.evaluate(smoke_suite, metrics=["pixelflip"])
    with pytest.raises(KeyError, match="m99"):
        api.evaluate(smoke_suite, members=["m99"])
    assert "deletion" in api.evaluation_metrics("faithfulness")
    assert "layercam" in api.evaluation_methods()
