"""A trained (smoke) suite: files, manifest, safe-mode round trip, predictions, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dermviz.models.predict import predict_proba
from dermviz.models.suite import (
    MemberModelError,
    Suite,
    SuiteNotFoundError,
    list_suites,
    write_manifest,
)


def test_suite_layout_and_manifest(smoke_suite):
    assert smoke_suite.complete
    assert smoke_suite.member_ids == ["m00", "m01"]
    for mid in smoke_suite.member_ids:
        folder = smoke_suite.member_dir(mid)
        for name in ("model.keras", "member.json", "history.json", "holdout_predictions.csv"):
            assert (folder / name).is_file(), name
        entry = smoke_suite.member(mid)
        for key in ("auc", "accuracy", "sensitivity", "specificity", "brier", "tp", "fn"):
            assert key in entry["holdout"]
        assert 0.0 <= entry["threshold"] <= 1.0
        assert entry["policy"] == "float32"  # what it trained under (the tests force float32)
    seeds = [smoke_suite.member(m)["seed"] for m in smoke_suite.member_ids]
    assert len(set(seeds)) == len(seeds), "every member gets its own seed"


def test_member_round_trip_reproduces_saved_predictions(smoke_suite):
    """Loading in safe mode gives back the model that made the saved predictions."""
    model = smoke_suite.load_model("m00")
    preds = smoke_suite.predictions("m00")
    dataset = smoke_suite.dataset()
    images = dataset.load_images(preds["image_id"].tolist(), size=smoke_suite.image_size)
    p = predict_proba(model, images)
    # another pass (and maybe batch size) than at training time: float32 low bits may differ
    np.testing.assert_allclose(p, preds["p_melanoma"].to_numpy(), atol=1e-4)
    assert model.get_layer("pred").activation.__name__ == "sigmoid"


def test_saved_model_has_no_optimizer_state(smoke_suite):
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(smoke_suite.model_path("m00")) as zf:
        config = json.loads(zf.read("config.json"))
        weights = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
        assert "optimizer" not in weights
    assert not config.get("compile_config")
    assert smoke_suite.model_path("m00").stat().st_size < 120e6  # 266 MB with Adam state


def test_predictions_follow_holdout_order(smoke_suite):
    preds = smoke_suite.predictions("m01")
    holdout = smoke_suite.dataset().holdout
    assert preds["image_id"].tolist() == holdout["image_id"].tolist()
    assert (preds["y"].to_numpy() == holdout["y"].to_numpy()).all()


def test_list_and_open(smoke_models_dir, smoke_suite, tmp_path):
    assert [s.name for s in list_suites(smoke_models_dir)] == ["demo-smoke"]
    assert Suite.open("demo-smoke", root=smoke_models_dir).path == smoke_suite.path
    assert list_suites(tmp_path / "absent") == []
    with pytest.raises(SuiteNotFoundError, match="dermviz demo"):
        Suite.open("nope", root=tmp_path)
    with pytest.raises(KeyError, match="no member"):
        smoke_suite.member("m99")


def fake_suite(root: Path, name: str = "s") -> Suite:
    """A suite folder with one member record and no model file (no training)."""
    write_manifest(root / name, {"name": name, "members": [{"id": "m00", "seed": 1}],
                                 "config": {}, "dataset": {}})
    return Suite(root / name)


def test_open_refuses_names_outside_the_models_root(tmp_path):
    fake_suite(tmp_path / "outside", "s")
    root = tmp_path / "models"
    fake_suite(root, "ok")
    assert Suite.open("ok", root=root).path == root / "ok"
    (root / "link").symlink_to(tmp_path / "outside" / "s")
    for name in ["../outside/s", "link", "ok/../../outside/s"]:
        with pytest.raises(ValueError, match="outside|'\\.\\.'"):
            Suite.open(name, root=root)
    with pytest.raises(SuiteNotFoundError, match="suites there: ok"):
        Suite.open("nope", root=root)


def save_tiny_model(path: Path, *, with_code: bool = False) -> None:
    import keras  # heavy: only these tests build a model

    inputs = keras.Input((4,))
    layer = keras.layers.Lambda(lambda x: x * 2) if with_code else keras.layers.Dense(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    keras.Model(inputs, layer(inputs)).save(path)


@pytest.mark.parametrize("damage", ["deleted", "truncated", "empty"])
def test_a_broken_member_file_names_the_member_and_how_to_retrain(tmp_path, damage):
    suite = fake_suite(tmp_path)
    path = suite.model_path("m00")
    save_tiny_model(path)
    assert suite.load_model("m00").output_shape == (None, 1)  # intact: loads
    data = path.read_bytes()
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    with pytest.raises(MemberModelError) as info:
        suite.load_model("m00")
    message = str(info.value)
    assert "'m00'" in message and "'s'" in message and str(path) in message
    assert "missing" in message if damage == "deleted" else "damaged" in message
    assert f"delete the folder {suite.member_dir('m00')}" in message
    assert "File not found" not in message  # Keras' words for a file that exists


def test_a_model_with_code_is_refused_in_safe_mode(tmp_path):
    suite = fake_suite(tmp_path)
    save_tiny_model(suite.model_path("m00"), with_code=True)
    with pytest.raises(MemberModelError, match="safe_mode|[Ll]ambda"):
        suite.load_model("m00")
