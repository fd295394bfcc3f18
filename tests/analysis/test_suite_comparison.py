"""Two suites side by side on the same hold-out (dermviz.analysis.suite_comparison)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dermviz.analysis.predictions import predictions_table
from dermviz.analysis.suite_comparison import (
    HoldoutMismatchError,
    auc_difference,
    compare_predictions,
    compare_suites,
)
from tests.helpers import write_prediction_suite

Y = [1, 1, 0, 0, 1, 0]
BASE = {  # t0, t1, t4 melanomas
    "m00": (0.5, [0.9, 0.2, 0.1, 0.6, 0.7, 0.3]),
    "m01": (0.5, [0.8, 0.3, 0.2, 0.7, 0.6, 0.4]),
    "m02": (0.5, [0.4, 0.1, 0.3, 0.4, 0.8, 0.2]),
}
BETTER = {  # every member ranks each melanoma above each naevus
    "m00": (0.5, [0.9, 0.8, 0.1, 0.2, 0.7, 0.3]),
    "m01": (0.5, [0.7, 0.9, 0.2, 0.1, 0.8, 0.4]),
}


@pytest.fixture
def suites(tmp_path):
    return (write_prediction_suite(tmp_path / "base", y=Y, members=BASE),
            write_prediction_suite(tmp_path / "better", y=Y, members=BETTER))


def test_tables_side_by_side(suites):
    base, better = suites
    cmp = compare_suites(base, better, with_maps=False)
    assert cmp.names == ("base", "better") and cmp.n_images == 6
    assert cmp.auc["suite"].tolist() == ["base"] * 3 + ["better"] * 2
    assert cmp.auc.loc[cmp.auc["suite"] == "better", "auc"].tolist() == [1.0, 1.0]
    # m00 of base: melanoma scores 0.9, 0.2, 0.7 vs naevi 0.1, 0.6, 0.3 -> 7 of 9 pairs
    assert cmp.auc.iloc[0]["auc"] == pytest.approx(7 / 9)
    errors = cmp.errors.set_index(["suite", "member"])
    assert errors.loc[("base", "m00")].tolist() == [1, 1]  # t1 missed; t3 called melanoma
    assert errors.loc[("better", "m01")].tolist() == [0, 0]
    # The paper's 25 of 30, scaled: 3 of 3 for base (t1 wrong in all), 2 of 2 for better.
    consistent = cmp.consistent.set_index(["suite", "true_class"])
    assert consistent.loc[("base", "melanoma"), "images"] == 1
    assert consistent.loc[("base", "melanoma"), "min_wrong"] == 3
    assert consistent.loc[("better", "melanoma"), "images"] == 0
    assert set(cmp.calibration["suite"]) == {"base", "better"}
    assert cmp.calibration.groupby("suite")["is_ensemble"].sum().tolist() == [1, 1]
    assert set(cmp.reliability["suite"]) == {"base", "better"}
    assert cmp.lesion_mass.empty
    diff = cmp.difference
    mean_base = cmp.auc.loc[cmp.auc["suite"] == "base", "auc"].mean()
    assert diff["mean_auc"] == (pytest.approx(mean_base), 1.0)
    assert diff["auc_difference"] == pytest.approx(1.0 - mean_base)
    assert diff["ci_low"] <= diff["auc_difference"] <= diff["ci_high"]
    assert 0.0 < diff["mann_whitney_p"] <= 1.0


def test_different_holdouts_are_refused(suites, tmp_path):
    base, _ = suites
    other = write_prediction_suite(tmp_path / "other", y=Y, members=BETTER,
                                   image_ids=[f"x{k}" for k in range(6)])
    with pytest.raises(HoldoutMismatchError, match="different hold-out images"):
        compare_suites(base, other, with_maps=False)
    relabelled = write_prediction_suite(tmp_path / "relabelled", y=[0, 1, 0, 0, 1, 0],
                                        members=BETTER)
    with pytest.raises(HoldoutMismatchError, match="true class of 1 image"):
        compare_suites(base, relabelled, with_maps=False)


def test_lesion_mass_per_member(suites):
    base, better = suites
    tables = {"base": predictions_table(base), "better": predictions_table(better)}
    scores = pd.DataFrame({"image_id": ["t0", "t1", "t0", "t1"],
                           "member": ["m00", "m00", "m01", "m01"],
                           "lesion_share": [0.2, 0.4, 0.2, 0.4],
                           "mass": [0.5, 0.7, 0.1, np.nan], "pointing": [1.0, 1.0, 0.0, np.nan]})
    cmp = compare_predictions(tables, lesion_scores={"better": scores})
    mass = cmp.lesion_mass.set_index("member")
    assert cmp.lesion_mass["suite"].unique().tolist() == ["better"]
    assert mass.loc["m00", "mass"] == pytest.approx(0.6)
    assert mass.loc["m01", "mass"] == pytest.approx(0.1) and mass.loc["m01", "images"] == 1
    assert mass.loc["m00", "chance"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown member"):
        compare_predictions(tables, lesion_scores={"base": scores.assign(member="m09")})


def test_bad_calls():
    with pytest.raises(ValueError, match="exactly two"):
        compare_predictions({"a": pd.DataFrame()})
    empty = pd.DataFrame(columns=["image_id", "y_true", "member", "p_melanoma", "threshold"])
    with pytest.raises(ValueError, match="no predictions"):
        compare_predictions({"a": empty, "b": empty})


def test_auc_difference_without_enough_members():
    out = auc_difference(np.array([0.8]), np.array([0.7, 0.9]))
    assert out["auc_difference"] == pytest.approx(0.0)
    assert math.isnan(out["ci_low"]) and math.isnan(out["mann_whitney_p"])
    same = auc_difference(np.array([0.8, 0.8]), np.array([0.8, 0.8]))
    assert same["ci_low"] == same["ci_high"] == pytest.approx(0.0)
