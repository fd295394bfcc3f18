"""Tests for the named colour statistics of image regions."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.analysis.blind.features import FEATURE_NAMES, colour_statistics, region_features


def _two_tone(n: int = 2, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Images with a dark square lesion on red-ish skin; the lesion mask."""
    images = np.empty((n, size, size, 3), np.uint8)
    images[:] = (200, 120, 100)
    masks = np.zeros((n, size, size), bool)
    masks[:, 12:20, 12:20] = True
    images[masks] = (40, 30, 20)
    return images, masks


def test_feature_names() -> None:
    assert len(FEATURE_NAMES) == 30 and len(set(FEATURE_NAMES)) == 30
    assert FEATURE_NAMES[:5] == ("r_mean", "r_std", "r_p5", "r_p50", "r_p95")
    assert "h_p95" in FEATURE_NAMES and "v_mean" in FEATURE_NAMES


def test_statistics_of_a_known_image() -> None:
    images, masks = _two_tone()
    whole = colour_statistics(images)
    assert list(whole.columns) == list(FEATURE_NAMES) and len(whole) == 2
    skin = colour_statistics(images, ~masks).iloc[0]
    assert skin["r_mean"] == pytest.approx(200 / 255) and skin["r_std"] == pytest.approx(0)
    assert skin["v_p50"] == pytest.approx(200 / 255)  # V = max(R, G, B)
    assert skin["s_mean"] == pytest.approx(1 - 100 / 200, abs=1e-6)
    lesion = colour_statistics(images, masks).iloc[0]
    assert lesion["g_p95"] == pytest.approx(30 / 255)
    share = masks[0].mean()
    assert whole.iloc[0]["r_mean"] == pytest.approx(share * 40 / 255 + (1 - share) * 200 / 255)
    empty = colour_statistics(images, np.zeros_like(masks))
    assert empty.isna().all().all()


def test_region_features_grow_the_mask_and_fall_back_to_the_ellipse() -> None:
    images, masks = _two_tone()
    out = region_features(images, masks, has_mask=np.array([True, False]),
                          margin_fraction=0.1)
    assert out["whole"].shape == out["outside"].shape == out["lesion"].shape == (2, 30)
    assert out["feature_names"] == list(FEATURE_NAMES)
    assert out["uses_ellipse"].tolist() == [False, True] and out["margin_pixels"] == 3
    r_std = FEATURE_NAMES.index("r_std")
    assert out["outside"][0, r_std] == pytest.approx(0)  # pure skin: the rim is excluded
    assert out["lesion"][0, r_std] == pytest.approx(0)
    assert out["lesion"][1, r_std] > 0  # the ellipse mixes skin and lesion
    none = region_features(images)
    assert none["uses_ellipse"].all()
    full = region_features(images, np.ones_like(masks))
    assert full["empty_outside"].all() and np.isnan(full["outside"]).all()
    with pytest.raises(ValueError, match="do not match"):
        region_features(images, masks[:, :5])
    with pytest.raises(ValueError, match="has_mask"):
        region_features(images, masks, has_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="uint8"):
        colour_statistics(images.astype(float))
