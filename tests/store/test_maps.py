"""The saliency-map store: keys, hits, atomic writes, damaged files."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.base import SaliencyMaps
from dermviz.store import MapStore, params_key, write_atomic


def batch(n: int = 3, seed: int = 0) -> SaliencyMaps:
    rng = np.random.default_rng(seed)
    return SaliencyMaps(
        method="gradcam",
        maps=rng.random((n, 8, 8), dtype=np.float32),
        target_class=np.arange(n) % 2,
        p_melanoma=rng.random(n, dtype=np.float32),
        grid=(2, 2),
        params={"layer": "mixed7"},
        extras={"grid_cam": rng.random((n, 2, 2), dtype=np.float32)},
        warnings=["coarse"],
    )


def test_put_get_round_trip(tmp_path):
    store = MapStore(tmp_path)
    maps = batch()
    store.put("m00", ["a", "b", "c"], maps)
    hit = store.get("m00", "b", "gradcam", {"layer": "mixed7"})
    assert hit is not None
    np.testing.assert_array_equal(hit.maps[0], maps.maps[1])
    np.testing.assert_array_equal(hit.extras["grid_cam"][0], maps.extras["grid_cam"][1])
    assert hit.target_class[0] == 1 and hit.grid == (2, 2) and hit.warnings == ["coarse"]
    assert hit.p_melanoma[0] == pytest.approx(maps.p_melanoma[1])


def test_key_separates_member_method_and_params(tmp_path):
    store = MapStore(tmp_path)
    store.put("m00", ["a", "b", "c"], batch())
    assert store.get("m01", "a", "gradcam", {"layer": "mixed7"}) is None
    assert store.get("m00", "a", "kernelshap", {"layer": "mixed7"}) is None
    assert store.get("m00", "a", "gradcam", {"layer": "mixed10"}) is None
    assert store.get("m00", "zz", "gradcam", {"layer": "mixed7"}) is None
    assert params_key({"a": 1, "b": 2}) == params_key({"b": 2, "a": 1})
    assert len(store.get_many("m00", ["a", "zz", "c"], "gradcam", {"layer": "mixed7"})) == 2


def test_unsafe_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="safe file name"):
        MapStore(tmp_path).path("../x", "a", "gradcam", {})


def test_damaged_entry_is_a_miss(tmp_path):
    store = MapStore(tmp_path)
    store.put("m00", ["a", "b", "c"], batch())
    path = store.path("m00", "a", "gradcam", {"layer": "mixed7"})
    path.write_bytes(b"not an npz")
    assert store.get("m00", "a", "gradcam", {"layer": "mixed7"}) is None


def test_failed_write_leaves_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "f.bin"
    write_atomic(target, lambda fh: fh.write(b"old"))

    def crash(fh):
        fh.write(b"half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_atomic(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_precomputed_maps_are_hits(smoke_suite):
    """`dermviz demo` precomputed GradCAM for the whole hold-out; loading them computes nothing."""
    from dermviz.explain.precompute import default_params, explain_suite

    params = default_params(smoke_suite, "gradcam")
    ids = smoke_suite.dataset().holdout["image_id"].tolist()
    for member in smoke_suite.member_ids:
        assert len(smoke_suite.maps.get_many(member, ids, "gradcam", params)) == len(ids)
    counts = explain_suite(smoke_suite, method="gradcam", progress=False)
    assert counts == {"computed": 0, "cached": len(ids) * len(smoke_suite.member_ids)}


def test_a_store_hit_loads_no_model(smoke_suite):
    from dermviz.explain.precompute import load_or_compute

    def no_model():
        raise AssertionError("a cached map must not load the model")

    image_id = smoke_suite.dataset().holdout["image_id"].iloc[0]
    maps = load_or_compute(smoke_suite, "m00", image_id, method="gradcam", model_loader=no_model)
    assert maps.maps.shape == (1, smoke_suite.image_size, smoke_suite.image_size)
