"""KernelSHAP backgrounds and the reference-gap check."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.backgrounds import (
    BACKGROUNDS,
    DEGENERATE_GAP,
    background_image,
    degenerate,
    gap_warning,
    reference_gap,
)


def lesion_image(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size]
    mask = (ys - size / 2) ** 2 + (xs - size / 2) ** 2 <= (size / 5) ** 2
    image = np.empty((size, size, 3), np.uint8)
    image[:] = (220, 170, 150)  # skin
    image[mask] = (90, 50, 40)  # a dark lesion
    return image, mask


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_every_background_is_an_image_without_the_lesion_shape(kind: str) -> None:
    image, mask = lesion_image()
    out = background_image(image, kind)
    assert out.shape == image.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    if kind == "white":
        assert (out == 255).all()
    if kind == "mean":
        assert np.allclose(out, image.reshape(-1, 3).mean(0))
    if kind in ("blur", "inpaint"):
        # the lesion's sharp dark disc is gone: the centre is far lighter than the lesion
        centre = out[28:36, 28:36].mean(axis=(0, 1))
        assert (centre > np.array([90, 50, 40]) + 20).all()
    if kind == "inpaint":
        # the skin far from the lesion is untouched, and the fill looks like skin
        assert np.array_equal(out[:5, :5], image[:5, :5].astype(np.float32))
        assert np.abs(out[mask].mean(0) - np.array([220, 170, 150])).max() < 25


def test_inpaint_uses_a_given_mask_and_checks_it() -> None:
    image, mask = lesion_image()
    assert np.allclose(background_image(image, "inpaint", lesion_mask=mask),
                       background_image(image, "inpaint"), atol=2)
    with pytest.raises(ValueError, match="does not match"):
        background_image(image, "inpaint", lesion_mask=mask[:10])
    with pytest.raises(ValueError, match="unknown background"):
        background_image(image, "grey")
    with pytest.raises(ValueError, match="one RGB image"):
        background_image(image[..., 0], "white")


def test_reference_gap_flags_a_model_that_saturates_on_the_background() -> None:
    # the demo's case: white scores 1.000, the lesion 0.999
    f_x, base = np.array([0.999, 0.9]), np.array([1.0, 0.2])
    assert np.allclose(reference_gap(f_x, base), [0.001, 0.7])
    assert list(degenerate(f_x, base)) == [True, False]
    assert "0.0010" in gap_warning(0.999, 1.0)
    assert gap_warning(0.9, 0.2) is None
    assert not degenerate([0.5], [0.5 + DEGENERATE_GAP])[0]
    with pytest.raises(ValueError, match="min_gap"):
        degenerate(f_x, base, min_gap=-1)
