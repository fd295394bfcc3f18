"""Bring your own model (issue 29): three small classifiers trained "elsewhere" imported
as suites, their p(melanoma) against their own outputs, GradCAM against tf-keras-vis on
the original model, KernelSHAP and randomization on the suite, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.byom_models import SIZE, SPECS, save_model

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def dataset():
    from dermviz.data.synthetic import SyntheticConfig, make_synthetic

    return make_synthetic(SyntheticConfig(n_train=40, n_test=12, seed=0))


@pytest.fixture(scope="module")
def imported(tmp_path_factory, dataset):
    """Each test model saved to a .keras file and imported as its own suite (no page
    preparation: the browser test prepares its own)."""
    from dermviz import api

    root = tmp_path_factory.mktemp("byom")
    out = {}
    for key, spec in SPECS.items():
        path = save_model(spec, root)
        suite = api.import_suite(dataset, [path], out_dir=root / "models" / key,
                                 prepare=False, progress=False, **spec.options)
        out[key] = (spec, path, suite)
    return out


@pytest.fixture(scope="module")
def images(dataset):
    return dataset.load_images(dataset.holdout["image_id"][:3].tolist(), size=SIZE)


@pytest.mark.parametrize("key", list(SPECS))
def test_the_adapter_is_detected_and_stored_in_the_manifest(imported, key):
    spec, path, suite = imported[key]
    entry = suite.manifest["members"][0]
    adapter = suite.adapter("m00")
    assert entry["adapter"] == adapter.to_dict()
    assert json.loads((suite.member_dir("m00") / "member.json").read_text())["adapter"]
    assert adapter.layer == spec.layer and adapter.stages == spec.stage_kind
    assert suite.config["gradcam_layer"] == spec.layer
    assert adapter.image_size == SIZE == suite.image_size
    assert adapter.preprocessing == spec.options.get("preprocessing", "own")
    # Stored as a trained member is: hold-out predictions, a threshold, metrics.
    preds = suite.predictions("m00")
    assert len(preds) == len(suite.dataset().holdout)
    assert 0.0 <= suite.threshold("m00") <= 1.0
    assert set(suite.metrics_table().columns) >= {"auc", "sensitivity", "threshold"}
    assert suite.complete and suite.imported


@pytest.mark.parametrize("key", list(SPECS))
def test_p_melanoma_is_the_models_own_output_through_its_preprocessing(imported, images, key):
    from dermviz.models.external import load_model_file
    from dermviz.models.predict import predict_proba

    spec, path, suite = imported[key]
    original = load_model_file(path)
    own = spec.own_p(np.asarray(original(spec.own_inputs(images.astype(np.float32)))))
    ours = predict_proba(suite.model("m00"), images)
    np.testing.assert_allclose(ours, own, rtol=1e-5, atol=1e-6)
    stored = suite.predictions("m00").set_index("image_id")["p_melanoma"]
    ids = suite.dataset().holdout["image_id"][:3]
    np.testing.assert_allclose(stored.loc[ids].to_numpy(), own, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("key", list(SPECS))
def test_gradcam_agrees_with_tf_keras_vis_on_the_same_layer_and_score(imported, images, key):
    """The reference is tf-keras-vis's Gradcam on the same layer, its score the
    melanoma-vs-rest logit computed from the model's p(melanoma) by its formula,
    ``log p - log(1 - p)``, not read through the adapter's logit layer (p itself is the
    model's own output: the test above)."""
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam

    from dermviz.explain.cam_graph import upsample_normalise, upsample_signed
    from dermviz.explain.gradcam import GradCAM
    from dermviz.sanity.similarity import ssim_maps

    spec, path, suite = imported[key]
    adapter = suite.adapter("m00")
    model = suite.model("m00")
    ours = GradCAM(model, layer=adapter.layer).explain(images, target_class=1)

    def score(p):
        p = tf.cast(p[:, 0], tf.float64)
        return tf.math.log(p) - tf.math.log1p(-p)

    grids = Gradcam(model, clone=True)(score, images.astype(np.float32),
                                       penultimate_layer=adapter.layer,
                                       seek_penultimate_conv_layer=False, expand_cam=False,
                                       normalize_cam=False, activation_modifier=None)
    grids = np.asarray(grids, np.float32)
    # The signed maps (random weights may leave a ReLU'd map all zero, which would
    # agree trivially), in [-1, 1] mapped to [0, 1]; and the finished maps.
    ours_signed = upsample_signed(ours.extras["grid_cam"], (SIZE, SIZE))
    ref_signed = upsample_signed(grids, (SIZE, SIZE))
    assert np.abs(ours_signed).max() > 0
    for a, b in zip(ours_signed, ref_signed, strict=True):
        assert ssim_maps((a + 1) / 2, (b + 1) / 2) >= 0.99
    for a, b in zip(ours.maps, upsample_normalise(grids, (SIZE, SIZE)), strict=True):
        assert ssim_maps(a, b) >= 0.99


