"""The Statistics and Case pages' confounder sections, through AppTest."""

from __future__ import annotations

from dermviz import api


def test_statistics_page_shows_the_blind_baselines_and_the_overlap_sentence(
        open_page, confound_models):
    at = open_page(confound_models, "statistics")
    assert not at.exception, at.exception
    assert at.subheader[0].value == "Does this score show that the suite looks at the lesion?"
    comparison = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    assert {"suite", "blind"} <= set(comparison["kind"])
    assert "skin outside the lesion (no CNN)" in set(comparison["model"])
    sentences = [e.value for e in [*at.warning, *at.info] if "95% intervals" in e.value]
    assert len(sentences) == 1
    expected = api.blind_sentence(comparison)
    assert sentences[0] == expected
    assert any("no `dx_type`" in c.value for c in at.caption)
    histo = at.toggle(key="stats_histo")
    assert histo.disabled  # the synthetic set has no dx_type
    assert at.selectbox(key="stats_by").options == ["ink", "ruler"]
    strata = next(d.value for d in at.dataframe if "stratum" in d.value.columns)
    n = len(api.holdout(api.open_suite(confound_models / "demo-smoke")))
    assert (strata.groupby("model")["n"].sum() == n).all()


def test_statistics_page_histo_toggle_keeps_the_histo_confirmed_images(open_page,
                                                                        histo_models):
    at = open_page(histo_models, "statistics")
    assert not at.exception, at.exception
    comparison = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    assert set(comparison["holdout"]) == {"all", "histo-confirmed"}  # without asking
    assert sum("histo-confirmed hold-out images" in e.value
               for e in [*at.warning, *at.info]) == 1
    assert at.selectbox(key="stats_by").value == "dx_type"
    at.toggle(key="stats_histo").set_value(True).run()
    assert not at.exception, at.exception
    strata = next(d.value for d in at.dataframe if "stratum" in d.value.columns)
    assert set(strata["stratum"]) == {"histo"}
    holdout = api.holdout(api.open_suite(histo_models / "demo-smoke"))
    assert (strata.groupby("model")["n"].sum() == (holdout["dx_type"] == "histo").sum()).all()


def test_case_page_shows_the_lesion_removed(open_page, confound_models):
    suite = api.open_suite(confound_models / "demo-smoke")
    image_id = str(api.holdout(suite)["image_id"].iloc[2])
    at = open_page(confound_models, "case", image=image_id)
    assert not at.exception, at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    assert "lesion removed (inpainted)" in captions
    table = next(d.value for d in at.dataframe if "p_removed" in d.value.columns)
    assert list(table["member"]) == suite.member_ids
    expected = api.case_counterfactual(suite, image_id)["sentence"]
    assert any(e.value == expected for e in [*at.warning, *at.caption])
