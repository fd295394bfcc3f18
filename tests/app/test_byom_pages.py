"""Pages on an imported model without a feature layer (issue 29): no CAM applies, the pages
say so and open without an exception; KernelSHAP and the statistics still work."""

from __future__ import annotations

from pathlib import Path

import pytest

VIEWS = ("case", "saliency", "randomization", "variation", "probe", "statistics",
         "browser", "report_card")


@pytest.fixture(scope="module")
def no_layer_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one imported suite whose model has no convolution."""
    import keras

    from dermviz import api

    root = tmp_path_factory.mktemp("byom-dense")
    model = keras.Sequential([
        keras.Input((64, 64, 3)), keras.layers.Rescaling(1 / 255),
        keras.layers.AveragePooling2D(8), keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.save(root / "dense.keras")
    data = api.load_dataset("synthetic", n_train=40, n_test=12)
    api.import_suite(data, [root / "dense.keras"], out_dir=root / "models" / "dense",
                     progress=False)
    return root / "models"


def test_only_the_gradient_free_methods_apply(no_layer_models):
    from dermviz import api

    suite = api.open_suite("dense", root=no_layer_models)
    applicable = api.applicable_methods(suite)
    assert applicable["kernelshap"] is None
    assert all(applicable[m] for m in ("gradcam", "gradcam_pp", "layercam", "scorecam"))
    assert api.target_layers(suite) == [] and suite.adapter("m00").layer is None
    ids = api.holdout(suite).image_id[:1].tolist()
    shap = api.saliency(suite, ids, method="kernelshap", nsamples=32, n_segments=8)
    assert shap.maps.shape == (1, 64, 64)
    assert api.holdout_ood(suite)["ood_score"].notna().all()  # the trust score


@pytest.mark.parametrize("view", VIEWS)
def test_pages_open_and_say_which_methods_apply(no_layer_models, open_page, view):
    at = open_page(no_layer_models, view)
    assert not at.exception, [e.message for e in at.exception]
    if view in ("case", "saliency"):
        text = " ".join(str(el.value) for el in [*at.caption, *at.sidebar.caption])
        assert "no feature layer" in text
