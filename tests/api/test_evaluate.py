"""``dermviz.evaluate`` and the report card's API on the smoke suite, whose build ran a
small report card through the one sanity runner: the API builds the same spec, so it reads
the study back without loading a model; its tables, sentences, curves and maps."""

from __future__ import annotations

import pytest

import dermviz
from dermviz import api
from dermviz.models.suite import Suite
from tests.conftest import REPORT_OPTIONS


def _no_model(monkeypatch):
    def no_load(self, member_id):  # noqa: ANN001, ANN202
        raise AssertionError("a cached study loaded a model")

    monkeypatch.setattr(Suite, "load_model", no_load)


def test_the_options_are_the_smoke_builds():
    from dermviz.demo import SMOKE_REPORT_CARD

    card = {k: v for k, v in SMOKE_REPORT_CARD.items() if k != "max_members"}
    ours = {k: v for k, v in REPORT_OPTIONS.items() if k != "members"}
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in card.items()} == ours


def test_evaluate_returns_the_summary_and_the_rows_from_the_builds_study(
    smoke_models_dir, monkeypatch
):
    assert dermviz.evaluate is api.evaluate  # the notebook's name
    suite = api.open_suite(smoke_models_dir / "demo-smoke")  # a new object: nothing loaded
    _no_model(monkeypatch)  # the build computed it: the same spec is read back
    summary = dermviz.evaluate(suite, n_bootstrap=200, **REPORT_OPTIONS)
    assert list(summary["metric"]) == REPORT_OPTIONS["metrics"]
    assert (summary["member"] == "m00").all() and (summary["images"] == 4).all()
    for column in (
        "score",
        "score_low",
        "score_high",
        "score_random",
        "score_gaussian",
        "gain_vs_random_low",
        "gain_vs_gaussian_high",
        "passes",
    ):
        assert column in summary
    assert summary[["score", "score_random", "score_gaussian"]].notna().all().all()
    assert (summary["score_low"] <= summary["score"]).all()
    assert (summary["score"] <= summary["score_high"]).all()
    rows = dermviz.evaluate(suite, per_image=True, **REPORT_OPTIONS)
    assert len(rows) == 4 * 4  # images x metrics
    assert set(rows["method"]) == {"gradcam"} and rows["score_random"].notna().all()
    # the summary is the rows', summarised
    mean = rows.groupby("metric", sort=False)["score"].mean()
    assert mean.to_numpy() == pytest.approx(summary["score"].to_numpy())


def test_the_builds_study_as_the_page_reads_it(smoke_suite, monkeypatch):
    _no_model(monkeypatch)
    [study] = api.saved_studies(smoke_suite, [api.EVALUATION_KIND])
    assert study.method == "gradcam" and study.n_images == REPORT_OPTIONS["n_images"]
    summary, families = api.report_card(study.folder, n_bootstrap=200)
    assert set(summary["member"]) == {"m00"}
    assert set(families["family"]) == {"faithfulness", "complexity"}
    assert families["best"].all()  # one method: the best of its families
    sentences = api.report_sentences(summary, families)
    assert any("Not computed in this study: robustness" in s for s in sentences)
    image_id = study.spec.image_ids[0]
    curve = api.report_curve(study.folder, "m00", "gradcam", image_id, "insertion")
    assert set(curve["source"]) == {"method", "random map", "centred Gaussian"}
    assert len(curve) == 3 * (REPORT_OPTIONS["metric_params"]["insertion"]["n_steps"] + 1)
    assert curve["p"].between(0, 1).all()
    image, saliency = api.report_map(study.folder, "m00", "gradcam", image_id)
    assert image.shape[:2] == saliency.shape == (smoke_suite.image_size,) * 2
    with pytest.raises(KeyError, match="not in this study"):
        api.report_map(study.folder, "m01", "gradcam", image_id)


def test_the_demo_runs_its_study_only_when_it_prepares(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import dermviz.demo as demo
    import dermviz.models.training as training

    calls, built = [], []
    monkeypatch.setattr(training, "train_suite",
                        lambda *args, **kwargs: built.append(SimpleNamespace()) or built[-1])
    monkeypatch.setattr(demo, "prepare_pages", lambda *args, **kwargs: None)
    monkeypatch.setattr(demo, "prepare_report_card", lambda suite, **kwargs: calls.append(kwargs))
    examples = []
    monkeypatch.setattr(demo, "prepare_sanity_examples",
                        lambda suite, **kwargs: examples.append(kwargs["n_images"]))
    demo.run_demo(
        profile="smoke", out_dir=tmp_path / "a", explain=False, prepare=False, progress=False
    )
    assert calls == []
    demo.run_demo(profile="smoke", out_dir=tmp_path / "b", explain=False, progress=False)
    demo.run_demo(profile="default", out_dir=tmp_path / "c", explain=False, progress=False)
    assert [c.get("max_members") for c in calls] == [1, None]
    assert calls[1]["methods"] == demo.DEMO_REPORT_CARD["methods"]
    # the build never measures a precision choice (pages and maps use a stored one)
    assert [b.measure_precision for b in built] == [False, False, False]
    assert examples == [demo.DEMO_SANITY_IMAGES]  # the default build's only, when it prepares


def test_unknown_methods_and_metrics_are_refused_with_the_valid_names(smoke_suite):
    with pytest.raises(KeyError, match="unknown saliency method 'gradcam2'.*gradcam_pp"):
        api.evaluate(smoke_suite, methods=["gradcam2"])
    with pytest.raises(ValueError, match="unknown metric.*'pixelflip'.*available.*deletion"):
        api.evaluate(smoke_suite, metrics=["pixelflip"])
    with pytest.raises(KeyError, match="m99"):
        api.evaluate(smoke_suite, members=["m99"])
    assert "deletion" in api.evaluation_metrics("faithfulness")
    assert "layercam" in api.evaluation_methods()


def test_a_family_not_passed_names_the_metrics_that_were():
    import pandas as pd

    gains = {"gain_vs_random_low": 0.1, "gain_vs_random_high": 0.3,
             "gain_vs_gaussian_low": 0.1, "gain_vs_gaussian_high": 0.2}
    summary = pd.DataFrame([
        {"member": "m00", "family": "faithfulness", "metric": "deletion", "method": "gradcam",
         "images": 8, "passes": True, **gains},
        {"member": "m00", "family": "faithfulness", "metric": "insertion",
         "method": "gradcam", "images": 8, "passes": False, **gains},
    ])
    families = pd.DataFrame([{"member": "m00", "family": "faithfulness", "method": "gradcam",
                              "best": True, "passes": False}])
    sentences = api.report_sentences(summary, families)
    [sentence] = [s for s in sentences if s.startswith("m00, faithfulness")]
    assert "no method passes every faithfulness metric computed" in sentence
    assert "passed on one metric: gradcam on deletion" in sentence
    families["passes"] = True
    assert "m00, faithfulness: best ranked gradcam; passing: gradcam." in api.report_sentences(
        summary, families)
