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


def test_the_output_learns_from_a_confident_mistake_under_mixed_bfloat16():
    """The sigmoid computes in float32 under a mixed policy: in bfloat16 it rounds p to 1.0
    from a logit of about 6, where the loss's gradient is 0 and a confidently wrong image
    teaches nothing (a HAM10000 member trained so diverged)."""
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_inception(75, dense_units=4, seed=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("head_dense").compute_dtype == "bfloat16"
    pred = model.get_layer("pred")
    assert pred.compute_dtype == "float32"
    kernel, bias = pred.get_weights()
    pred.set_weights([np.zeros_like(kernel), np.full_like(bias, 8.0)])  # logit 8: p = 0.9997
    image = np.full((1, 75, 75, 3), 128.0, np.float32)
    with tf.GradientTape() as tape:
        p = model(image, training=False)
        loss = keras.losses.binary_crossentropy(tf.zeros_like(p), p)  # a naevus called melanoma
    (grad,) = tape.gradient(loss, [pred.bias])
    assert float(p[0, 0]) < 1.0
    np.testing.assert_allclose(grad.numpy(), [1.0], atol=1e-3)  # d loss / d logit = p - y
