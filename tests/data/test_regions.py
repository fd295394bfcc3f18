"""Tests for the lesion regions: grown masks and the centred ellipse."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.regions import centred_ellipse, dilate_masks, margin_pixels


def test_dilate_grows_by_the_margin_in_every_direction() -> None:
    mask = np.zeros((11, 11), bool)
    mask[5, 5] = True
    grown = dilate_masks(mask, pixels=2)
    assert grown.sum() == 25 and grown[3:8, 3:8].all()
    batch = dilate_masks(np.stack([mask, np.zeros_like(mask)]), pixels=1)
    assert batch.shape == (2, 11, 11) and batch[0].sum() == 9 and not batch[1].any()
    assert (dilate_masks(mask, pixels=0) == mask).all()
    with pytest.raises(ValueError, match="pixels"):
        dilate_masks(mask, pixels=-1)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        dilate_masks(np.zeros(5, bool), pixels=1)


def test_margin_pixels() -> None:
    assert margin_pixels((100, 200, 3), fraction=0.05) == 5
    assert margin_pixels((10, 10), fraction=0.01) == 1  # never rounds a margin away
    assert margin_pixels((10, 10), fraction=0) == 0
    with pytest.raises(ValueError, match="fraction"):
        margin_pixels((10, 10), fraction=0.6)


def test_centred_ellipse() -> None:
    e = centred_ellipse(60, 80, fraction=0.5)
    assert e.shape == (60, 80) and e[30, 40] and not e[0, 0]
    rows, cols = np.nonzero(e)
    assert rows.min() == 60 - 1 - rows.max() and cols.min() == 80 - 1 - cols.max()  # centred
    assert 0.5 * 60 - 2 <= np.ptp(rows) + 1 <= 0.5 * 60 and np.ptp(cols) + 1 <= 0.5 * 80
    assert abs(e.mean() - np.pi * 0.25**2) < 0.01
    with pytest.raises(ValueError, match="fraction"):
        centred_ellipse(10, 10, fraction=0)
    with pytest.raises(ValueError, match="height"):
        centred_ellipse(0, 10)
