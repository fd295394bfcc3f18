"""The compiled GradCAM path agrees with tf-keras-vis on every Inception block."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dermviz.explain.cam_graph import signed_grids, upsample_normalise, upsample_signed
from dermviz.models.inception import INCEPTION_BLOCKS, build_inception
from dermviz.models.predict import predict_proba

SIZE = 128


@pytest.fixture(scope="module")
def model_and_images():
    model = build_inception(SIZE, bn_momentum=0.9, seed=3)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    return model, images


@pytest.fixture(scope="module")
def tf_keras_vis_gradcam(model_and_images):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    return Gradcam(model_and_images[0], model_modifier=ReplaceToLinear(), clone=True)


def reference_grids(gradcam, model, images, layer, signs):
    import tensorflow as tf

    s = tf.constant(signs, tf.float32)
    cams = gradcam(lambda out: out[:, 0] * s, images, penultimate_layer=layer,
                   seek_penultimate_conv_layer=False, activation_modifier=None,
                   expand_cam=False, normalize_cam=False)
    return np.asarray(cams, np.float32).reshape(len(images), *model.get_layer(layer)
                                                .output.shape[1:3])


@pytest.mark.parametrize("layer", INCEPTION_BLOCKS)
def test_agrees_with_tf_keras_vis(model_and_images, tf_keras_vis_gradcam, layer):
    model, images = model_and_images
    targets = np.array([1, 0, 1, 0])
    ours, p = signed_grids(model, layer, images, targets)
    ref = reference_grids(tf_keras_vis_gradcam, model, images, layer,
                          np.where(targets == 1, 1.0, -1.0))
    assert ours.shape == ref.shape
    scale = np.abs(ref).max()
    assert scale > 0
    assert np.abs(ours - ref).max() <= 1e-5 * scale
    # p(melanoma) comes out of the same pass
    np.testing.assert_allclose(p, predict_proba(model, images), rtol=1e-4, atol=1e-6)


def _upsample_normalise(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The per-image reference: ReLU, bicubic, ReLU, min-max (all-zero stays zero)."""
    cam = cv2.resize(np.maximum(grid, 0), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    cam = np.maximum(cam, 0)
    lo, hi = float(cam.min()), float(cam.max())
    if hi - lo <= 1e-12:
        return np.zeros(size, dtype=np.float32)
    return ((cam - lo) / (hi - lo)).astype(np.float32)


def test_upsampling_matches_the_per_image_path():
    rng = np.random.default_rng(1)
    grids = rng.normal(size=(5, 6, 6)).astype(np.float32)
    grids[2] = -1.0  # nothing positive: an all-zero map
    batch = upsample_normalise(grids, (40, 50))
    single = np.stack([_upsample_normalise(g, (40, 50)) for g in grids])
    np.testing.assert_allclose(batch, single, atol=1e-5)  # cv2's SIMD paths differ
    assert (batch[2] == 0).all()
    assert batch.shape == (5, 40, 50)


def test_signed_upsampling_keeps_the_sign_and_zero():
    """The map without the ReLU: a constant grid is +1 or -1 everywhere, negating the grid
    negates the map, zero stays zero, and a region that lowers the score stays negative
    where the ReLU map is cut to zero."""
    grids = np.array([np.full((3, 3), 2.5), np.full((3, 3), -0.5), np.zeros((3, 3)),
                      [[4.0, 0.0, -4.0], [4.0, 0.0, -4.0], [4.0, 0.0, -4.0]]], np.float32)
    signed = upsample_signed(grids, (12, 12))
    assert signed.shape == (4, 12, 12) and signed.dtype == np.float32
    np.testing.assert_allclose(signed[0], 1.0)
    np.testing.assert_allclose(signed[1], -1.0)
    np.testing.assert_array_equal(signed[2], 0.0)
    assert np.abs(signed[3]).max() == pytest.approx(1.0)
    assert (signed[3][:, :3] > 0.5).all() and (signed[3][:, -3:] < -0.5).all()
    np.testing.assert_allclose(upsample_signed(-grids, (12, 12)), -signed, atol=1e-6)
    relu = upsample_normalise(grids[3:], (12, 12))[0]
    assert (relu[:, -3:] == 0).all()  # the ReLU map cannot show what lowers the score
    with pytest.raises(ValueError, match="NaN"):
        upsample_signed(np.full((1, 2, 2), np.nan), (4, 4))
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        upsample_signed(np.zeros((2, 2)), (4, 4))
