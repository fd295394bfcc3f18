"""The evidence benchmark through the API: masks, the image without its evidence, the
members' verdicts on both, and the browser's "maps miss the evidence" filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz import api
from dermviz.analysis.browse import MISSES_EVIDENCE, LesionFilter
from dermviz.data.synthetic import load_counterfactuals, load_evidence_masks
from dermviz.data.synthetic.structures import STRUCTURE_NAMES


@pytest.fixture(scope="module")
def image_id(smoke_suite) -> str:
    return str(api.holdout(smoke_suite)["image_id"].iloc[0])


def test_the_smoke_demo_has_evidence_and_the_probe_has_none(smoke_suite, smoke_probe_suite):
    assert api.has_evidence(smoke_suite)
    assert not api.has_evidence(smoke_probe_suite)
    probe_image = str(api.holdout(smoke_probe_suite)["image_id"].iloc[0])
    assert api.evidence_masks(smoke_probe_suite, probe_image) is None
    assert api.evidence_counterfactual(smoke_probe_suite, probe_image) is None
    assert api.evidence_localization(smoke_probe_suite) is None
    assert MISSES_EVIDENCE not in api.lesion_browser_table(smoke_probe_suite).columns


def test_evidence_masks_are_the_union_of_the_structures_drawn(smoke_suite, image_id):
    masks = api.evidence_masks(smoke_suite, image_id)
    size = smoke_suite.image_size
    union = masks.pop(api.EVIDENCE)
    assert union.shape == (size, size) and union.dtype == bool and union.any()
    assert masks and set(masks) <= set(STRUCTURE_NAMES)
    assert all(m.any() for m in masks.values())  # only the structures the image carries
    np.testing.assert_array_equal(union, np.logical_or.reduce(list(masks.values())))
    drawn = api.suite_dataset(smoke_suite).rows([image_id]).iloc[0]["structures"]
    assert set(masks) == set(drawn.split("+"))


def test_the_counterfactual_differs_only_around_the_evidence(smoke_suite, image_id):
    from dermviz.models.predict import predict_proba

    out = api.evidence_counterfactual(smoke_suite, image_id)
    dataset = api.suite_dataset(smoke_suite)
    size = smoke_suite.image_size
    np.testing.assert_array_equal(out["image"], api.image(smoke_suite, image_id))
    np.testing.assert_array_equal(out["without_evidence"],
                                  load_counterfactuals(dataset, [image_id], size=size)[0])
    evidence = load_evidence_masks(dataset, [image_id], size=size)[api.EVIDENCE][0]
    changed = np.any(out["image"] != out["without_evidence"], axis=-1)
    assert changed.any()
    # resizing mixes a pixel with its neighbours: allow a one-pixel rim around the mask
    import cv2

    rim = cv2.dilate(evidence.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not (changed & ~rim).any()

    table = out["table"]
    assert table["member"].tolist() == smoke_suite.member_ids
    for row in table.itertuples():
        p = predict_proba(smoke_suite.model(row.member),
                          np.stack([out["image"], out["without_evidence"]]))
        np.testing.assert_allclose([row.p_image, row.p_without], p, atol=1e-5)
        assert row.drop == pytest.approx(row.p_image - row.p_without)
        assert row.call_image == ("melanoma" if row.p_image >= row.threshold else "naevus")
    assert out["sentence"].startswith("Removing the evidence moves")


def test_drop_sentence_says_when_a_call_rested_on_the_evidence():
    base = {"member": ["a", "b"], "threshold": [0.5, 0.5]}
    flipped = pd.DataFrame(base | {"p_image": [0.9, 0.8], "p_without": [0.2, 0.7],
                                   "drop": [0.7, 0.1], "call_image": ["melanoma"] * 2,
                                   "call_without": ["naevus", "melanoma"]})
    text = api.drop_sentence(flipped)
    assert "by -0.400 (from 0.850 to 0.450)" in text
    assert "1 of 2 member(s) change a melanoma call to naevus" in text
    flat = flipped.assign(p_without=[0.89, 0.8], drop=[0.01, 0.0],
                          call_without=["melanoma", "melanoma"])
    assert "do not rest on the evidence" in api.drop_sentence(flat)
    assert api.drop_sentence(flipped.iloc[:0]) == "No member to ask."


def test_the_browser_scores_stored_maps_against_the_evidence(smoke_suite):
    table = api.lesion_browser_table(smoke_suite)
    holdout = api.holdout(smoke_suite)
    assert len(table) == len(holdout)
    share = table["evidence_share"]
    assert (share > 0).all() and (share < 0.5).all()  # every image carries evidence
    # the demo build stores every member's GradCAM map of the hold-out
    assert (table["gradcam_evidence_maps"] == len(smoke_suite.member_ids)).all()
    mass = table["gradcam_evidence_mass"]
    assert mass.between(0, 1).all()
    expected = (mass < share) | (table["gradcam_evidence_pointing"] < 0.5)
    assert table[MISSES_EVIDENCE].tolist() == expected.tolist()

    flt = LesionFilter(misses_evidence=True)
    shown = flt.apply(table)
    assert shown[MISSES_EVIDENCE].all() and len(shown) == int(table[MISSES_EVIDENCE].sum())
    assert flt.to_query() == {"misses_evidence": "1"}
    assert LesionFilter.from_query({"misses_evidence": "1"}) == (flt, [])
    with pytest.raises(ValueError, match="only an evidence-mode suite"):
        flt.apply(table.drop(columns=[MISSES_EVIDENCE]))


def test_evidence_mass_by_stage_known_answers():
    from dermviz.analysis.evidence import evidence_mass_by_stage

    masks = np.zeros((3, 8, 8), bool)
    masks[:, 2:4, 2:4] = True  # 4 of 64 pixels: chance 1/16
    perfect = masks.astype(np.float32)
    uniform = np.ones_like(perfect)
    table = evidence_mass_by_stage(np.stack([perfect, uniform, np.zeros_like(perfect)]), masks,
                                   stage_names=["original", "half", "all"])
    assert table["stage_name"].tolist() == ["original", "half", "all"]
    assert table["mass_x_chance"].iloc[0] == pytest.approx(16.0)
    assert table["mass_x_chance"].iloc[1] == pytest.approx(1.0)
    assert table["n"].tolist() == [3, 3, 0] and np.isnan(table["mass_x_chance"].iloc[2])
    assert table["chance"].tolist() == pytest.approx([1 / 16] * 3)
    with pytest.raises(ValueError, match="2 stage names for 3 stages"):
        evidence_mass_by_stage(np.stack([perfect] * 3), masks, stage_names=["a", "b"])


def test_sanity_meets_truth_randomized_maps_are_no_better_than_chance(smoke_suite):
    """After cascading randomization the GradCAM maps' mass on the evidence is no longer
    above what a map that never looks at the image gets: every randomized stage's interval
    reaches down to 1x chance or to the centred Gaussian's multiple, whichever is higher (or
    its maps are empty). The evidence lies inside a lesion near the centre, so a map that
    only blurs the lesion's centre already scores above 1x."""
    ids = api.holdout(smoke_suite)["image_id"].tolist()[:6]
    study = api.sanity_check(smoke_suite, "randomization", member="m00", method="gradcam",
                             study="paper", image_ids=ids)
    truth = api.evidence_by_stage(smoke_suite, study)
    assert truth["stage_name"].tolist() == study.stage_names
    assert (truth["chance"] > 0).all()
    randomized = truth.iloc[1:]
    scored = randomized[randomized["n"] > 0]
    assert len(scored) >= 2
    from dermviz.analysis.evidence import evidence_table
    from dermviz.analysis.localization import centre_prior

    masks = load_evidence_masks(api.suite_dataset(smoke_suite), ids,
                                size=smoke_suite.image_size)[api.EVIDENCE]
    size = smoke_suite.image_size
    gaussian = evidence_table(np.broadcast_to(centre_prior((size, size)), masks.shape),
                              masks, image_ids=ids)["mass_x_chance"].mean()
    assert truth["gaussian_x_chance"].to_numpy() == pytest.approx(gaussian, rel=1e-6)
    assert (scored["ci_low"] <= max(1.0, gaussian)).all(), (truth, gaussian)
    # and the same scores per image as the evidence table of each stage's maps
    first = evidence_table(study.maps[0], masks, image_ids=ids)
    assert truth["mass"].iloc[0] == pytest.approx(first["mass"].mean())
