from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.evaluation import (
    METRICS,
    Deletion,
    MaxSensitivity,
    available_metrics,
    baseline_explainer,
    baseline_maps,
    bootstrap_ci,
    get_metric,
    score_images,
    summarize_scores,
)
from tests.evaluation.toy import linear_model, toy_images, toy_weights, true_maps

W = toy_weights()
IMAGES = toy_images(n=8)
TRUE = true_maps(W, IMAGES)


def test_registry_by_name_and_family():
    assert set(available_metrics("faithfulness")) == {
        "deletion", "insertion", "road", "irof", "faithfulness_correlation"}
    assert set(available_metrics("robustness")) == {"max_sensitivity", "avg_sensitivity"}
    assert set(available_metrics("complexity")) == {"sparseness", "complexity"}
    assert get_metric("deletion", n_steps=5) == Deletion(n_steps=5)
    assert all(cls.title and cls.family for cls in METRICS.values())
    with pytest.raises(ValueError, match="unknown metric"):
        get_metric("pixel_flipping")
    with pytest.raises(ValueError, match="family"):
        available_metrics("axiomatic")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"images": np.zeros((2, 12, 12))}, r"\(n, H, W, 3\)"),
    ({"maps": np.zeros((2, 12, 11))}, "maps must be"),
    ({"maps": np.zeros((3, 12, 12))}, "maps must be"),
    ({"maps": np.full((2, 12, 12), np.nan)}, "finite"),
    ({"masks": np.zeros((2, 5, 5))}, "masks must be"),
    ({"labels": np.zeros((2, 5, 5), int)}, "labels must be"),
    ({"labels": np.zeros((2, 12, 12))}, "labels must be integers"),
    ({"images": np.zeros((0, 12, 12, 3)), "maps": np.zeros((0, 12, 12))}, "empty"),
])
def test_inputs_are_checked(kwargs, message):
    args = {"images": IMAGES[:2], "maps": TRUE[:2], **kwargs}
    with pytest.raises(ValueError, match=message):
        Deletion()(linear_model(W), **args)


def test_bad_models_and_parameters_are_refused():
    with pytest.raises(ValueError, match="needs a model_fn"):
        Deletion()(None, IMAGES, TRUE)
    with pytest.raises(ValueError, match=r"returned shape|one score per image"):
        Deletion()(lambda x: np.zeros((len(x), 2)), IMAGES, TRUE)
    with pytest.raises(ValueError, match="returned shape"):
        Deletion()(lambda x: np.zeros(1), IMAGES, TRUE)
    with pytest.raises(ValueError, match="order"):
        Deletion(order="random")
    with pytest.raises(ValueError, match="replacement"):
        Deletion(replacement="zeros")
    with pytest.raises(ValueError, match="n_steps"):
        Deletion(n_steps=0)


def test_baseline_maps_reuse_the_reference_maps():
    from dermviz.analysis.localization import centre_prior
    from dermviz.sanity import random_map

    random = baseline_maps("random", IMAGES, seed=3)
    np.testing.assert_array_equal(random[1], random_map((12, 12), 4))
    np.testing.assert_array_equal(baseline_maps("gaussian", IMAGES)[5], centre_prior((12, 12)))
    assert baseline_maps("random", IMAGES, signed=True).min() < 0
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_maps("edge", IMAGES)
    explain = baseline_explainer("random")
    assert not np.array_equal(explain(IMAGES[:1]), explain(IMAGES[:1]))


def test_old_homes_re_export_the_moved_reference_maps():
    from dermviz.analysis import localization
    from dermviz.explain import reference_maps
    from dermviz.sanity import baselines

    assert baselines.random_map is reference_maps.random_map
    assert localization.centre_prior is reference_maps.centre_prior


def test_bootstrap_ci_brackets_the_mean():
    values = np.random.default_rng(0).normal(1.0, 0.1, 50)
    mean, low, high = bootstrap_ci(values, seed=1)
    assert low < mean < high and mean == pytest.approx(values.mean())
    assert np.isnan(bootstrap_ci([1.0])[1]) and np.isnan(bootstrap_ci([])[0])


