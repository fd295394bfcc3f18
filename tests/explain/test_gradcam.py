"""GradCAM: shape, range, class dependence, layer choice and warnings."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain import GradCAM, get_explainer
from dermviz.explain.gradcam import coarse_grid_warning


@pytest.fixture(scope="module")
def member(smoke_suite):
    model = smoke_suite.load_model("m00")
    dataset = smoke_suite.dataset()
    ids = dataset.holdout["image_id"].tolist()[:6]
    return model, dataset.load_images(ids, size=smoke_suite.image_size)


def test_shape_range_and_grid(member):
    model, images = member
    maps = GradCAM(model, layer="mixed2").explain(images, target_class=1)
    assert maps.maps.shape == (6, 75, 75)
    assert maps.maps.dtype == np.float32
    assert maps.maps.min() >= 0.0 and maps.maps.max() <= 1.0
    assert maps.grid == (7, 7)
    assert maps.extras["grid_cam"].shape == (6, 7, 7)
    assert maps.warnings == []
    assert (maps.target_class == 1).all()
    assert maps.params == {"layer": "mixed2"}


def test_maps_differ_between_the_two_classes(member):
    model, images = member
    explainer = GradCAM(model, layer="mixed2")
    mel = explainer.explain(images, target_class=1)
    nv = explainer.explain(images, target_class=0)
    assert np.abs(mel.maps - nv.maps).mean() > 0.05
    # One sigmoid output: the naevus score is -z, so the raw grids are exact negatives.
    np.testing.assert_allclose(
        mel.extras["grid_cam"], -nv.extras["grid_cam"], rtol=1e-4, atol=1e-6
    )


def test_predicted_class_is_the_default_target(member):
    model, images = member
    maps = GradCAM(model, layer="mixed2").explain(images, threshold=0.5)
    np.testing.assert_array_equal(maps.target_class, (maps.p_melanoma >= 0.5).astype(int))
    everything_mel = GradCAM(model, layer="mixed2").explain(images, threshold=0.0)
    assert (everything_mel.target_class == 1).all()


def test_batches_do_not_change_maps(member):
    model, images = member
    whole = GradCAM(model, layer="mixed2", batch_size=32).explain(images, target_class=1)
    pieces = GradCAM(model, layer="mixed2", batch_size=4).explain(images, target_class=1)
    # maps in [0, 1]; float32 differs in the low bits with the batch size on some CPUs
    np.testing.assert_allclose(whole.maps, pieces.maps, atol=1e-4)


def test_compiled_path_gives_tf_keras_vis_maps(member):
    model, images = member
    compiled = GradCAM(model, layer="mixed2", batch_size=4)
    reference = GradCAM(model, layer="mixed2", batch_size=4, backend="tf-keras-vis")
    assert compiled.params() == reference.params() == {"layer": "mixed2"}  # one cache key
    for target in (None, 0):
        ours = compiled.explain(images, target_class=target)
        ref = reference.explain(images, target_class=target)
        np.testing.assert_array_equal(ours.target_class, ref.target_class)
        np.testing.assert_allclose(ours.p_melanoma, ref.p_melanoma, rtol=1e-4)
        scale = np.abs(ref.extras["grid_cam"]).max()
        assert np.abs(ours.extras["grid_cam"] - ref.extras["grid_cam"]).max() <= 1e-4 * scale
        np.testing.assert_allclose(ours.maps, ref.maps, atol=1e-4)
    with pytest.raises(ValueError, match="unknown GradCAM backend"):
        GradCAM(model, backend="torch")


def test_coarse_grid_is_warned(member):
    model, images = member
    maps = GradCAM(model).explain(images[:1])  # mixed10 at 75 px: 1x1
    assert maps.grid == (1, 1)
    assert maps.warnings and "too coarse" in maps.warnings[0]
    assert coarse_grid_warning("mixed7", (6, 6), 128) is None


def test_registry_and_input_checks(member):
    model, images = member
    assert get_explainer("gradcam") is GradCAM
    with pytest.raises(KeyError, match="unknown saliency method"):
        get_explainer("nope")
    explainer = GradCAM(model, layer="mixed2")
    with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
        explainer.explain(images[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        explainer.explain(images.astype(np.float32) / 255.0)
    with pytest.raises(ValueError, match="target_class"):
        explainer.explain(images, target_class=2)
    assert GradCAM.canonical_params(layer="mixed5", batch_size=3, backend="tf-keras-vis") == {
        "layer": "mixed5"
    }
    with pytest.raises(TypeError, match="unknown parameter"):
        GradCAM.canonical_params(colour="red")
