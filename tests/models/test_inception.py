"""Model construction and weight options."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.models.inception import (
    WeightsUnavailableError,
    build_inception,
    layer_grid,
    resolve_weights,
)


def test_flat_model_with_named_head():
    model = build_inception(75, dense_units=8, seed=1)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["image", "rescale"]
    assert names[-4:] == ["gap", "head_dense", "head_dropout", "pred"]
    assert "mixed10" in names  # flat: the backbone's layers are the model's layers
    assert model.output.shape == (None, 1)
    assert layer_grid(model, "mixed10") == (1, 1)
    assert layer_grid(model, "mixed2") == (7, 7)


def test_same_seed_same_weights():
    a = build_inception(75, dense_units=4, seed=3).get_layer("head_dense").get_weights()[0]
    b = build_inception(75, dense_units=4, seed=3).get_layer("head_dense").get_weights()[0]
    c = build_inception(75, dense_units=4, seed=4).get_layer("head_dense").get_weights()[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_options():
    with pytest.raises(ValueError, match=">= 75"):
        build_inception(64)
    with pytest.raises(ValueError, match="dropout"):
        build_inception(75, dropout=1.5)


def test_imagenet_offline_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="copy it to"):
        resolve_weights("imagenet")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        resolve_weights(tmp_path / "missing.h5")
    assert resolve_weights("none") is None


def test_local_weights_file_is_loaded(tmp_path):
    """A backbone weights file made here (no download) is loaded into the backbone."""
    import keras

    base = keras.applications.InceptionV3(weights=None, include_top=False,
                                          input_shape=(75, 75, 3))
    path = tmp_path / "backbone.weights.h5"
    base.save_weights(path)
    model = build_inception(75, weights=path, seed=9)
    np.testing.assert_array_equal(
        model.get_layer("mixed10").input[0].shape, base.get_layer("mixed10").input[0].shape
    )
    first_conv = [layer for layer in model.layers if layer.name.startswith("conv2d")][0]
    base_conv = [layer for layer in base.layers if layer.name.startswith("conv2d")][0]
    np.testing.assert_array_equal(first_conv.get_weights()[0], base_conv.get_weights()[0])
