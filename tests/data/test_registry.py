from __future__ import annotations

import pandas as pd
import pytest

from dermviz.data.ham10000 import find_ham10000, load_ham10000
from dermviz.data.registry import open_dataset
from dermviz.data.synthetic import make_synthetic


def test_synthetic_round_trip():
    ds = make_synthetic(n_train=20, n_test=8, seed=3, difficulty=0.2)
    again = open_dataset(ds.describe())
    pd.testing.assert_frame_equal(ds.table, again.table)


@pytest.mark.realdata
def test_ham10000_round_trip():
    root = find_ham10000()
    if root is None:
        pytest.skip("shared HAM10000 copy not found (../shared/data/ham10000-200x150)")
    ds = load_ham10000(root)
    again = open_dataset(ds.describe())
    assert again.holdout["image_id"].tolist() == ds.holdout["image_id"].tolist()


def test_unknown_kind():
    with pytest.raises(ValueError, match="cannot rebuild"):
        open_dataset({"source": {"kind": "mystery"}})
