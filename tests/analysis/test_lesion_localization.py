"""Per-image localization over the members, and the browser's "maps miss the lesion"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.analysis.browse import MISSES_LESION, LesionFilter
from dermviz.analysis.lesion_localization import (
    LESION_SHARE,
    join_localization,
    localization_by_image,
)

N = 10
MASK = np.zeros((N, N), bool)
MASK[3:7, 3:7] = True  # lesion share 0.16


def _on(value: float = 1.0) -> np.ndarray:  # all mass on the lesion, peak on it
    m = np.zeros((N, N))
    m[4, 4] = value
    m[3:7, 3:7] += 0.1
    return m


def _off() -> np.ndarray:  # all mass in a corner, peak off the lesion
    m = np.zeros((N, N))
    m[0:2, 0:2] = 1.0
    return m


def _spread_peak_off() -> np.ndarray:
    """Mass mostly on the lesion, but the single peak off it."""
    m = np.zeros((N, N))
    m[3:7, 3:7] = 0.5
    m[0, 9] = 1.0
    return m


MAPS = {
    "a": {"hit": _on(), "miss": _off(), "split": _spread_peak_off(), "half": _on()},
    "b": {"hit": _on(2.0), "miss": _off(), "split": _spread_peak_off(), "half": _off()},
    "c": {"hit": _off(), "miss": _off(), "split": _on(), "half": _on()},
}
MASKS = {i: MASK for i in ("hit", "miss", "split", "half", "nomaps")}
#: A lesion over 60% of the image, where every member's map is flat: a peak picked at
#: random lands on it 60% of the time, but the maps localise nothing.
BIG = np.zeros((N, N), bool)
BIG[:6] = True
MAPS_FLAT = {m: {"flat": np.full((N, N), 0.3)} for m in "abc"}


@pytest.fixture(scope="module")
def loc() -> pd.DataFrame:
    return localization_by_image(MAPS, MASKS).set_index("image_id")


def test_scores_per_image_over_members(loc):
    assert list(loc.index) == ["hit", "miss", "split", "half", "nomaps"]
    assert loc[LESION_SHARE].tolist() == pytest.approx([0.16] * 5)
    assert loc.loc["hit", "gradcam_mass"] == pytest.approx(2 / 3)  # two on, one off
    assert loc.loc["hit", "gradcam_pointing"] == pytest.approx(2 / 3)
    assert loc.loc["miss", "gradcam_mass"] == 0.0
    assert loc.loc["split", "gradcam_pointing"] == pytest.approx(1 / 3)
    assert loc.loc["split", "gradcam_mass"] > 0.16  # mass beats chance, the peak does not
    assert loc["gradcam_maps"].tolist() == [3, 3, 3, 3, 0]
    assert np.isnan(loc.loc["nomaps", "gradcam_mass"])


def test_misses_below_chance_or_peak_off_for_most_members(loc):
    assert loc["gradcam_misses"].to_dict() == {
        "hit": False, "miss": True, "split": True, "half": False, "nomaps": False}


def test_flat_maps_miss_even_a_lesion_that_fills_most_of_the_image():
    flat = localization_by_image(MAPS_FLAT, {"flat": BIG}).set_index("image_id").loc["flat"]
    assert flat["gradcam_mass"] == pytest.approx(0.6)
    assert flat["gradcam_pointing"] == pytest.approx(0.6)  # chance, not a hit
    assert bool(flat["gradcam_misses"])


def test_the_filter_keeps_exactly_the_images_whose_maps_miss(loc):
    table = pd.DataFrame({"image_id": ["hit", "miss", "split", "half", "nomaps", "nomask"],
                          "n_wrong": [0, 1, 2, 3, 4, 5], "mean_p": 0.5, "true_class": "naevus"})
    joined = join_localization(table, loc.reset_index())
    assert joined.loc[5, "gradcam_maps"] == 0 and not joined.loc[5, MISSES_LESION]
    kept = LesionFilter(misses_lesion=True, descending=False).apply(joined)
    assert kept["image_id"].tolist() == ["miss", "split"]
    assert len(LesionFilter().apply(joined)) == 6
    with pytest.raises(ValueError, match="gradcam_misses"):
        LesionFilter(misses_lesion=True).apply(table)
    with pytest.raises(ValueError, match="already has"):
        join_localization(joined, loc.reset_index())


def test_signed_maps_are_scored_on_their_positive_part():
    negative_on_lesion = -_on()
    negative_on_lesion[0, 0] = 0.5  # the only positive evidence, off the lesion
    out = localization_by_image({"a": {"x": negative_on_lesion}}, {"x": MASK},
                                method="kernelshap", signed=True)
    assert out.loc[0, "kernelshap_mass"] == 0.0 and bool(out.loc[0, "kernelshap_misses"])


def test_url_round_trip_of_the_filter():
    flt = LesionFilter(misses_lesion=True, true_class="melanoma")
    assert flt.to_query() == {"true_class": "melanoma", "misses_lesion": "1"}
    assert LesionFilter.from_query(flt.to_query()) == (flt, [])
    bad, notes = LesionFilter.from_query({"misses_lesion": "yes"})
    assert bad == LesionFilter() and "misses_lesion" in notes[0]


def test_a_map_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        localization_by_image({"a": {"x": np.ones((4, 4))}}, {"x": MASK})
    with pytest.raises(ValueError, match="boolean"):
        localization_by_image({}, {"x": MASK.astype(int)})
