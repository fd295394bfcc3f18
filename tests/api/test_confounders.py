"""dermviz.api's confounder calls on the smoke suite: lesion-blind baselines cached in the
suite, the suite beside them, stratified metrics, counterfactual predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz import api


@pytest.fixture(scope="module")
def suite(confound_models):
    return api.open_suite(confound_models / "demo-smoke")


def test_blind_report_is_computed_once_then_read_from_the_suite_folder(suite):
    assert api.stored_blind_report(suite, n_bootstrap=50) is None
    report = api.blind_report(suite, n_bootstrap=50)
    assert (suite.path / "confounders").is_dir()
    assert list(report["baselines"]["region"]) == ["whole", "outside", "lesion"]
    assert (report["baselines"]["n_test"] == len(api.holdout(suite))).all()
    assert report["n_train"] == len(suite.dataset().pool)
    assert report["baselines_histo"] is None  # the synthetic set has no dx_type
    stored = api.stored_blind_report(suite, n_bootstrap=50)
    pd.testing.assert_frame_equal(stored["baselines"], report["baselines"])
    # Colour constancy is another entry.
    assert api.stored_blind_report(suite, n_bootstrap=50, colour_constancy=True) is None


def test_the_suite_sits_beside_the_baselines_on_the_same_images(suite):
    table = api.blind_comparison(suite, n_bootstrap=50)
    assert set(table["holdout"]) == {"all"}
    assert list(table["kind"]) == ["suite", *["member"] * len(suite.member_ids),
                                   "blind", "blind", "blind"]
    assert (table["n"] == len(api.holdout(suite))).all()
    ensemble = table.iloc[0]
    assert ensemble["auc_low"] <= ensemble["auc"] <= ensemble["auc_high"]
    assert api.blind_sentence(table) is not None


def _comparison(suite_ci, blind_ci):
    return pd.DataFrame([
        {"model": "ensemble", "kind": "suite", "region": None, "holdout": "all",
         "auc": sum(suite_ci) / 2, "auc_low": suite_ci[0], "auc_high": suite_ci[1], "n": 400},
        {"model": "outside", "kind": "blind", "region": "outside", "holdout": "all",
         "auc": sum(blind_ci) / 2, "auc_low": blind_ci[0], "auc_high": blind_ci[1], "n": 400},
    ])


def test_overlapping_intervals_say_the_score_does_not_show_the_lesion_is_looked_at():
    sentence = api.blind_sentence(_comparison((0.92, 0.96), (0.88, 0.93)))
    assert "overlapping" in sentence and "does not show that the suite looks at the lesion" \
        in sentence
    apart = api.blind_sentence(_comparison((0.92, 0.96), (0.60, 0.70)))
    assert "apart" in apart and "more than the skin's colour" in apart
    assert api.blind_sentence(_comparison((0.92, 0.96), (0.60, 0.70)), holdout="x") is None


def test_stratified_counts_add_up_to_the_holdout(suite):
    n = len(api.holdout(suite))
    columns = api.strata_columns(suite)
    assert columns == ["ink", "ruler"]  # the synthetic artefact flags
    for column in columns:
        table = api.stratified(suite, column, n_bootstrap=20)
        assert (table.groupby("model")["n"].sum() == n).all()
        assert set(table["model"]) == {*suite.member_ids, api.ENSEMBLE}
    with pytest.raises(ValueError, match="dx_type"):
        api.stratified(suite, "ink", histo_only=True)


def test_histo_confirmed_view_where_the_data_set_records_dx_type(histo_models):
    suite = api.open_suite(histo_models / "demo-smoke")
    holdout = api.holdout(suite)
    histo = int((holdout["dx_type"] == "histo").sum())
    assert api.has_histo(suite) and "dx_type" in api.strata_columns(suite)
    table = api.blind_comparison(suite, n_bootstrap=20)
    assert set(table["holdout"]) == {"all", "histo-confirmed"}
    assert (table.loc[table["holdout"] == "histo-confirmed", "n"] == histo).all()
    assert "histo-confirmed" in api.blind_sentence(table, holdout="histo-confirmed")
    report = api.blind_report(suite, n_bootstrap=20)
    assert report["baselines_histo"] is not None
    assert list(report["acquisition"]["target"]) == ["dx_type == follow_up"]
    by_type = api.stratified(suite, "dx_type", n_bootstrap=20)
    assert (by_type.groupby("model")["n"].sum() == len(holdout)).all()
    only = api.stratified(suite, "dx_type", histo_only=True, n_bootstrap=20)
    assert set(only["stratum"]) == {"histo"}
    assert (only.groupby("model")["n"].sum() == histo).all()


def test_counterfactual_predictions_are_batched_and_cached_per_member(suite):
    first = suite.member_ids[0]
    ids = list(api.holdout(suite)["image_id"])
    seen = []
    preds = api.counterfactual_predictions(suite, members=[first], batch_size=5,
                                           progress=lambda d, n, w: seen.append((d, n)))
    assert seen[-1] == (len(ids), len(ids)) and len(seen) == -(-len(ids) // 5)
    assert len(preds) == 3 * len(ids) and set(preds["version"]) == set(api.COUNTERFACTUALS)
    assert preds.attrs["seconds_per_image"] > 0
    # The original version reproduces the member's stored hold-out predictions.
    stored = suite.predictions(first).set_index("image_id")["p_melanoma"]
    original = preds[preds["version"] == "original"].set_index("image_id")["p_melanoma"]
    np.testing.assert_allclose(original.loc[stored.index], stored, atol=1e-4)
    # Read back from the store: nothing runs for the cached member.
    seen.clear()
    again = api.counterfactual_predictions(suite, members=[first],
                                           progress=lambda *a: seen.append(a))
    assert not seen
    pd.testing.assert_frame_equal(again, preds)
    table = api.counterfactual_auc(preds, n_bootstrap=20)
    assert list(table["version"]) == list(api.COUNTERFACTUALS)  # one member: no ensemble
    assert (table["n"] == len(ids)).all()
    two = pd.concat([preds, preds.assign(member="copy")])
    assert len(api.counterfactual_auc(two, n_bootstrap=0)) == 3 * 3


def test_counterfactual_images_remove_the_lesion(suite):
    ids = list(api.holdout(suite)["image_id"][:3])
    versions = api.counterfactual_images(suite, ids)
    mask = np.stack([api.lesion_mask(suite, i) for i in ids])
    for name in ("lesion_removed", "surround_replaced"):
        assert versions[name].shape == versions["original"].shape
    changed = np.any(versions["lesion_removed"] != versions["original"], axis=-1)
    assert changed[mask].mean() > 0.5  # the lesion's pixels were filled in
    assert (versions["surround_replaced"][mask] == versions["original"][mask]).all()
    with pytest.raises(ValueError, match="not hold-out images"):
        api.counterfactual_images(suite, ["no_such_image"])


def test_case_counterfactual_and_its_sentence(suite):
    image_id = str(api.holdout(suite)["image_id"].iloc[0])
    case = api.case_counterfactual(suite, image_id)
    table = case["table"]
    assert list(table["member"]) == suite.member_ids
    assert (table["survives"] == (table["call_original"] == table["call_removed"])).all()
    assert case["lesion_removed"].shape == (suite.image_size, suite.image_size, 3)
    assert isinstance(case["sentence"], str)
    kept = pd.DataFrame({"member": ["m00", "m01"], "survives": [True, False],
                         "call_original": ["melanoma", "naevus"]})
    sentence = api.survival_sentence(kept)
    assert "survives the lesion's removal" in sentence and "1 of 2 members (m00)" in sentence
    assert "still call melanoma with no lesion" in sentence
    assert "changes its verdict" in api.survival_sentence(kept.assign(survives=False))


def test_a_prepared_case_counterfactual_loads_no_member(suite, monkeypatch):
    """Once the hold-out's counterfactual verdicts are stored (what a build prepares), the
    Case page's counterfactual reads them: no member is loaded."""
    image_id = str(api.holdout(suite)["image_id"].iloc[1])
    live = api.case_counterfactual(suite, image_id)["table"]  # some members not stored yet
    preds = api.counterfactual_predictions(suite)
    stored = api.stored_counterfactual_p(suite, image_id)
    assert sorted(stored) == suite.member_ids
    mine = preds[preds["image_id"] == image_id].set_index(["member", "version"])["p_melanoma"]
    for m, (p_original, p_removed) in stored.items():
        assert (p_original, p_removed) == (mine[(m, "original")], mine[(m, "lesion_removed")])

    def no_model(member):  # noqa: ANN001, ANN202
        raise AssertionError("a prepared counterfactual loaded a member")

    monkeypatch.setattr(suite, "model", no_model)
    table = api.case_counterfactual(suite, image_id)["table"]
    np.testing.assert_allclose(table["p_removed"], live["p_removed"], atol=1e-4)
    assert api.stored_counterfactual_p(suite, "no_such_image") is None
