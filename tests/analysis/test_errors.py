"""Error analyses against hand-built predictions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dermviz.analysis.errors import (
    PAPER_RULE,
    REPRODUCTION_RULE,
    KOfN,
    chance_sentence,
    consistently_misclassified,
    error_count_summary,
    error_counts,
    image_summary,
    member_summary,
    members_wrong_distribution,
)
from dermviz.analysis.predictions import check_predictions, predictions_table, wrong_matrix
from dermviz.analysis.statistics import suite_statistics
from tests.helpers import write_prediction_suite


def table_from(p: dict[str, list[float]], y: list[int], thresholds: dict[str, float]):
    """Tidy predictions from ``{member: [p per image]}``, images ``i0, i1, ...``."""
    rows = [
        {"image_id": f"i{k}", "y_true": y[k], "member": m, "p_melanoma": pk,
         "threshold": thresholds[m]}
        for m, ps in p.items() for k, pk in enumerate(ps)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def small():
    # Images: i0 mel, i1 mel, i2 nv, i3 nv. Thresholds differ per member.
    p = {"a": [0.9, 0.3, 0.2, 0.6], "b": [0.8, 0.45, 0.5, 0.1], "c": [0.2, 0.7, 0.3, 0.35]}
    return table_from(p, [1, 1, 0, 0], {"a": 0.5, "b": 0.4, "c": 0.3})


def test_member_summary_counts_at_own_threshold(small):
    s = member_summary(small).set_index("member")
    # a @0.5: i0 TP, i1 FN, i2 TN, i3 FP
    assert s.loc["a", ["tp", "fn", "tn", "fp"]].tolist() == [1, 1, 1, 1]
    # b @0.4: i0 TP, i1 TP (0.45), i2 FP (0.5), i3 TN
    assert s.loc["b", ["tp", "fn", "tn", "fp"]].tolist() == [2, 0, 1, 1]
    # c @0.3: i0 FN, i1 TP, i2 FP (0.3 >= 0.3), i3 FP
    assert s.loc["c", ["tp", "fn", "tn", "fp"]].tolist() == [1, 1, 0, 2]
    assert s.loc["b", "sensitivity"] == 1.0 and s.loc["b", "specificity"] == 0.5
    assert s.loc["c", "accuracy"] == 0.25
    assert s.loc["a", "auc"] == 0.75  # pairs (mel, nv): 0.9>0.2, 0.9>0.6, 0.3>0.2, 0.3<0.6
    assert list(s.index) == ["a", "b", "c"]


def test_image_summary_vote_and_disagreement(small):
    s = image_summary(small).set_index("image_id")
    assert s.loc["i0", "n_wrong"] == 1 and s.loc["i2", "n_wrong"] == 2
    assert s.loc["i3", "n_called_melanoma"] == 2 and s.loc["i3", "majority_vote"] == 1
    assert not s.loc["i3", "majority_correct"]
    assert s.loc["i1", "frac_against"] == pytest.approx(1 / 3)
    assert s.loc["i0", "mean_p"] == pytest.approx((0.9 + 0.8 + 0.2) / 3)
    assert s.loc["i0", "sd_p"] == pytest.approx(np.std([0.9, 0.8, 0.2], ddof=1))
    # mean vote at the mean threshold 0.4: i2 mean 1/3 -> naevus, right
    assert s.loc["i2", "mean_vote"] == 0 and s.loc["i2", "mean_correct"]
    assert image_summary(small, ensemble_threshold=0.3).set_index("image_id").loc[
        "i2", "mean_vote"] == 1
    assert image_summary(small)["n_wrong"].is_monotonic_decreasing


def test_majority_tie_calls_melanoma():
    t = table_from({"a": [0.9], "b": [0.1]}, [0], {"a": 0.5, "b": 0.5})
    row = image_summary(t).iloc[0]
    assert row["majority_vote"] == 1 and row["frac_against"] == 0.5


def _k_of_n_table(n_members: int, wrong_counts: list[int]):
    """Melanomas ``i<k>`` that exactly ``wrong_counts[k]`` members call naevus."""
    p = {f"m{j:02d}": [0.1 if j < w else 0.9 for w in wrong_counts] for j in range(n_members)}
    return table_from(p, [1] * len(wrong_counts), dict.fromkeys(p, 0.5))


def test_paper_rule_25_of_30_includes_25_excludes_24():
    t = _k_of_n_table(30, [25, 24, 30, 0, 26])
    hits = consistently_misclassified(t)
    assert sorted(hits["image_id"]) == ["i0", "i2", "i4"]
    assert (hits["min_wrong"] == 25).all()
    assert hits["n_wrong"].tolist() == [30, 26, 25]
    assert sorted(consistently_misclassified(t, min_wrong=24)["image_id"]) == [
        "i0", "i1", "i2", "i4"]


def test_reproduction_rule_scales_to_suite_size():
    assert PAPER_RULE.min_wrong(30) == 25 and REPRODUCTION_RULE.min_wrong(15) == 13
    assert PAPER_RULE.min_wrong(15) == 13  # ceil(12.5)
    assert REPRODUCTION_RULE.min_wrong(30) == 26
    t = _k_of_n_table(15, [13, 12, 15])
    hits = consistently_misclassified(t, rule=REPRODUCTION_RULE)
    assert sorted(hits["image_id"]) == ["i0", "i2"]
    with pytest.raises(ValueError, match="min_wrong"):
        consistently_misclassified(t, min_wrong=16)
    with pytest.raises(ValueError, match="k <= n"):
        KOfN(31, 30)


def test_error_counts_per_member_and_summary(small):
    c = error_counts(small).set_index("member")
    assert c["melanomas_called_naevi"].tolist() == [1, 0, 1]
    assert c["naevi_called_melanoma"].tolist() == [1, 1, 2]
    assert (c["n_melanoma"] == 2).all() and (c["n_naevus"] == 2).all()
    s = error_count_summary(small).set_index("error")
    assert s.loc["naevi_called_melanoma", "mean"] == pytest.approx(4 / 3)
    assert s.loc["naevi_called_melanoma", "sd"] == pytest.approx(np.std([1, 1, 2], ddof=1))
    assert s.loc["melanomas_called_naevi", "max"] == 1


def test_auc_nan_with_one_class():
    t = table_from({"a": [0.2, 0.8]}, [1, 1], {"a": 0.5})
    assert math.isnan(member_summary(t)["auc"].iloc[0])


def test_wrong_matrix_and_checks(small):
    w = wrong_matrix(small)
    assert list(w.columns) == ["a", "b", "c"] and list(w.index) == ["i0", "i1", "i2", "i3"]
    assert w.sum().tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match="lacks columns"):
        check_predictions(small.drop(columns="threshold"))
    with pytest.raises(ValueError, match="incomplete"):
        check_predictions(small.iloc[1:])
    with pytest.raises(ValueError, match="duplicate"):
        check_predictions(pd.concat([small, small.iloc[:1]]))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        check_predictions(small.assign(p_melanoma=small["p_melanoma"] + 0.5))
    with pytest.raises(ValueError, match="only 0"):
        check_predictions(small.assign(y_true=2))
    with pytest.raises(ValueError, match="more than one threshold"):
        check_predictions(small.assign(threshold=np.linspace(0.1, 0.9, len(small))))
    with pytest.raises(ValueError, match="empty"):
        check_predictions(small.iloc[:0])


def test_members_wrong_distribution_and_suite_statistics(tmp_path):
    suite = write_prediction_suite(tmp_path / "s", y=[1, 1, 0, 0], members={
        "m00": (0.5, [0.9, 0.2, 0.1, 0.6]),
        "m01": (0.5, [0.8, 0.3, 0.2, 0.7]),
        "m02": (0.5, [0.4, 0.1, 0.3, 0.4]),
    })
    dist = members_wrong_distribution(predictions_table(suite))
    # wrong counts per image: t0 1, t1 3, t2 0, t3 2
    assert dist["n_wrong"].tolist() == [0, 1, 2, 3]
    assert dist["n_images"].tolist() == [1, 1, 1, 1]
    tables = suite_statistics(suite)
    assert set(tables) == {"members", "images", "counts", "error_summary", "kappa", "jaccard",
                           "calibration", "reliability"}
    assert tables["calibration"]["model"].tolist()[-1] == "ensemble"
    assert tables["kappa"].shape == (3, 3)
    empty = write_prediction_suite(tmp_path / "e", y=[1], members={})
    with pytest.raises(ValueError, match="no trained member"):
        suite_statistics(empty)


def test_member_summary_gives_each_auc_an_interval_and_says_which_beat_chance():
    rng = np.random.default_rng(0)
    y = [1] * 40 + [0] * 40
    separates = list(np.r_[rng.uniform(0.6, 1, 40), rng.uniform(0, 0.4, 40)])
    coin = list(rng.uniform(0, 1, 80))
    s = member_summary(table_from({"good": separates, "coin": coin}, y,
                                  {"good": 0.5, "coin": 0.5})).set_index("member")
    assert s.loc["good", "auc_low"] == s.loc["good", "auc_high"] == 1.0
    assert s.loc["coin", "auc_low"] < s.loc["coin", "auc"] < s.loc["coin", "auc_high"]
    assert s.loc["coin", "auc_low"] < 0.5 < s.loc["coin", "auc_high"]
    assert s.loc["good", "beats_chance"] and not s.loc["coin", "beats_chance"]
    sentence = chance_sentence(s.reset_index())
    assert sentence.startswith("1 of 2 members ranks")
    assert f"coin {s.loc['coin', 'auc']:.2f} (95% interval" in sentence and "good" not in sentence
    # a constant member sits exactly at chance: flagged too
    flat = member_summary(table_from({"flat": [0.5] * 80}, y, {"flat": 0.5}))
    assert flat["auc"].iloc[0] == 0.5 and not flat["beats_chance"].iloc[0]
    assert "flat 0.50" in chance_sentence(flat)
    assert chance_sentence(flat).endswith("not learned the task: train longer.")
    assert chance_sentence(s.reset_index()).endswith("read the other members', or train longer.")
    # every member above chance, or none judged (one class): nothing to say
    assert chance_sentence(member_summary(table_from({"good": separates}, y, {"good": 0.5}))) \
        is None
    one_class = member_summary(table_from({"a": [0.2, 0.8]}, [1, 1], {"a": 0.5}))
    assert math.isnan(one_class["auc_low"].iloc[0]) and chance_sentence(one_class) is None
