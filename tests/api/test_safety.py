"""Issue 24 through the API on the session's smoke demo suite: the OOD flag (its own
hold-out passes, a natural photograph is flagged), calibrated similar cases, the maps'
honesty helpers, and the safety data of an older suite prepared by ``dermviz prepare``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dermviz import api


def _photograph(size: int) -> np.ndarray:
    """scikit-image's astronaut, a natural photograph nothing like dermoscopy, at ``size``
    px as an upload would be (:func:`dermviz.api.upload_image`)."""
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return api.upload_image(buf.getvalue(), filename="astronaut.png", size=size)[1]


def test_the_demo_build_stores_its_safety_data(smoke_suite):
    safety = api.suite_safety(smoke_suite)
    assert safety is not None
    assert safety.calibration.members == tuple(smoke_suite.member_ids)
    assert (smoke_suite.path / "safety" / "holdout.npz").is_file()
    assert api.safety_version(smoke_suite) > 0


def test_the_holdout_passes_and_a_photograph_is_flagged(smoke_suite):
    ood = api.holdout_ood(smoke_suite)
    assert len(ood) == len(api.holdout(smoke_suite))
    assert ood["unusual"].mean() <= 0.02  # calibrated at the hold-out's 99th percentile
    ids = ood["image_id"].tolist()[:3]
    own = api.image_ood(smoke_suite, np.stack([api.image(smoke_suite, i) for i in ids]))
    assert not own["unusual"].any()  # the same images, embedded again: not unusual
    np.testing.assert_allclose(own["ood_score"], ood["ood_score"][:3], rtol=1e-4)
    photo = api.image_ood(smoke_suite, _photograph(smoke_suite.image_size)[None])
    assert photo["unusual"].item()
    assert photo["ood_percentile"].item() == 100.0
    assert photo["ood_score"].item() > photo["threshold"].item()


def test_image_ood_checks_the_image_size(smoke_suite):
    with pytest.raises(ValueError, match="images must be"):
        api.image_ood(smoke_suite, np.zeros((1, 8, 8, 3), np.uint8))


def test_similar_cases_carry_a_calibrated_closeness(smoke_suite):
    image_id = api.holdout(smoke_suite)["image_id"].iloc[0]
    found = api.holdout_similar_cases(smoke_suite, image_id, k=5)
    assert list(found["rank"]) == [1, 2, 3, 4, 5]
    assert set(found["closeness"]) <= set(api.CLOSENESS)
    assert found["distance_percentile"].between(0, 100).all()
    assert found["distance_percentile"].is_monotonic_increasing  # farther down the list
    assert "dx" in found.columns
    with pytest.raises(KeyError):
        api.holdout_similar_cases(smoke_suite, "no-such-image")


def test_a_flagged_images_neighbours_are_all_far(smoke_suite):
    """The astronaut is flagged unusual; the cosine ignores scale and would call some of its
    neighbours close, the page's words do not."""
    photo = _photograph(smoke_suite.image_size)[None]
    found = api.upload_similar_cases(smoke_suite, photo, k=5)
    assert (found["closeness"] == "far").all()
    assert api.every_neighbour_far(found)
    # the same neighbours worded by the percentile alone (as if it were not flagged)
    plain = api.upload_similar_cases(smoke_suite, photo, k=5, unusual=[False])
    assert plain["image_id"].tolist() == found["image_id"].tolist()
    np.testing.assert_allclose(plain["distance_percentile"], found["distance_percentile"])
    with pytest.raises(ValueError, match="one bool per image"):
        api.upload_similar_cases(smoke_suite, photo, k=5, unusual=[True, True])


def test_signed_cam_is_the_map_without_the_relu():
    grid = np.array([[[1.0, -3.0], [0.5, -0.5]]], np.float32)
    maps = api.SaliencyMaps(method="gradcam", maps=np.zeros((1, 6, 6), np.float32),
                            target_class=np.array([1]), p_melanoma=np.array([0.7], np.float32),
                            grid=(2, 2), params={}, extras={"grid_cam": grid})
    signed = api.signed_cam(maps)
    assert signed.shape == (6, 6)
    assert signed.min() == pytest.approx(-1.0) and 0 < signed.max() < 1  # -3 is the extreme
    assert signed[0, -1] < 0 < signed[0, 0]
    assert api.signed_cam(dataclasses.replace(maps, extras={})) is None
    with pytest.raises(IndexError):
        api.signed_cam(maps, 1)


def test_every_neighbour_far():
    far = pd.DataFrame({"rank": [1, 2], "closeness": ["far", "far"]})
    assert api.every_neighbour_far(far)
    assert not api.every_neighbour_far(far.assign(closeness=["close", "far"]))
    assert not api.every_neighbour_far(far.iloc[:0])


def test_shap_display_greys_out_what_is_within_the_noise():
    from dermviz.explain.maps import SaliencyMaps

    segments = np.repeat(np.arange(3), 4).reshape(3, 4)[None]  # 3 superpixels, one per row
    values = np.array([[0.5, -0.01, 0.2]], np.float32)
    maps = SaliencyMaps(
        method="kernelshap", maps=values[0][segments].astype(np.float32),
        target_class=np.array([1]), p_melanoma=np.array([0.7], np.float32), grid=None,
        params={}, extras={"segments": segments, "shap_values": values, "n_segments": np.array([3]),
                "estimated_error": np.array([0.05])})
    shown, keep, sentence = api.shap_display(maps)
    assert keep.tolist() == [[True] * 4, [False] * 4, [True] * 4]
    assert (shown[1] == 0).all() and shown[0, 0] == pytest.approx(0.5)
    assert sentence.startswith("2 of 3 superpixels are distinguishable from zero")
    bare = dataclasses.replace(maps, extras={k: v for k, v in maps.extras.items()
                                             if k != "estimated_error"})
    _, keep, sentence = api.shap_display(bare)
    assert keep is None and "no estimate of its sampling noise" in sentence


def test_an_older_suite_is_prepared_by_the_cli(smoke_suite, tmp_path):
    """A suite built before the safety data: none until ``dermviz prepare`` (what the
    pages' background job runs), which writes them with its progress."""
    import shutil

    from dermviz.cli import main
    from dermviz.store.status import read_status
    from tests.helpers import share_suite

    suite = api.open_suite(share_suite(smoke_suite.path, tmp_path / "old"))
    shutil.rmtree(suite.path / "safety")
    shutil.rmtree(suite.path / "confounders", ignore_errors=True)
    assert api.suite_safety(suite) is None
    image_id = str(api.holdout(suite)["image_id"].iloc[0])
    assert api.stored_counterfactual_p(suite, image_id) is None
    with pytest.raises(api.SafetyNotReadyError, match="dermviz prepare old"):
        api.holdout_ood(suite)
    status = tmp_path / "status.json"
    assert main(["--models-dir", str(tmp_path), "prepare", "old",
                 "--status-file", str(status)]) == 0
    done = read_status(status)
    assert done["done"] and done["error"] is None and done["safety_fraction"] == 1.0
    assert api.safety_job(tmp_path, "old").state == "none"  # that file was not the job's
    # The Case page's lesion-removed verdicts are prepared too: it loads no member.
    assert sorted(api.stored_counterfactual_p(suite, image_id)) == suite.member_ids
    again = api.holdout_ood(suite)
    pd.testing.assert_frame_equal(again, api.holdout_ood(smoke_suite))
