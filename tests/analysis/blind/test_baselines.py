"""Known-answer tests of the lesion-blind baselines on the synthetic set.

The synthetic generator draws the skin independently of the label, so a model of the skin
outside the lesion must score at chance; tint the skin of the melanomas' images slightly
and the same model must find it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from dermviz.analysis.blind.baselines import (
    BASELINE_COLUMNS,
    acquisition_check,
    blind_baselines,
    fit_baseline,
)
from dermviz.analysis.blind.features import region_features
from dermviz.data.synthetic import make_synthetic

#: Grey levels added to red and taken from blue on the melanomas' skin.
TINT = 6


@pytest.fixture(scope="module")
def synthetic() -> dict:
    ds = make_synthetic(n_train=200, n_test=200, seed=11)
    out = {}
    for part, rows in (("train", ds.pool), ("test", ds.holdout)):
        ids = list(rows.index)
        out[part] = (ds.load_images(ids, size=64), ds.load_masks(ids, size=64),
                     rows["y"].to_numpy())
    return out


def _tinted(images: np.ndarray, masks: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The melanomas' skin (outside the lesion) shifted towards red."""
    skin = (y[:, None, None] == 1) & ~masks
    out = images.astype(int)
    out[..., 0] += TINT * skin
    out[..., 2] -= TINT * skin
    return np.clip(out, 0, 255).astype(np.uint8)


def _baselines(synthetic: dict, *, tint: bool):
    features, labels = {}, {}
    for part, (images, masks, y) in synthetic.items():
        shown = _tinted(images, masks, y) if tint else images
        features[part], labels[part] = region_features(shown, masks), y
    return blind_baselines(features["train"], labels["train"], features["test"],
                           labels["test"], n_bootstrap=200).set_index("region")


def test_a_tint_that_follows_the_label_is_found_outside_the_lesion(synthetic) -> None:
    started = time.perf_counter()
    table = _baselines(synthetic, tint=True)
    assert time.perf_counter() - started < 30  # seconds on a demo-size set (400 images)
    assert list(table.reset_index().columns) == list(BASELINE_COLUMNS)
    assert table.loc["outside", "auc"] >= 0.9
    assert table.loc["outside", "auc_low"] <= table.loc["outside", "auc"]
    assert (table["n_test"] == 200).all() and (table["n_features"] == 30).all()


def test_without_the_tint_the_skin_says_nothing(synthetic) -> None:
    table = _baselines(synthetic, tint=False)
    assert table.loc["outside", "auc"] <= 0.6
    assert table.loc["lesion", "auc"] > 0.75  # the lesion itself does carry the label


def test_acquisition_check_and_fit_checks(synthetic) -> None:
    images, masks, y = synthetic["train"]
    timages, tmasks, ty = synthetic["test"]
    # An "acquisition" that tints half of the images, whatever their label.
    flag, tflag = np.arange(len(y)) % 2, np.arange(len(ty)) % 2
    train = region_features(_tinted(images, masks, flag), masks)
    test = region_features(_tinted(timages, tmasks, tflag), tmasks)
    out = acquisition_check(train, flag, test, tflag, n_bootstrap=100)
    assert out["auc"] >= 0.9 and out["n_test"] == len(ty) and out["region"] == "outside"
    only = acquisition_check(train, flag, test, tflag, train_rows=y == 0, test_rows=ty == 0,
                             n_bootstrap=0)
    assert only["n_test"] == int((ty == 0).sum()) and only["auc_low"] is None
    with pytest.raises(ValueError, match="region"):
        acquisition_check(train, flag, test, tflag, region="border")
    with pytest.raises(ValueError, match="both classes"):
        fit_baseline(train["whole"], np.zeros(len(y)), test["whole"], ty)
    with pytest.raises(ValueError, match="width"):
        fit_baseline(train["whole"], y, test["whole"][:, :3], ty)
    with pytest.raises(ValueError, match="lacks region"):
        blind_baselines({"whole": train["whole"]}, y, test, ty)
    fit = fit_baseline(train["whole"], y, test["whole"], ty, n_bootstrap=0)
    assert fit["score"].shape == (len(ty),) and 0 <= fit["auc"] <= 1
