"""The lesion browser's table, filters and their round trip through a URL."""

from __future__ import annotations

import pandas as pd
import pytest

from dermviz.analysis.browse import (
    MISSED_MELANOMAS,
    LesionFilter,
    lesion_table,
    paginate,
)
from tests.helpers import write_prediction_suite

# t0, t1 melanomas; t2, t3 naevi. Thresholds 0.5.
MEMBERS = {
    "m00": (0.5, [0.9, 0.2, 0.1, 0.6]),
    "m01": (0.5, [0.8, 0.3, 0.2, 0.7]),
    "m02": (0.5, [0.4, 0.1, 0.3, 0.4]),
}


@pytest.fixture
def table(tmp_path):
    suite = write_prediction_suite(tmp_path / "s", y=[1, 1, 0, 0], members=MEMBERS)

    class Meta:  # the metadata part of a Dataset
        table = pd.DataFrame({"image_id": ["t0", "t1", "t2", "t3"],
                              "localization": ["back", "face", "back", "trunk"],
                              "sex": ["male", "female", "male", "male"],
                              "dx_type": ["histo", "histo", "follow_up", "histo"],
                              "age": [50, 60, 30, 40]}).set_index("image_id", drop=False)
    return lesion_table(suite, dataset=Meta)


def test_table_has_verdicts_and_metadata(table):
    assert list(table["image_id"]) == ["t0", "t1", "t2", "t3"]
    assert list(table["n_wrong"]) == [1, 3, 0, 2]
    assert list(table["verdict"]) == ["melanoma", "naevus", "naevus", "melanoma"]
    assert list(table["true_class"]) == ["melanoma", "melanoma", "naevus", "naevus"]
    # paper rule 25/30 scaled to 3 members: wrong in >= 3
    assert list(table["consistent"]) == [False, True, False, False]
    assert list(table["localization"]) == ["back", "face", "back", "trunk"]


def test_filters(table):
    assert list(MISSED_MELANOMAS.apply(table)["image_id"]) == ["t1"]
    assert list(LesionFilter(consistent_only=True).apply(table)["image_id"]) == ["t1"]
    assert list(LesionFilter(min_wrong=1, max_wrong=2).apply(table)["image_id"]) == ["t3", "t0"]
    assert list(LesionFilter(localization=("back",)).apply(table)["image_id"]) == ["t0", "t2"]
    assert list(LesionFilter(p_min=0.5).apply(table)["image_id"]) == ["t3", "t0"]
    # t3: 2 of 3 call melanoma -> 1/3 against the vote; t0 likewise
    assert set(LesionFilter(min_disagreement=0.3).apply(table)["image_id"]) == {"t0", "t3"}
    by_p = LesionFilter(sort="mean_p", descending=False).apply(table)
    assert list(by_p["image_id"]) == ["t1", "t2", "t3", "t0"]


def test_url_round_trip_and_bad_urls(table):
    flt = LesionFilter(true_class="melanoma", min_wrong=1, localization=("back", "face"),
                       consistent_only=True, sort="mean_p", descending=False)
    query = flt.to_query()
    assert all(isinstance(v, str) for v in query.values())
    again, notes = LesionFilter.from_query(query)
    assert again == flt and notes == []
    assert LesionFilter().to_query() == {}
    bad, notes = LesionFilter.from_query({"min_wrong": "lots", "true_class": "mole",
                                          "sex": "male", "unknown": "x", "p_min": "nan"})
    assert bad == LesionFilter(sex=("male",))
    assert len(notes) == 3 and any("min_wrong" in n for n in notes)
    inconsistent, notes = LesionFilter.from_query({"p_min": "0.9", "p_max": "0.1"})
    assert inconsistent == LesionFilter() and notes


def test_paginate(table):
    rows, pages = paginate(table, page=2, per_page=3)
    assert pages == 2 and list(rows["image_id"]) == ["t3"]
    rows, _ = paginate(table, page=99, per_page=3)  # clamped
    assert list(rows["image_id"]) == ["t3"]
    with pytest.raises(ValueError, match="per_page"):
        paginate(table, page=1, per_page=0)
