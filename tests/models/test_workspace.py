"""A suite's training inputs: member splits as rows of the decoded image caches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.config import TrainConfig
from dermviz.models.fit import SplitRows
from dermviz.models.image_cache import ImageCache
from dermviz.models.seeds import fit_seed, member_id, member_seed
from dermviz.models.workspace import SPLIT_FILE, build_caches, member_splits, write_split


@pytest.fixture(scope="module")
def tiny():
    return make_synthetic(n_train=40, n_test=10, seed=1)


def test_split_record_rows_point_at_the_split_images(tiny, tmp_path):
    config = TrainConfig(image_size=32, n_members=2, max_train=20)
    seeds = [member_seed(config.seed, i) for i in range(2)]
    splits = member_splits(config, tiny.pool, seeds)
    caches = build_caches(tmp_path, tiny, splits, size=32)
    pool = ImageCache(caches.pool)
    assert ImageCache(caches.holdout).shape == (10, 32, 32, 3)
    record = write_split(tmp_path / "members" / "m00", splits[0], caches.row_of)
    assert json.loads((tmp_path / "members" / "m00" / SPLIT_FILE).read_text()) == record
    rows = SplitRows.from_record(record)
    ids = splits[0].train["image_id"].tolist()
    np.testing.assert_array_equal(pool.read(rows.train_rows), tiny.load_images(ids, size=32))
    np.testing.assert_array_equal(rows.train_y, splits[0].train["y"].to_numpy())
    assert len(rows.val_rows) == len(splits[0].val)
    # Balanced class weights travel as per-sample weights.
    cw = splits[0].class_weight
    assert cw is not None and rows.class_weight == cw
    w = rows.train_weights()
    assert set(np.unique(w)) == {np.float32(cw[0]), np.float32(cw[1])}
    assert rows.random_flips == splits[0].random_flips


def test_caches_hold_only_the_images_splits_use(tiny, tmp_path):
    config = TrainConfig(image_size=16, n_members=1, max_train=8)
    splits = member_splits(config, tiny.pool, [5])
    caches = build_caches(tmp_path, tiny, splits, size=16)
    used = set(splits[0].train["image_id"]) | set(splits[0].val["image_id"])
    assert set(caches.row_of) == used
    assert ImageCache(caches.pool).shape[0] == len(used)


def test_seeds():
    assert member_id(3) == "m03"
    assert member_seed(0, 0) != member_seed(0, 1) != member_seed(1, 1)
    assert fit_seed(7, 0) != fit_seed(7, 1)
    assert all(0 <= s < 2**31 - 1 for s in (member_seed(0, 0), fit_seed(7, 0)))
