"""Tests for the stratified hold-out metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.analysis.stratified import (
    MISSING,
    STRATIFIED_COLUMNS,
    histo_confirmed,
    strata,
    stratified_metrics,
)


def _holdout(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two members' predictions and HAM-like metadata: every melanoma is histo; naevi are
    histo or follow_up; the members separate follow_up naevi perfectly, histo ones not."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    dx_type = np.where(y == 1, "histo", np.where(np.arange(n) % 3 == 0, "histo", "follow_up"))
    ids = [f"img{k:03d}" for k in range(n)]
    meta = pd.DataFrame({
        "image_id": ids, "dx_type": dx_type,
        "sex": rng.choice(["male", "female", None], n),
        "age": np.where(np.arange(n) % 7 == 0, np.nan, rng.integers(20, 85, n)),
    }).set_index("image_id", drop=False)
    frames = []
    for member, threshold in (("m00", 0.5), ("m01", 0.4)):
        p = np.where(dx_type == "follow_up", rng.uniform(0, 0.2, n), rng.uniform(0.3, 1, n))
        frames.append(pd.DataFrame({"image_id": ids, "y_true": y, "member": member,
                                    "p_melanoma": p, "threshold": threshold}))
    return pd.concat(frames, ignore_index=True), meta


def test_counts_add_up_to_the_holdout() -> None:
    preds, meta = _holdout()
    for by in ("dx_type", "sex", "age"):
        table = stratified_metrics(preds, meta, by=by, n_bootstrap=50)
        assert list(table.columns) == list(STRATIFIED_COLUMNS)
        assert table["model"].unique().tolist() == ["m00", "m01", "ensemble"]
        sums = table.groupby("model")["n"].sum()
        assert (sums == 60).all()
        assert (table["n_melanoma"] + table["n_naevus"] == table["n"]).all()
    age = stratified_metrics(preds, meta, by="age", n_bootstrap=0)
    assert MISSING in set(age["stratum"]) and "75+" in set(age["stratum"])


def test_the_histo_view_shows_what_the_whole_holdout_hides() -> None:
    preds, meta = _holdout()
    whole = stratified_metrics(preds, meta.assign(all="all"), by="all", n_bootstrap=100)
    histo = stratified_metrics(preds, meta.assign(all="all"), by="all", histo_only=True,
                               n_bootstrap=100)
    assert (histo["n"] == 40).all()  # 30 melanomas + 10 histo naevi
    ens_whole = whole.set_index("model").loc["ensemble", "auc"]
    ens_histo = histo.set_index("model").loc["ensemble", "auc"]
    assert ens_whole > 0.7 and ens_histo < ens_whole - 0.15
    by_type = stratified_metrics(preds, meta, by="dx_type", n_bootstrap=100)
    follow = by_type[by_type["stratum"] == "follow_up"]
    assert follow["auc"].isna().all()  # one class only: naevi
    assert (follow["specificity"] == 1.0).all() and follow["sensitivity"].isna().all()
    cell = by_type[(by_type["model"] == "m00") & (by_type["stratum"] == "histo")].iloc[0]
    assert cell["auc_low"] <= cell["auc"] <= cell["auc_high"]


def test_strata_labels_and_checks() -> None:
    assert strata(pd.Series([29, 30, 74.5, 75, None]), bins=(0, 30, 75, np.inf)).tolist() == [
        "0-29", "30-74", "30-74", "75+", MISSING]
    assert strata(pd.Series([True, False, None])).tolist() == ["True", "False", MISSING]
    with pytest.raises(ValueError, match="increasing"):
        strata(pd.Series([1.0]), bins=(3, 1))
    preds, meta = _holdout()
    with pytest.raises(ValueError, match="no column"):
        stratified_metrics(preds, meta, by="localization")
    with pytest.raises(ValueError, match="not in the metadata"):
        stratified_metrics(preds, meta.iloc[1:], by="sex")
    with pytest.raises(ValueError, match="dx_type"):
        histo_confirmed(meta.drop(columns="dx_type"))
    with pytest.raises(ValueError, match="histo-confirmed"):
        stratified_metrics(preds, meta.assign(dx_type="follow_up"), by="sex", histo_only=True)
    # Metadata with image_id only as its index works too.
    by_index = stratified_metrics(preds, meta.drop(columns="image_id"), by="sex", n_bootstrap=0)
    assert by_index.groupby("model")["n"].sum().eq(60).all()
