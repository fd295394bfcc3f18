"""bfloat16 twins: same weights, bfloat16 compute, float32 output; the CPU flag reader."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.models.precision import native_bfloat16, precision_twin


@pytest.fixture(scope="module")
def small_net():
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="pred")(x)
    model = keras.Model(inputs, out)
    model(np.zeros((1, 16, 16, 3), "float32"))
    return model


def test_bfloat16_twin_shares_the_weights_and_answers_in_float32(small_net):
    twin = precision_twin(small_net, "bfloat16")
    assert twin is not small_net and small_net.dtype_policy.name == "float32"
    assert [layer.dtype_policy.name for layer in twin.layers[1:-1]] == ["mixed_bfloat16"] * 4
    assert twin.layers[-1].dtype_policy.name == "float32"
    for a, b in zip(twin.get_weights(), small_net.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    p32 = small_net.predict_on_batch(x)
    p16 = twin.predict_on_batch(x)
    assert p16.dtype == np.float32
    # bfloat16 keeps 8 mantissa bits: close, not equal.
    np.testing.assert_allclose(p16, p32, atol=0.02)
    assert not np.array_equal(p16, p32)
    assert precision_twin(small_net, "float32") is small_net


def test_bad_requests_are_refused(small_net):
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_twin(small_net, "float16")
    with pytest.raises(ValueError, match="expected a float32 model"):
        precision_twin(precision_twin(small_net), "bfloat16")


def test_native_bfloat16_reads_the_flags():
    assert native_bfloat16("model name : X\nflags : fpu avx2 avx512f avx512_bf16\n") == [
        "avx512_bf16"]
    assert native_bfloat16("flags : fpu avx2 amx_bf16 avx512_bf16\n") == [
        "avx512_bf16", "amx_bf16"]
    assert native_bfloat16("flags : fpu avx2\n") == []
    assert native_bfloat16("") == []


def test_parts_kept_in_float32(small_net):
    from dermviz.models.precision import float32_parts

    names = [layer.name for layer in small_net.layers]
    # After the last 4-D output: the pooling and the output layer.
    assert float32_parts(small_net, ("head",)) == {names[4], "pred"}
    assert float32_parts(small_net, ("batchnorm",)) == {names[3]}
    # No Concatenate: the whole model is "stem".
    assert float32_parts(small_net, ("stem",)) == set(names)
    twin = precision_twin(small_net, "bfloat16", keep_float32=("batchnorm",))
    assert [la.dtype_policy.name for la in twin.layers[1:]] == [
        "mixed_bfloat16", "mixed_bfloat16", "float32", "mixed_bfloat16", "float32"]
    with pytest.raises(ValueError, match="unknown part"):
        precision_twin(small_net, "bfloat16", keep_float32=("stem", "neck"))


def test_an_explained_layer_stays_float32(small_net):
    from dermviz.models.precision import with_float32_layers

    conv = small_net.layers[2].name
    twin = precision_twin(small_net, "bfloat16", float32_layers=(conv,))
    assert twin.get_layer(conv).compute_dtype == "float32"
    assert twin.layers[1].compute_dtype == "bfloat16"
    plain = precision_twin(small_net, "bfloat16")
    fixed = with_float32_layers(plain, (conv,))
    assert fixed is not plain and fixed.get_layer(conv).compute_dtype == "float32"
    assert with_float32_layers(fixed, (conv,)) is fixed  # nothing to change
    x = np.random.default_rng(1).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(fixed.predict_on_batch(x), twin.predict_on_batch(x))
    with pytest.raises(ValueError):
        precision_twin(small_net, "bfloat16", float32_layers=("absent",))
