"""GradCAM++, LayerCAM, ScoreCAM: shape, range, determinism, and tf-keras-vis's own maps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dermviz.explain import GradCAMPlusPlus, LayerCAM, ScoreCAM, get_explainer
from dermviz.explain.cam_graph import upsample_normalise
from dermviz.explain.cams import two_logit_model
from dermviz.models.inception import build_inception
from dermviz.models.predict import predict_proba

SIZE, LAYER = 96, "mixed2"  # mixed2 at 96 px: a 9x9 grid of 288 channels
TARGETS = np.array([1, 0, 1])
MAX_N = 8


@pytest.fixture(scope="module")
def model_and_images():
    model = build_inception(SIZE, bn_momentum=0.9, seed=5)
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (len(TARGETS), SIZE, SIZE, 3)).astype(np.float32)
    return model, images


def logit_score(targets):
    import tensorflow as tf

    signs = tf.constant(np.where(targets == 1, 1.0, -1.0), tf.float32)
    return lambda out: out[:, 0] * signs


def reference_grids(method, model, images, targets):
    """tf-keras-vis called directly, its defaults for the method's modifiers."""
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    common = {"penultimate_layer": LAYER, "seek_penultimate_conv_layer": False,
              "expand_cam": False, "normalize_cam": False}
    if method is ScoreCAM:
        vis = Scorecam(two_logit_model(model))
        cams = [vis(lambda p, t=t: p.numpy()[:, t], image[None], max_N=MAX_N, **common)
                for image, t in zip(images, targets, strict=True)]
    else:
        cls = GradcamPlusPlus if method is GradCAMPlusPlus else Layercam
        vis = cls(model, model_modifier=ReplaceToLinear(), clone=True)
        cams = [vis(logit_score(targets), images, **common)]
    return np.concatenate([np.asarray(c, np.float32).reshape(-1, 9, 9) for c in cams])


def make(method, model, **kwargs):
    options = {"max_n": MAX_N} if method is ScoreCAM else {}
    return method(model, layer=LAYER, **options, **kwargs)


@pytest.mark.parametrize("method", [GradCAMPlusPlus, LayerCAM, ScoreCAM])
def test_maps_are_tf_keras_vis_maps_in_unit_range_and_repeatable(model_and_images, method):
    model, images = model_and_images
    explainer = make(method, model, batch_size=2)  # two batches for the gradient CAMs
    maps = explainer.explain(images, target_class=TARGETS)
    assert maps.method == method.name
    assert maps.maps.shape == (len(images), SIZE, SIZE) and maps.maps.dtype == np.float32
    assert maps.maps.min() >= 0.0 and maps.maps.max() <= 1.0
    assert maps.maps.max(axis=(1, 2)).min() == pytest.approx(1.0)  # no all-zero map here
    assert maps.grid == (9, 9) and maps.warnings == []
    np.testing.assert_array_equal(maps.target_class, TARGETS)
    np.testing.assert_allclose(maps.p_melanoma, predict_proba(model, images), rtol=1e-4)

    again = explainer.explain(images, target_class=TARGETS)
    np.testing.assert_allclose(again.maps, maps.maps, atol=1e-6)

    ref = reference_grids(method, model, images, TARGETS)
    scale = np.abs(ref).max()
    assert scale > 0
    assert np.abs(maps.extras["grid_cam"] - ref).max() <= 1e-4 * scale
    np.testing.assert_allclose(maps.maps, upsample_normalise(ref, (SIZE, SIZE)), atol=1e-4)


def test_two_logit_view_has_the_class_probabilities_as_softmax(model_and_images):
    model, images = model_and_images
    logits = np.asarray(two_logit_model(model)(images), np.float64)
    assert logits.shape == (len(images), 2) and (logits[:, 0] == 0).all()
    p_mel = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(p_mel, predict_proba(model, images), rtol=1e-4)


def test_scorecam_weights_are_the_explained_class_probabilities(model_and_images, capfd):
    """p(melanoma) + p(naevus) = 1 per masked image, so the two classes' grids add up
    to the plain sum of the chosen channels (a constant weight would give mel = -nv)."""
    import keras

    model, images = model_and_images
    explainer = make(ScoreCAM, model)
    mel = explainer.explain(images, target_class=1).extras["grid_cam"]
    nv = explainer.explain(images, target_class=0).extras["grid_cam"]
    features = np.asarray(keras.Model(model.input, model.get_layer(LAYER).output)(images))
    top = np.argsort(-features.std(axis=(1, 2)), axis=1)[:, :MAX_N]  # Faster-ScoreCAM's pick
    expected = np.stack([f[..., t].sum(axis=-1) for f, t in zip(features, top, strict=True)])
    np.testing.assert_allclose(mel + nv, expected, rtol=1e-4, atol=1e-4 * expected.max())
    assert np.abs(mel - nv).max() > 0
    assert capfd.readouterr().out == ""  # no Keras progress bar per image


def test_registry_params_and_checks(model_and_images):
    model, images = model_and_images
    for name, cls in [("gradcam_pp", GradCAMPlusPlus), ("layercam", LayerCAM),
                      ("scorecam", ScoreCAM)]:
        assert get_explainer(name) is cls and not cls.signed and "layer" in cls.user_options
        suite = SimpleNamespace(config={"gradcam_layer": "mixed7"})
        assert cls.suite_defaults(suite) == {"layer": "mixed7"}
    assert GradCAMPlusPlus.canonical_params(batch_size=4) == {"layer": "mixed10"}
    assert ScoreCAM.canonical_params(layer="mixed5") == {"layer": "mixed5", "max_n": 16}
    assert ScoreCAM.images_per_task == 4 and "max_n" in ScoreCAM.user_options
    with pytest.raises(ValueError, match="max_n must be an integer from 1 to 288"):
        ScoreCAM(model, layer=LAYER, max_n=289)
    with pytest.raises(ValueError, match="max_n"):
        ScoreCAM(model, layer=LAYER, max_n=0)
    with pytest.raises(ValueError, match="batch_size"):
        LayerCAM(model, layer=LAYER, batch_size=0)
    coarse = LayerCAM(model, layer="mixed10")
    assert coarse.explain(images[:1]).warnings[0].startswith("LayerCAM on 'mixed10'")  # 1x1
    with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
        coarse.explain(images[0])
