"""Error agreement matrices and ensemble calibration on hand-built predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, cohen_kappa_score, roc_auc_score

from dermviz.analysis.agreement import error_jaccard, error_kappa
from dermviz.analysis.calibration import (
    ENSEMBLE,
    calibration_summary,
    ensemble_probabilities,
    expected_calibration_error,
    reliability_curves,
)


def wrong_table(errors: dict[str, list[int]]) -> pd.DataFrame:
    """Naevi i0.. that member m calls melanoma (wrong) where errors[m][k] == 1."""
    rows = [{"image_id": f"i{k}", "y_true": 0, "member": m, "p_melanoma": 0.9 if e else 0.1,
             "threshold": 0.5} for m, es in errors.items() for k, e in enumerate(es)]
    return pd.DataFrame(rows)


def test_jaccard_and_kappa_of_error_sets():
    t = wrong_table({"a": [1, 1, 0, 0], "b": [1, 0, 1, 0], "c": [1, 1, 0, 0], "d": [0, 0, 0, 0]})
    jac = error_jaccard(t)
    assert jac.loc["a", "b"] == pytest.approx(1 / 3)  # {0,1} vs {0,2}
    assert jac.loc["a", "c"] == 1.0 and jac.loc["a", "d"] == 0.0
    assert math.isnan(jac.loc["d", "d"])  # two empty sets
    kappa = error_kappa(t)
    assert kappa.loc["a", "c"] == pytest.approx(1.0)
    # a vs b: po = 0.5, pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa 0
    assert kappa.loc["a", "b"] == pytest.approx(0.0)
    assert kappa.loc["a", "d"] == pytest.approx(0.0)
    assert math.isnan(kappa.loc["d", "d"])
    np.testing.assert_array_equal(kappa.to_numpy(), kappa.to_numpy().T)
    assert list(kappa.columns) == ["a", "b", "c", "d"]


def test_kappa_of_partly_agreeing_errors():
    # a wrong on {0,1,2}, b on {0,1,3} over 6 images: po = 4/6, pe = .5*.5+.5*.5 = .5
    t = wrong_table({"a": [1, 1, 1, 0, 0, 0], "b": [1, 1, 0, 1, 0, 0]})
    assert error_kappa(t).loc["a", "b"] == pytest.approx((4 / 6 - 0.5) / 0.5)


@pytest.fixture
def probs():
    y = [1, 1, 0, 0, 1, 0]
    p = {"a": [0.9, 0.6, 0.4, 0.1, 0.35, 0.2], "b": [0.7, 0.2, 0.3, 0.5, 0.9, 0.05]}
    rows = [{"image_id": f"i{k}", "y_true": y[k], "member": m, "p_melanoma": v, "threshold": 0.5}
            for m, ps in p.items() for k, v in enumerate(ps)]
    return pd.DataFrame(rows), np.array(y), p


def test_ensemble_is_mean_probability(probs):
    table, y, p = probs
    ens = ensemble_probabilities(table)
    np.testing.assert_allclose(ens["p_melanoma"], (np.array(p["a"]) + np.array(p["b"])) / 2)
    summary = calibration_summary(table).set_index("model")
    assert list(summary.index) == ["a", "b", ENSEMBLE]
    assert summary.loc[ENSEMBLE, "is_ensemble"]
    assert summary.loc["a", "auc"] == pytest.approx(roc_auc_score(y, p["a"]))
    assert summary.loc[ENSEMBLE, "auc"] == pytest.approx(roc_auc_score(y, ens["p_melanoma"]))
    assert summary.loc["b", "brier"] == pytest.approx(brier_score_loss(y, p["b"]))


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.15, 0.8, 0.85, 0.9])
    # 2 bins: [0, .5): y mean 0.5, p mean .125 -> gap .375 (2 images);
    #         [.5, 1]: y mean 2/3, p mean .85 -> gap .1833 (3 images)
    expected = (2 * 0.375 + 3 * abs(2 / 3 - 0.85)) / 5
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(expected)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, p, strategy="bogus")
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, p, n_bins=0)


def test_reliability_curves_match_sklearn_bins(probs):
    table, y, p = probs
    curves = reliability_curves(table, n_bins=4)
    a = curves[curves["model"] == "a"]
    assert a["count"].sum() == len(y)
    # bins of 0.25: a's p -> [.1,.2] [.35,.4] [.6] [.9]
    assert a["count"].tolist() == [2, 2, 1, 1]
    assert a["fraction_melanoma"].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert set(curves["model"]) == {"a", "b", ENSEMBLE}
    q = reliability_curves(table, n_bins=3, strategy="quantile")
    assert (q.groupby("model")["count"].sum() == len(y)).all()


def test_member_named_ensemble_is_refused(probs):
    table, _, _ = probs
    with pytest.raises(ValueError, match="ensemble"):
        calibration_summary(table.replace({"member": {"a": ENSEMBLE}}))


def test_kappa_matches_sklearn_on_random_errors():
    rng = np.random.default_rng(3)
    errors = {f"m{j}": rng.integers(0, 2, 50).tolist() for j in range(6)}
    errors["rare"] = [1] + [0] * 49
    kappa = error_kappa(wrong_table(errors))
    for a in errors:
        for b in errors:
            expected = cohen_kappa_score(errors[a], errors[b])
            assert kappa.loc[a, b] == pytest.approx(expected, abs=1e-12), (a, b)