@pytest.mark.parametrize("key", list(SPECS))
def test_kernelshap_and_randomization_run_on_the_imported_suite(imported, key):
    from dermviz import api

    spec, path, suite = imported[key]
    ids = suite.dataset().holdout["image_id"][:1].tolist()
    shap = api.saliency(suite, ids, method="kernelshap", nsamples=64, n_segments=12)
    assert shap.maps.shape == (1, SIZE, SIZE) and np.isfinite(shap.maps).all()
    assert api.sanity.layer_sets(suite) == ("blocks",)
    names = api.sanity.stage_names("blocks", suite=suite)
    if spec.block_stages:
        assert tuple(names) == spec.block_stages
    study = api.sanity_check(suite, "randomization", method="gradcam", image_ids=ids,
                             stages=None)
    assert study.stage_names[1:] == names
    # Randomizing the top stage changes the model: its maps or its prediction move.
    assert study.maps.shape[0] == len(names) + 1
    with pytest.raises(ValueError, match="paper"):
        api.sanity.stage_names("paper", suite=suite)


def test_a_dermviz_suite_keeps_the_default_adapter(smoke_suite):
    from dermviz.models.adapter import DERMVIZ_ADAPTER

    adapter = smoke_suite.adapter(smoke_suite.member_ids[0])
    assert adapter.native and adapter.layer == smoke_suite.config["gradcam_layer"]
    assert adapter.layer_sets == DERMVIZ_ADAPTER.layer_sets == ("paper", "blocks")


# ------------------------------------------------------------------------- refusals


def _tiny(inputs, outputs):
    return keras.Model(inputs, outputs)


def _conv_head(x, units=1, activation="sigmoid"):
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(units, activation=activation)(x)


def test_safe_mode_refuses_a_lambda_layer_and_names_the_trust_flag(tmp_path, dataset):
    from dermviz import api
    from dermviz.models.adapter import ModelRefusedError
    from dermviz.models.external import ModelFileError, load_model_file

    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inp)
    path = tmp_path / "lambda.keras"
    _tiny(inp, _conv_head(x)).save(path)
    with pytest.raises(ModelFileError, match="--trust-model-code"):
        load_model_file(path)
    assert load_model_file(path, trusted=True) is not None
    with pytest.raises(ModelFileError, match="--trust-model-code"):
        api.import_suite(dataset, [path], out_dir=tmp_path / "refused", prepare=False,
                         progress=False, preprocessing="raw")
    # Trusted: imported, recorded in the adapter, and loaded by the suite with safe mode off.
    suite = api.import_suite(dataset, [path], out_dir=tmp_path / "trusted", prepare=False,
                             progress=False, preprocessing="raw", trusted=True)
    assert suite.adapter("m00").trusted and suite.model("m00") is not None
    assert ModelRefusedError is not ModelFileError
    h5 = tmp_path / "lambda.h5"
    _tiny(inp, _conv_head(x)).save(h5)
    with pytest.raises(ModelFileError, match="Lambda layer"):
        load_model_file(h5)


def test_an_h5_model_imports(tmp_path, dataset):
    from dermviz import api

    model = SPECS["cnn"].build()
    path = tmp_path / "cnn.h5"
    model.save(path)
    suite = api.import_suite(dataset, [path], out_dir=tmp_path / "models" / "h5",
                             prepare=False, progress=False)
    assert suite.model_path("m00").is_file()
    x = dataset.load_images(dataset.holdout["image_id"][:2].tolist(), size=SIZE)
    from dermviz.models.predict import predict_proba

    np.testing.assert_allclose(predict_proba(suite.model("m00"), x),
                               np.asarray(model(x.astype(np.float32)))[:, 0], rtol=1e-5)


def test_a_broken_file_gets_one_sentence(tmp_path):
    from dermviz.models.external import ModelFileError, load_model_file

    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="damaged"):
        load_model_file(path)
    with pytest.raises(ModelFileError, match="not found"):
        load_model_file(tmp_path / "absent.keras")


