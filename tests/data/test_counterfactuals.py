"""Tests for the counterfactual images: the lesion removed, the surround replaced."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.counterfactuals import (
    other_class_donors,
    remove_lesion,
    replace_surround,
)
from dermviz.data.regions import dilate_masks, margin_pixels
from dermviz.data.synthetic import make_synthetic

#: Tolerance of "nothing of the lesion is left": the median colour inside the removed region
#: is within this many grey levels (per channel) of the ring of skin around it (medians, as
#: the ring may clip the image's dark vignette).
SURROUND_TOLERANCE = 12.0


@pytest.fixture(scope="module")
def lesions() -> tuple[np.ndarray, np.ndarray]:
    ds = make_synthetic(n_train=0, n_test=8, seed=5)
    ids = list(ds.holdout.index)
    return ds.load_images(ids, size=96), ds.load_masks(ids, size=96)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_inpainting_leaves_nothing_of_the_lesion(lesions, method: str) -> None:
    images, masks = lesions
    out = remove_lesion(images, masks, method=method)
    regions = dilate_masks(masks, pixels=margin_pixels(images.shape[1:3]))
    ring = dilate_masks(regions, pixels=6) & ~regions
    for img, new, region, around in zip(images, out, regions, ring, strict=True):
        assert (new[~region] == img[~region]).all()  # the skin is untouched
        inside, skin = new[region].astype(float), new[around].astype(float)
        before = img[region].astype(float)
        assert np.abs(np.median(inside, 0) - np.median(skin, 0)).max() < SURROUND_TOLERANCE
        # The lesion was darker than its skin, by far more than the tolerance.
        assert (np.median(skin, 0) - np.median(before, 0)).max() > 2 * SURROUND_TOLERANCE
        # No dark lesion pixels survive: the darkest tenth inside is skin-dark, not lesion-dark.
        assert np.percentile(inside.mean(1), 10) > np.percentile(before.mean(1), 50)


def test_remove_lesion_edge_cases(lesions) -> None:
    images, masks = lesions
    assert (remove_lesion(images, np.zeros_like(masks)) == images).all()
    assert (remove_lesion(images[:1], np.ones_like(masks[:1])) == images[:1]).all()
    with pytest.raises(ValueError, match="method"):
        remove_lesion(images, masks, method="blur")
    with pytest.raises(ValueError, match="do not match"):
        remove_lesion(images, masks[:, :10])
    with pytest.raises(ValueError, match="uint8"):
        remove_lesion(images.astype(float), masks)


def test_replace_surround_keeps_the_lesion_on_the_donor_skin(lesions) -> None:
    images, masks = lesions
    donors = images[::-1].copy()
    out = replace_surround(images, masks, donors, masks[::-1])
    regions = dilate_masks(masks, pixels=margin_pixels(images.shape[1:3]))
    skin = remove_lesion(donors, masks[::-1])
    for k in range(len(images)):
        assert (out[k][regions[k]] == images[k][regions[k]]).all()
        assert (out[k][~regions[k]] == skin[k][~regions[k]]).all()
    plain = replace_surround(images, masks, donors)
    assert (plain[0][~regions[0]] == donors[0][~regions[0]]).all()
    with pytest.raises(ValueError, match="donors"):
        replace_surround(images, masks, donors[:2])


def test_other_class_donors() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    donors = other_class_donors(y, seed=3)
    assert (y[donors] != y).all()
    assert (other_class_donors(y, seed=3) == donors).all()
    with pytest.raises(ValueError, match="both classes"):
        other_class_donors(np.zeros(3, int))