def test_the_true_map_passes_deletion_and_its_negation_fails():
    model = linear_model(W)
    metric = Deletion(patch=1, replacement="black")
    rows = pd.concat([score_images([metric], model, IMAGES, m).assign(method=name)
                      for name, m in (("true", TRUE), ("negated", -TRUE))])
    assert list(rows.columns[:5]) == ["image_id", "metric", "family", "higher_is_better",
                                      "score"]
    assert len(rows) == 2 * len(IMAGES)
    table = summarize_scores(rows, by=["method"]).set_index("method")
    assert table.loc["true", "passes"] and not table.loc["negated", "passes"]
    assert table.loc["true", "gain_vs_random_low"] > 0
    assert table.loc["true", "gain_vs_gaussian_low"] > 0
    assert table.loc["true", "images"] == len(IMAGES)
    assert table.loc["true", "score_low"] <= table.loc["true", "score"] \
        <= table.loc["true", "score_high"]
    # one baseline map is the same for every method: its scores agree across methods
    np.testing.assert_allclose(rows.loc[rows.method == "true", "score_random"],
                               rows.loc[rows.method == "negated", "score_random"])


def test_score_images_takes_names_and_ids_and_checks_them():
    rows = score_images(["sparseness", "complexity"], None, IMAGES, TRUE,
                        image_ids=[f"img{k}" for k in range(8)])
    assert set(rows["metric"]) == {"sparseness", "complexity"}
    assert rows["image_id"].iloc[0] == "img0" and len(rows) == 16
    with pytest.raises(ValueError, match="image_ids"):
        score_images(["sparseness"], None, IMAGES, TRUE, image_ids=["a"])
    with pytest.raises(ValueError, match="lacks"):
        summarize_scores(rows.drop(columns="score_random"))


def test_score_images_keeps_curves_and_reuses_baseline_scores():
    model = linear_model(W, sigmoid=True)
    metrics = [Deletion(n_steps=4, patch=3), get_metric("sparseness")]
    curves: dict = {}
    first = score_images(metrics, model, IMAGES, TRUE, signed=True, curves=curves)
    assert set(curves) == {("deletion", s) for s in ("method", "random", "gaussian")}
    assert curves[("deletion", "method")].shape == (8, 5)
    # the scores are the curves' areas, as the metric's own call gives
    np.testing.assert_allclose(first.loc[first["metric"] == "deletion", "score"],
                               metrics[0](model, IMAGES, TRUE))
    # another method's maps, the baselines' scores taken from the first call
    again: dict = {}
    second = score_images(metrics, model, IMAGES, -TRUE, signed=True, reference=first,
                          curves=again)
    assert set(again) == {("deletion", "method")}  # the baselines were not recomputed
    fresh = score_images(metrics, model, IMAGES, -TRUE, signed=True)
    pd.testing.assert_frame_equal(second, fresh)
    with pytest.raises(ValueError, match="no rows of metric"):
        score_images(metrics, model, IMAGES[:2], TRUE[:2], reference=first)


def test_robustness_passes_on_the_random_baseline_only():
    constant = np.random.default_rng(2).random((12, 12))

    def explain_fn(images):
        return np.broadcast_to(constant, (len(images), 12, 12))

    rows = score_images([MaxSensitivity(n_samples=3)], None, IMAGES, explain_fn(IMAGES),
                        explain_fn=explain_fn)
    np.testing.assert_array_equal(rows["score_gaussian"], 0.0)  # constant: a floor
    summary = summarize_scores(rows).iloc[0]
    assert summary["gain_vs_gaussian_low"] == 0 and summary["passes"]


def test_keras_model_fn_refuses_a_third_class_before_loading_tensorflow():
    from dermviz.evaluation import keras_model_fn

    with pytest.raises(ValueError, match="target_class"):
        keras_model_fn(object(), target_class=2)