@pytest.mark.parametrize("case, match", [
    ("not_image", "not RGB images"),
    ("not_classifier", "not a classifier"),
    ("too_small", "under the minimum"),
    ("no_preprocessing", "--preprocessing"),
    ("many_classes", "--melanoma-class"),
    ("one_softmax", "always 1"),
])
def test_refusals_are_one_clear_sentence(case, match):
    from dermviz.models.adapter import ModelRefusedError, detect_adapter

    options = {"preprocessing": "unit"}
    if case == "not_image":
        inp = keras.Input((20,))
        model = _tiny(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
    elif case == "not_classifier":
        inp = keras.Input((SIZE, SIZE, 3))
        model = _tiny(inp, keras.layers.Conv2D(1, 3, padding="same")(inp))
    elif case == "too_small":
        inp = keras.Input((16, 16, 3))
        model = _tiny(inp, _conv_head(inp))
    elif case == "no_preprocessing":
        inp = keras.Input((SIZE, SIZE, 3))
        model, options = _tiny(inp, _conv_head(inp)), {}
    elif case == "many_classes":
        inp = keras.Input((SIZE, SIZE, 3))
        model = _tiny(inp, _conv_head(inp, units=7, activation="softmax"))
    else:
        inp = keras.Input((SIZE, SIZE, 3))
        model = _tiny(inp, _conv_head(inp, units=1, activation="softmax"))
    with pytest.raises(ModelRefusedError, match=match) as err:
        detect_adapter(model, **options)
    assert "\n" not in str(err.value) and str(err.value).count(". ") == 0


def test_versus_class_and_logits(dataset):
    """An N-class logit output against one class: p = p_K / (p_K + p_J)."""
    from dermviz.models.adapter import adapt, detect_adapter
    from dermviz.models.predict import predict_proba

    inp = keras.Input((SIZE, SIZE, 3))
    model = _tiny(inp, _conv_head(inp, units=4, activation="linear"))
    adapter = detect_adapter(model, preprocessing="unit", melanoma_class=2, versus_class=0)
    assert adapter.outputs_logits and adapter.output == "softmax"
    assert "class-0" in adapter.score_description()
    x = dataset.load_images(dataset.holdout["image_id"][:2].tolist(), size=SIZE)
    z = np.asarray(model(x.astype(np.float32) / 255.0), dtype=np.float64)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predict_proba(adapt(model, adapter), x),
                               p[:, 2] / (p[:, 2] + p[:, 0]), rtol=1e-4)


def test_cli_import_refuses_with_one_line(tmp_path, capsys):
    from dermviz.cli import main

    path = save_model(SPECS["efficientnet"], tmp_path)
    code = main(["--models-dir", str(tmp_path / "models"), "import", "eff", "--data",
                 "synthetic", "--synthetic-train", "24", "--synthetic-test", "8", "--model",
                 str(path), "--preprocessing", "torch", "--no-prepare"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--melanoma-class" in err[0]
    assert not (Path(tmp_path) / "models" / "eff").exists()


def test_an_imported_suite_compares_with_a_trained_one_on_the_same_data(smoke_suite,
                                                                         tmp_path):
    """The comparison page's call: an imported suite beside the smoke demo, same hold-out."""
    from dermviz import api
    from tests.byom_models import rescaling_cnn

    path = tmp_path / "cnn.keras"
    rescaling_cnn().save(path)
    mine = api.import_suite(smoke_suite.dataset(), [path], out_dir=tmp_path / "cnn",
                            prepare=False, progress=False)
    comparison = api.compare(smoke_suite, mine)
    assert comparison.names == (smoke_suite.name, mine.name)
    assert comparison.n_images == len(smoke_suite.dataset().holdout)
    assert set(comparison.auc["suite"]) == {smoke_suite.name, mine.name}
    assert set(mine.predictions("m00")["image_id"]) == set(
        smoke_suite.predictions(smoke_suite.member_ids[0])["image_id"])


@pytest.fixture(scope="module")
def two_members(imported, dataset, tmp_path_factory):
    """The MobileNet-style file imported twice: a two-member suite (consensus, cross-model)."""
    from dermviz import api

    spec, path, _ = imported["mobilenet"]
    return api.import_suite(dataset, [path, path], out_dir=tmp_path_factory.mktemp("two") /
                            "two", prepare=False, progress=False, **spec.options)


def test_every_cam_the_consensus_the_checks_and_the_report_card(two_members):
    from dermviz import api
    from dermviz.demo import prepare_report_card

    suite = two_members
    ids = suite.dataset().holdout["image_id"][:2].tolist()
    for method in ("gradcam_pp", "layercam", "scorecam"):
        maps = api.saliency(suite, ids[:1], method=method,
                            **({"max_n": 4} if method == "scorecam" else {}))
        assert maps.maps.shape == (1, SIZE, SIZE) and np.isfinite(maps.maps).all()
    params = api.method_defaults(suite, "gradcam")
    consensus = api.maps_consensus(suite, ids[0], method="gradcam", params=params,
                                   members=suite.member_ids)
    assert consensus.summary()["members"] == 2
    # The same file twice: the two members' maps agree exactly.
    assert consensus.summary()["mean_ssim"] == pytest.approx(1.0)
    cross = api.sanity_check(suite, "cross_model", method="gradcam", image_ids=ids)
    assert len(cross.table)
    card = prepare_report_card(suite, max_members=1,
                               methods=("gradcam",), metrics=("deletion", "sparseness"),
                               n_images=2, metric_params={"deletion": {"n_steps": 4}})
    assert card is not None
    summary, _ = api.report_card(api.evaluation_folder(suite, card))
    assert set(summary["method"]) == {"gradcam"}


@pytest.mark.parametrize("mode", ["raw", "own", "unit", "tf", "caffe", "torch"])
def test_each_preprocessing_is_its_formula(mode):
    from dermviz.models.adapter_layers import InputPreprocessing

    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = {
        "raw": x, "own": x, "unit": x / 255.0, "tf": x / 127.5 - 1.0,
        "caffe": x[..., ::-1] - np.array([103.939, 116.779, 123.68]),
        "torch": (x / 255.0 - mean) / std,
    }[mode]
    got = np.asarray(InputPreprocessing(mode)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
