"""The counterfactual swap of a map's top pixels, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.evaluation.counterfactual import counterfactual_drop, top_fraction_mask


def _masks() -> np.ndarray:
    masks = np.zeros((2, 10, 10), bool)
    masks[:, 2:4, 2:4] = True  # 4 of 100 pixels
    return masks


def test_top_fraction_mask() -> None:
    m = np.arange(10.0).reshape(2, 5)
    assert top_fraction_mask(m, 0.2).ravel().tolist() == [False] * 8 + [True] * 2
    with pytest.raises(ValueError, match="fraction"):
        top_fraction_mask(m, 0.0)


def test_top_fraction_mask_picks_tied_pixels_at_random_not_in_pixel_order() -> None:
    """A flat map (the positive part of a signed map that is all negative) ties
    everywhere: in pixel order its top 10% would be the top two rows, whatever the map."""
    flat = np.zeros((20, 20))
    top_rows = np.zeros((20, 20), bool)
    top_rows[:2] = True
    picks = [top_fraction_mask(flat, 0.1, seed=s) for s in range(50)]
    assert all(p.sum() == 40 for p in picks)
    on_rows = np.mean([(p & top_rows).sum() / 40 for p in picks])
    assert on_rows == pytest.approx(0.1, abs=0.03)  # pixel order gives 1.0
    assert (top_fraction_mask(flat, 0.1, seed=3) == picks[3]).all()  # seeded
    # Pixels above the cut are always in; the tied block (8 pixels at 5) fills the rest.
    m = np.zeros((4, 4))
    m[0, 0] = 9.0
    m[2:4, :] = 5.0
    for s in range(5):
        pick = top_fraction_mask(m, 5 / 16, seed=s)
        assert pick[0, 0] and pick[2:4].sum() == 4 and pick.sum() == 5
    assert len({top_fraction_mask(m, 5 / 16, seed=s).tobytes() for s in range(10)}) > 1


def test_counterfactual_drop_known_answer() -> None:
    """p = the share of evidence pixels still red: a map on the evidence removes all of it,
    a map elsewhere none, a random map about the swapped share of it."""
    masks = _masks()
    images = np.zeros((2, 10, 10, 3), np.uint8)
    images[masks] = (255, 0, 0)
    counterfactuals = np.zeros_like(images)
    calls = []

    def model_fn(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return (batch[..., 0] == 255).sum(axis=(1, 2)) / 4.0

    maps = np.stack([masks[0].astype(float), 1.0 - masks[1]])
    out = counterfactual_drop(model_fn, images, counterfactuals, maps, fraction=0.04,
                              batch_size=1)
    assert out["p"].tolist() == [1.0, 1.0] and out["drop_full"].tolist() == [1.0, 1.0]
    assert out["drop"].tolist() == [1.0, 0.0]
    assert (out["drop_random"] >= 0).all() and (out["drop_random"] <= 1).all()
    assert calls == [1] * 8  # four batched passes of two images each
    with pytest.raises(ValueError, match="counterfactuals"):
        counterfactual_drop(model_fn, images, counterfactuals[:1], maps)
