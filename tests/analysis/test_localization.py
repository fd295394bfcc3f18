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
