"""Tests for Shades of Gray colour constancy."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.colour_constancy import illuminant, shades_of_gray


def _scene(seed: int = 0) -> np.ndarray:
    """A grey-world scene: random neutral-ish surfaces under a white light."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, size=(32, 32, 3), dtype=np.uint8)


def test_a_colour_cast_is_removed() -> None:
    scene = _scene()
    cast = np.clip(scene * np.array([1.0, 0.8, 0.55]), 0, 255).astype(np.uint8)
    fixed = shades_of_gray(cast)
    # The channel means, unequal under the cast, are nearly equal after the correction.
    before, after = cast.reshape(-1, 3).mean(0), fixed.reshape(-1, 3).mean(0)
    assert np.ptp(before) > 40
    assert np.ptp(after) < 0.1 * np.ptp(before)
    # Two casts of the same scene end up with (nearly) the same colours; only the overall
    # brightness, which the method does not fix, may differ.
    other = np.clip(scene * np.array([0.6, 0.9, 1.0]), 0, 255).astype(np.uint8)

    def chromaticity(img: np.ndarray) -> np.ndarray:
        x = img.reshape(-1, 3).astype(float) + 1
        return x / x.sum(1, keepdims=True)

    assert np.abs(chromaticity(cast) - chromaticity(other)).mean() > 0.05
    assert np.abs(chromaticity(shades_of_gray(other)) - chromaticity(fixed)).mean() < 0.01


def test_neutral_illuminant_and_shapes() -> None:
    grey = np.full((8, 8, 3), 120, np.uint8)
    assert np.allclose(illuminant(grey), 1 / np.sqrt(3))
    assert (shades_of_gray(grey) == grey).all()
    batch = np.stack([_scene(0), _scene(1)])
    out = shades_of_gray(batch)
    assert out.shape == batch.shape and out.dtype == np.uint8
    assert (out[1] == shades_of_gray(batch[1])).all()  # per image, not per batch
    assert illuminant(batch, power=np.inf).shape == (2, 3)
    black = np.zeros((4, 4, 3), np.uint8)
    assert (shades_of_gray(black) == 0).all()


def test_power_one_is_grey_world() -> None:
    img = _scene(2)
    e = illuminant(img, power=1)
    mean = img.reshape(-1, 3).mean(0) / 255
    assert np.allclose(e, mean / np.linalg.norm(mean))


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="uint8"):
        shades_of_gray(np.zeros((4, 4, 3), float))
    with pytest.raises(ValueError, match="RGB"):
        shades_of_gray(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="power"):
        shades_of_gray(np.zeros((4, 4, 3), np.uint8), power=0.5)
