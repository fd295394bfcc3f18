"""The spurious-correlation probe: saliency shares on hand-built maps, then end to end on a
smoke probe suite built by ``dermviz probe``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.analysis.probe import (
    accuracy_by_artefact,
    probe_summary,
    probe_table,
    saliency_shares,
    suite_artefacts,
)
from dermviz.cli import build_parser, probe_name
from dermviz.data.synthetic import ArtefactSpec, load_artefact_masks, make_synthetic
from dermviz.models.profiles import PROFILES, probe_profile


def regions() -> tuple[np.ndarray, np.ndarray]:
    """Three 20x20 images: a central lesion, an ink ring around it on the first two."""
    ys, xs = np.mgrid[0:20, 0:20]
    r = np.hypot(ys - 9.5, xs - 9.5)
    lesion = np.broadcast_to(r < 4, (3, 20, 20)).copy()
    ink = np.broadcast_to((r > 6) & (r < 8), (3, 20, 20)).copy()
    ink[2] = False
    return lesion, ink


def test_a_map_on_the_ink_ranks_the_ink_above_the_lesion() -> None:
    lesion, ink = regions()
    maps = np.full((3, 20, 20), 0.01)
    maps[0][ink[0]] = 1.0  # on the ink
    maps[1][lesion[1]] = 1.0  # on the lesion
    maps[2][lesion[2]] = 1.0
    table = saliency_shares(maps, lesion, {"ink": ink})
    assert table.loc[0, "ink_share"] > table.loc[0, "lesion_share"]
    assert table.loc[1, "lesion_share"] > table.loc[1, "ink_share"]
    assert table.loc[0, "ink_share"] > 3 * table.loc[0, "ink_chance"]
    np.testing.assert_allclose(table["lesion_chance"], lesion.mean(axis=(1, 2)))
    np.testing.assert_allclose(table["outside_share"], 1 - table["lesion_share"])
    # no ink on the third image: its ink columns are undefined, not zero
    assert np.isnan(table.loc[2, "ink_share"]) and np.isnan(table.loc[2, "ink_chance"])
    # a uniform map scores chance exactly
    flat = saliency_shares(np.ones((3, 20, 20)), lesion, {"ink": ink})
    np.testing.assert_allclose(flat["ink_share"][:2], flat["ink_chance"][:2])
    np.testing.assert_allclose(flat["lesion_share"], flat["lesion_chance"])
    # signed maps: only the positive part counts
    signed = -maps.copy()
    signed[0][lesion[0]] = 1.0
    assert saliency_shares(signed, lesion, {"ink": ink}, signed=True).loc[0, "lesion_share"] == 1


def test_summary_averages_each_artefact_over_the_images_that_carry_it() -> None:
    lesion, ink = regions()
    maps = np.ones((3, 20, 20))
    maps[0][ink[0]] = 50.0
    one = saliency_shares(maps, lesion, {"ink": ink}).assign(member="m00")
    two = saliency_shares(np.ones((3, 20, 20)), lesion, {"ink": ink}).assign(member="m01")
    summary = probe_summary(pd.concat([one, two], ignore_index=True)).set_index("member")
    assert summary.loc["m00", "images"] == 3 and summary.loc["m00", "ink_images"] == 2
    assert summary.loc["m00", "ink_share"] == pytest.approx(one["ink_share"][:2].mean())
    assert summary.loc["m00", "ink_share"] > summary.loc["m01", "ink_share"]
    with pytest.raises(ValueError, match="member"):
        probe_summary(one.drop(columns="member"))


def test_probe_profiles_correlate_the_ink_in_training_only() -> None:
    spec = probe_profile(size="smoke", gradmask=2.0)
    assert spec.train.gradmask == 2.0 and spec.train.n_members == 2
    assert spec.data.artefact_specs("train")["ink"].p_mel == 1.0
    assert spec.data.artefact_specs("train")["ink"].p_nv == 0.0
    assert spec.data.artefact_specs("test")["ink"].p_nv == 0.5
    control = probe_profile(correlated=False)
    assert control.data.artefact_specs("train")["ink"].p_nv == 0.5
    assert control.train.image_size == 128 and control.data.n_train == 600
    assert (control.train.epochs, control.train.lr_schedule) == (6, "constant")
    assert control.xla == PROFILES["default"].xla  # the demo's XLA setting carries over
    with pytest.raises(ValueError, match="size"):
        probe_profile(size="huge")
    assert probe_name(size="smoke", control=False, gradmask=1.0) == "probe-gradmask1-smoke"
    assert probe_name(size="default", control=True, gradmask=None) == "probe-control"


def test_a_ruler_probe_correlates_the_ruler_and_leaves_the_ink_out() -> None:
    ruler = probe_profile(artefact="ruler")
    assert ruler.data.artefact_specs("train") == {"ruler": ArtefactSpec(1.0, 0.0)}
    assert ruler.data.artefact_specs("test") == {"ruler": ArtefactSpec(0.5, 0.5)}
    assert probe_name(size="default", control=False, gradmask=None,
                      artefact="ruler") == "probe-ruler"
    assert probe_name(size="smoke", control=True, gradmask=10.0,
                      artefact="ruler") == "probe-ruler-control-gradmask10-smoke"
    with pytest.raises(ValueError, match="artefact must be one of"):
        probe_profile(artefact="hair")
    args = build_parser().parse_args(["probe", "--size", "smoke", "--artefact", "ruler"])
    assert args.artefact == "ruler"


def test_a_ruler_probes_data_carry_the_ruler_with_the_label_in_training_only() -> None:
    dataset = make_synthetic(probe_profile(size="smoke", artefact="ruler").data)
    pool, holdout = dataset.pool, dataset.holdout
    assert not pool["ink"].any() and not holdout["ink"].any()
    assert (pool["ruler"] == (pool["dx"] == "mel")).all()  # the ruler gives the label away
    assert 0 < holdout["ruler"].sum() < len(holdout)
    assert suite_artefacts(dataset) == ["ruler"]
    ids = holdout["image_id"].tolist()
    masks = load_artefact_masks(dataset, ids, size=64)["ruler"]
    on = masks.any(axis=(1, 2))
    np.testing.assert_array_equal(on, holdout["ruler"].to_numpy(bool))
    # a strip along one edge: more than the ink's ~5% of the image, well under the lesion
    assert 0.04 < masks[on].mean() < 0.15


@pytest.mark.timeout(2400)  # the fixture trains; slow on a loaded 2-core CPU
def test_probe_end_to_end_on_a_smoke_suite(smoke_probe_suite) -> None:
    suite = smoke_probe_suite
    assert suite.config["gradmask"] is None
    dataset = suite.dataset()
    assert suite_artefacts(dataset) == ["ink"]
    ink = dataset.holdout["ink"].to_numpy()
    assert 0 < ink.sum() < len(ink)

    accuracy = accuracy_by_artefact(suite, dataset=dataset)
    assert set(accuracy["member"]) == set(suite.member_ids) and len(suite.member_ids) == 2
    for _, part in accuracy.groupby("member"):
        counts = part.set_index("subset")["images"]
        assert counts["with ink"] + counts["without ink"] == counts["all"] == len(ink)
        # the "all" row is the member's recorded hold-out accuracy
        member = part["member"].iloc[0]
        assert part.set_index("subset").loc["all", "accuracy"] == pytest.approx(
            suite.member(member)["holdout"]["accuracy"])

    table = probe_table(suite, dataset=dataset)  # GradCAM, precomputed by `dermviz probe`
    assert len(table) == 2 * len(ink)
    inked = table[table["ink"]]
    # A smoke member's GradCAM map can be all zero: its shares are NaN, both of them.
    np.testing.assert_array_equal(inked["ink_share"].isna(), inked["lesion_share"].isna())
    assert inked["ink_share"].notna().any()
    assert inked["ink_share"].dropna().between(0, 1).all() and (inked["ink_chance"] > 0).all()
    assert table.loc[~table["ink"], "ink_share"].isna().all()
    assert table["lesion_share"].dropna().between(0, 1).all()
    summary = probe_summary(table)
    assert list(summary["member"]) == suite.member_ids
    assert (summary["ink_images"] == ink.sum()).all()
