"""The saliency-map cache: keys, hits, the on-disk layout, damaged files, suites."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermviz.explain.cache import MapCache, maps_from_record, maps_to_records
from dermviz.explain.maps import SaliencyMaps
from dermviz.store import ArrayRecord, DamagedFileWarning, params_key

PARAMS = {"layer": "mixed7"}


def batch(n: int = 3, seed: int = 0) -> SaliencyMaps:
    rng = np.random.default_rng(seed)
    return SaliencyMaps(
        method="gradcam",
        maps=rng.random((n, 8, 8), dtype=np.float32),
        target_class=np.arange(n) % 2,
        p_melanoma=rng.random(n, dtype=np.float32),
        grid=(2, 2),
        params=PARAMS,
        extras={"grid_cam": rng.random((n, 2, 2), dtype=np.float32)},
        warnings=["coarse"],
    )


def test_put_get_round_trip(tmp_path):
    cache = MapCache(tmp_path)
    maps = batch()
    cache.put("m00", ["a", "b", "c"], maps)
    hit = cache.get("m00", "b", "gradcam", PARAMS)
    assert hit is not None and len(hit) == 1
    np.testing.assert_array_equal(hit.maps[0], maps.maps[1])
    np.testing.assert_array_equal(hit.extras["grid_cam"][0], maps.extras["grid_cam"][1])
    assert hit.target_class[0] == 1 and hit.grid == (2, 2) and hit.warnings == ["coarse"]
    assert hit.p_melanoma[0] == pytest.approx(maps.p_melanoma[1])
    assert hit.method == "gradcam" and hit.params == PARAMS


def test_records_round_trip_without_a_store():
    maps = batch(n=2)
    records = maps_to_records(maps)
    assert len(records) == 2
    again = SaliencyMaps.concat([maps_from_record(r) for r in records])
    np.testing.assert_array_equal(again.maps, maps.maps)
    np.testing.assert_array_equal(again.target_class, maps.target_class)
    np.testing.assert_array_equal(again.extras["grid_cam"], maps.extras["grid_cam"])


def test_on_disk_layout_is_the_historical_one(tmp_path):
    """Caches written before the store was split keep loading: same path, same arrays."""
    MapCache(tmp_path).put("m00", ["a", "b", "c"], batch())
    path = tmp_path / "m00" / "gradcam" / params_key(PARAMS) / "a.npz"
    assert path.is_file()
    with np.load(path) as data:
        assert set(data.files) == {"map", "target_class", "p_melanoma", "extra__grid_cam", "meta"}
        meta = json.loads(str(data["meta"]))
    assert meta == {"method": "gradcam", "params": PARAMS, "grid": [2, 2],
                    "warnings": ["coarse"]}


def test_key_separates_member_method_and_params(tmp_path):
    cache = MapCache(tmp_path)
    cache.put("m00", ["a", "b", "c"], batch())
    assert cache.get("m01", "a", "gradcam", PARAMS) is None
    assert cache.get("m00", "a", "kernelshap", PARAMS) is None
    assert cache.get("m00", "a", "gradcam", {"layer": "mixed10"}) is None
    assert cache.get("m00", "zz", "gradcam", PARAMS) is None
    assert len(cache.get_many("m00", ["a", "zz", "c"], "gradcam", PARAMS)) == 2


def test_unsafe_names_and_length_mismatch_are_refused(tmp_path):
    with pytest.raises(ValueError, match="safe file name"):
        MapCache(tmp_path).path("../x", "a", "gradcam", {})
    with pytest.raises(ValueError, match="2 ids for 3 maps"):
        MapCache(tmp_path).put("m00", ["a", "b"], batch())


def test_damaged_or_foreign_entries_are_reported_misses(tmp_path):
    cache = MapCache(tmp_path)
    cache.put("m00", ["a", "b", "c"], batch())
    path = cache.path("m00", "a", "gradcam", PARAMS)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by a full disk
    with pytest.warns(DamagedFileWarning, match="a.npz"):
        assert cache.get("m00", "a", "gradcam", PARAMS) is None
    # A readable record that is not a map (e.g. written by something else) is a miss too.
    cache.store.put(cache.key("m00", "b", "gradcam", PARAMS),
                    ArrayRecord(arrays={"x": np.zeros(2)}, meta={}))
    with pytest.warns(DamagedFileWarning, match="b.npz"):
        assert cache.get("m00", "b", "gradcam", PARAMS) is None


def test_precomputed_maps_are_hits(smoke_suite):
    """`dermviz demo` precomputed GradCAM for the whole hold-out; loading them computes nothing."""
    from dermviz.explain.precompute import default_params, explain_suite

    params = default_params(smoke_suite, "gradcam")
    ids = smoke_suite.dataset().holdout["image_id"].tolist()
    cache = MapCache.of(smoke_suite)
    assert cache.root == smoke_suite.path / "maps"
    for member in smoke_suite.member_ids:
        assert len(cache.get_many(member, ids, "gradcam", params)) == len(ids)
    counts = explain_suite(smoke_suite, method="gradcam", progress=False)
    assert counts == {"computed": 0, "cached": len(ids) * len(smoke_suite.member_ids)}


def test_a_store_hit_loads_no_model(smoke_suite):
    from dermviz.explain.precompute import load_or_compute

    def no_model():
        raise AssertionError("a cached map must not load the model")

    image_id = smoke_suite.dataset().holdout["image_id"].iloc[0]
    maps = load_or_compute(smoke_suite, "m00", image_id, method="gradcam", model_loader=no_model)
    assert maps.maps.shape == (1, smoke_suite.image_size, smoke_suite.image_size)
