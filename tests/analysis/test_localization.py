from __future__ import annotations

import numpy as np
import pytest

from dermviz.analysis.localization import centre_prior, mask_share, mass_in_mask


def test_uniform_map_scores_chance_and_perfect_map_scores_one():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 3:8] = True
    assert mass_in_mask(np.ones((10, 10)), mask)[0] == pytest.approx(mask_share(mask)[0])
    assert mass_in_mask(mask.astype(float), mask)[0] == pytest.approx(1.0)
    assert mass_in_mask((~mask).astype(float), mask)[0] == pytest.approx(0.0)
    assert np.isnan(mass_in_mask(np.zeros((10, 10)), mask)[0])


def test_centre_prior_beats_chance_on_central_lesions():
    mask = np.zeros((40, 40), bool)
    mask[12:28, 12:28] = True
    prior = centre_prior((40, 40))
    assert prior.max() == pytest.approx(1.0, abs=0.01)  # even size: no pixel at the centre
    assert mass_in_mask(prior, mask)[0] > mask_share(mask)[0]


def test_input_checks():
    with pytest.raises(ValueError, match="boolean"):
        mass_in_mask(np.ones((4, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        mass_in_mask(-np.ones((4, 4)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="must both be"):
        mass_in_mask(np.ones((4, 4)), np.ones((5, 5), bool))


# --- every score: a map on the lesion ranks above a map off it, and a sharp map on an
# off-centre lesion beats the centred Gaussian, which never looks at the image.

from dermviz.analysis.localization import (  # noqa: E402
    LOCALIZATION_SCORES,
    localization_table,
    pointing_game,
    relevance_rank_accuracy,
    summarize_localization,
)


def _blob(shape, centre, sigma):
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2) / (2 * sigma**2))


def _scene():
    """A 48x48 image with an off-centre lesion (a disc at (14, 34)), and three maps: a sharp
    one on the lesion, one on a distractor in the opposite corner, a blurry central one."""
    shape = (48, 48)
    ys, xs = np.mgrid[0:48, 0:48]
    mask = (ys - 14) ** 2 + (xs - 34) ** 2 <= 7**2
    on = _blob(shape, (14, 34), 3.0)
    off = _blob(shape, (38, 8), 3.0)
    return mask, on, off


@pytest.mark.parametrize("score", sorted(LOCALIZATION_SCORES))
def test_score_ranks_on_lesion_above_off_and_above_gaussian(score):
    mask, on, off = _scene()
    table = localization_table(np.stack([on, off]), np.stack([mask, mask]),
                               image_ids=["on", "off"], scores=[score])
    s_on, s_off = table[score]
    assert s_on > s_off
    assert s_on > table[f"{score}_gaussian"].iloc[0]
    assert s_on > table["chance"].iloc[0]


def test_rank_accuracy_and_pointing_known_values():
    mask = np.zeros((10, 10), bool)
    mask[0:2, 0:5] = True  # 10 pixels
    m = np.zeros((10, 10))
    m[0, 0:5] = 2.0  # 5 of the top 10 on the lesion, the peak on it
    m[9, 0:5] = 1.0
    assert relevance_rank_accuracy(m, mask)[0] == pytest.approx(0.5)
    assert pointing_game(m, mask)[0] == 1.0
    far = np.zeros((10, 10))
    far[3, 2] = 1.0  # two pixels below the lesion's last row
    assert pointing_game(far, mask)[0] == 0.0
    assert pointing_game(far, mask, tolerance=2)[0] == 1.0
    # a flat map has every pixel as its peak: it scores chance, the mask's share
    assert pointing_game(np.ones((10, 10)), mask)[0] == pytest.approx(0.1)
    assert np.isnan(pointing_game(np.zeros((10, 10)), mask)[0])
    assert np.isnan(relevance_rank_accuracy(np.ones((10, 10)), np.zeros((10, 10), bool))[0])


def test_pointing_scores_a_peak_shared_by_a_superpixel_by_its_share_on_the_mask():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 2:6] = True  # 16 pixels
    # a map constant over each "superpixel", as KernelSHAP's are: its top region (4x4)
    # straddles the mask's corner, 4 of its 16 pixels on the mask
    m = np.full((10, 10), 0.1)
    m[4:8, 4:8] = 0.9
    assert pointing_game(m, mask)[0] == pytest.approx(0.25)
    # the same region wholly inside the mask is a full hit, wholly outside a miss
    inside = np.full((10, 10), 0.1)
    inside[2:6, 2:6] = 0.9
    assert pointing_game(inside, mask)[0] == 1.0
    outside = np.full((10, 10), 0.1)
    outside[6:10, 6:10] = 0.9
    assert pointing_game(outside, mask)[0] == 0.0
    # a tolerance counts the pixels near the mask as on it: 9 of 16 within one pixel
    assert pointing_game(m, mask, tolerance=1)[0] == pytest.approx(9 / 16)


def test_rank_accuracy_counts_ties_at_the_kth_value_in_proportion():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 2:6] = True  # K = 16 pixels
    m = np.full((10, 10), 0.1)
    m[2:6, 2:4] = 0.9  # 8 pixels, all on the mask
    m[4:8, 4:8] = 0.5  # a 16-pixel "superpixel", 4 of them on the mask, fills 8 places
    # 8 sure hits, and 8 places among 16 tied pixels of which a quarter are on the mask:
    # (8 + 8 / 4) / 16. Taking the tied pixels in raster order would give (8 + 4) / 16.
    assert relevance_rank_accuracy(m, mask)[0] == pytest.approx(0.625)
    # a flat map scores chance, the mask's share of the image, wherever the mask lies
    for rows in (slice(0, 4), slice(6, 10)):
        edge = np.zeros((10, 10), bool)
        edge[rows, 2:6] = True
        assert relevance_rank_accuracy(np.ones((10, 10)), edge)[0] == pytest.approx(0.16)


def test_signed_maps_are_scored_on_their_positive_part():
    mask, on, off = _scene()
    signed = on - off  # evidence for on the lesion, against off it
    table = localization_table(signed[None], mask[None], image_ids=["x"], signed=True)
    # the negative evidence off the lesion does not count against it...
    assert table["mass"].iloc[0] > 0.9
    # ...while scoring |map| would count it as much as the positive evidence
    assert mass_in_mask(np.abs(signed), mask)[0] < 0.6
    with pytest.raises(ValueError, match="non-negative"):
        localization_table(signed[None], mask[None], image_ids=["x"])


def test_table_labels_summary_and_checks():
    mask, on, off = _scene()
    table = localization_table(np.stack([on, off]), np.stack([mask, mask]),
                               image_ids=["a", "b"], labels={"member": "m00"})
    assert list(table["member"]) == ["m00", "m00"]
    summary = summarize_localization(table, by=["member"])
    assert summary["images"].iloc[0] == 2
    assert summary["beats_gaussian_mass"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown score"):
        localization_table(on[None], mask[None], image_ids=["a"], scores=["nope"])
    with pytest.raises(ValueError, match="image ids"):
        localization_table(on[None], mask[None], image_ids=["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        localization_table(np.full((1, 48, 48), np.nan), mask[None], image_ids=["a"])
