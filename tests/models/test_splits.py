"""Per-member split recipes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.data.splits import apply_augmentation, make_split


def pool(n_nv: int = 300, n_mel: int = 40) -> pd.DataFrame:
    ids = [f"nv{i}" for i in range(n_nv)] + [f"mel{i}" for i in range(n_mel)]
    return pd.DataFrame({"image_id": ids, "y": [0] * n_nv + [1] * n_mel})


def test_full_recipe_is_stratified_and_weighted():
    s = make_split(pool(), recipe="full", seed=0, val_fraction=0.2)
    assert len(s.train) + len(s.val) == 340
    assert not set(s.train["image_id"]) & set(s.val["image_id"])
    assert s.val["y"].mean() == pytest.approx(40 / 340, abs=0.02)
    assert s.class_weight[1] > s.class_weight[0]
    assert s.random_flips


def test_paper_recipe_counts_and_twins_on_same_side():
    s = make_split(pool(), recipe="paper", seed=1)
    # 40 mel + 40 copies = 80 mel; 80 nv; split 50/50.
    assert len(s.train) == len(s.val) == 80
    assert s.train["y"].sum() == s.val["y"].sum() == 40
    mel_train = set(s.train.loc[s.train["y"] == 1, "image_id"])
    mel_val = set(s.val.loc[s.val["y"] == 1, "image_id"])
    assert not mel_train & mel_val, "an augmented twin never crosses the split"
    assert s.class_weight is None


def test_paper_recipe_leak_option_reproduces_the_bug():
    leaks = [
        len(set(s.train.loc[s.train["y"] == 1, "image_id"])
            & set(s.val.loc[s.val["y"] == 1, "image_id"]))
        for s in (make_split(pool(), recipe="paper", seed=k, leak_twins=True) for k in range(3))
    ]
    assert max(leaks) > 0


def test_splits_are_seeded():
    a = make_split(pool(), recipe="paper", seed=5)
    b = make_split(pool(), recipe="paper", seed=5)
    c = make_split(pool(), recipe="paper", seed=6)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert not a.train.equals(c.train)


def test_max_train_caps_rows():
    s = make_split(pool(), recipe="full", seed=0, max_train=50)
    assert len(s.train) == 50


def test_bad_inputs():
    with pytest.raises(ValueError, match="recipe"):
        make_split(pool(), recipe="other", seed=0)
    with pytest.raises(ValueError, match="both"):
        make_split(pool(n_mel=0), seed=0)
    with pytest.raises(ValueError, match="naevi"):
        make_split(pool(n_nv=10, n_mel=40), recipe="paper", seed=0)


def test_augmentation_flips_and_gamma():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5
    same = apply_augmentation(img, "flip=updown;gamma=1.0")
    np.testing.assert_array_equal(same, img[::-1])
    darker = apply_augmentation(img, "flip=both;gamma=2.0")
    assert darker.dtype == np.uint8 and darker.mean() < img.mean()
    assert apply_augmentation(img, None) is img
