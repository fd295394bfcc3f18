"""The service layer (:mod:`dermviz.api`): a suite opened once loads each member and its data
set once; the calls the dashboard makes check their inputs and agree with the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz import api


def test_a_suite_object_keeps_what_it_loads(smoke_models_dir):
    suite = api.open_suite(smoke_models_dir / "demo-smoke")
    member = api.first_member(suite)
    model = api.load_model(suite, member)
    assert api.load_model(suite, member) is model  # loaded once per suite object
    assert suite.load_model(member) is not model  # a fresh copy on request
    assert api.suite_dataset(suite) is suite.dataset()
    assert api.open_suite(suite.path).dataset() is not suite.dataset()  # per object


def test_a_suite_is_found_by_name_only(smoke_models_dir):
    assert "demo-smoke" in api.suite_names(smoke_models_dir)
    path = api.suite_path(smoke_models_dir, "demo-smoke")
    assert path == smoke_models_dir / "demo-smoke"
    assert api.suite_stamp(path) == api.suite_stamp(api.open_suite(path))
    with pytest.raises(ValueError):
        api.suite_path(smoke_models_dir, "../elsewhere")
    with pytest.raises(api.SuiteNotFoundError, match="no suite at"):
        api.suite_path(smoke_models_dir, "missing")


def test_one_map_is_the_stored_one_and_counts_as_stored(smoke_suite):
    member = smoke_suite.member_ids[0]
    image_id = str(api.holdout(smoke_suite)["image_id"].iloc[0])
    params = api.method_defaults(smoke_suite, "gradcam")
    one = api.saliency_map(smoke_suite, member, image_id, method="gradcam", params=params)
    stored = api.stored_maps(smoke_suite, [member], image_id, method="gradcam", params=params)
    np.testing.assert_array_equal(stored[member].maps, one.maps)
    batch = api.saliency(smoke_suite, [image_id], method="gradcam", member=member)
    np.testing.assert_array_equal(batch.maps, one.maps)


def test_an_upload_is_explained_at_the_suite_size_only(smoke_suite):
    member = smoke_suite.member_ids[0]
    params = api.method_defaults(smoke_suite, "gradcam")
    size = smoke_suite.image_size
    with pytest.raises(ValueError, match=r"image must be"):
        api.explain_upload(smoke_suite, member, np.zeros((size + 1, size, 3), np.uint8),
                           method="gradcam", params=params)
    maps = api.explain_upload(smoke_suite, member, np.full((size, size, 3), 128, np.uint8),
                              method="gradcam", params=params)
    assert maps.maps.shape == (1, size, size)
    assert 0.0 <= float(maps.p_melanoma[0]) <= 1.0


def test_member_calls_use_each_members_threshold():
    table = api.member_calls([0.2, 0.6, 0.5], [0.5, 0.5, 0.5], ["a", "b", "c"])
    assert table["call"].tolist() == ["naevus", "melanoma", "melanoma"]
    with pytest.raises(ValueError, match="one probability and one threshold per member"):
        api.member_calls([0.2], [0.5, 0.5], ["a", "b"])


def test_the_browser_table_scores_stored_maps(smoke_suite):
    table = api.lesion_browser_table(smoke_suite)
    assert len(table) == len(api.lesions(smoke_suite))
    assert 0 <= api.n_scored(table) <= len(table)
    with pytest.raises(ValueError, match="not a lesion_browser_table"):
        api.n_scored(pd.DataFrame({"image_id": ["a"]}))


def test_a_suite_travels_to_another_process_without_what_it_loaded(smoke_suite):
    import pickle

    smoke_suite.dataset()
    copy = pickle.loads(pickle.dumps(smoke_suite))
    assert copy.path == smoke_suite.path and copy.manifest == smoke_suite.manifest
    assert copy.dataset() is not smoke_suite.dataset()  # opened anew over there
