"""The report-card study through the sanity runner's registry: its spec and key, the cache
layout, image-by-image storage and resuming, the family table (no Keras: a linear toy
model and a toy explainer stand in for a member and a method)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import dermviz.sanity.checks.evaluation as study
from dermviz.evaluation import score_images
from dermviz.evaluation.report import family_table
from dermviz.sanity import (
    EvaluationSpec,
    Loaders,
    get_check,
    load_study,
    save_study,
    spec_from_dict,
)
from tests.evaluation.toy import linear_model, toy_images, toy_weights, true_maps

W = toy_weights()
IMAGES = toy_images(4)
IDS = ("a", "b", "c", "d")


def _spec(**changes) -> EvaluationSpec:  # noqa: ANN003
    options = dict(
        member_ids=("m0", "m1"),
        image_ids=IDS,
        methods=("true", "negated"),
        metrics=("deletion", "sparseness"),
        metric_params={"deletion": {"n_steps": 4, "patch": 3}},
    )
    return EvaluationSpec(**{**options, **changes})


class ToyExplainer:
    """The linear model's exact attributions (or their negation); counts its calls."""

    signed = True
    calls = 0

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def explain(self, images, *, target_class=None, threshold=0.5):  # noqa: ANN001, ANN201
        ToyExplainer.calls += 1
        n = len(images)
        return SimpleNamespace(
            maps=self.sign * true_maps(W, images).astype(np.float32),
            target_class=np.ones(n, int),
            p_melanoma=np.full(n, 0.7),
        )


@pytest.fixture
def toy_study(monkeypatch):
    """The study's explainers and model_fn replaced by the toy ones."""
    monkeypatch.setattr(
        study,
        "explainer_factory",
        lambda method, params: lambda model: ToyExplainer(1.0 if method == "true" else -1.0),
    )
    monkeypatch.setattr(
        study, "keras_model_fn", lambda model, target_class: linear_model(W, sigmoid=True)
    )
    ToyExplainer.calls = 0


def _loaders(scratch=None, models=None):  # noqa: ANN001, ANN202
    def model(member):  # noqa: ANN001, ANN202
        if models is not None:
            models.append(member)
        return object()

    return Loaders(
        model=model, images=lambda ids: IMAGES[[IDS.index(i) for i in ids]], scratch=scratch
    )


def test_the_spec_keys_every_metric_parameter_and_round_trips():
    spec = _spec()
    assert spec.metric_params["deletion"]["replacement"] == "black"  # defaults filled in
    assert spec.metric_params["deletion"]["n_steps"] == 4
    back = spec_from_dict(spec.to_json())
    assert back == spec and back.key() == spec.key()
    assert get_check("evaluation").spec_type is EvaluationSpec
    blurred = _spec(metric_params={"deletion": {"n_steps": 4, "patch": 3, "replacement": "blur"}})
    assert blurred.key() != spec.key()  # the replacement value enters the cache key
    assert _spec(image_ids=IDS[:2]).key() != spec.key()
    assert _spec(methods=("true",)).key() != spec.key()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": ("deletion", "pixel_flipping")}, "unknown metric.*available"),
        ({"methods": ()}, "at least one of methods"),
        ({"image_ids": ()}, "at least one image"),
        ({"metric_params": {"irof": {}}}, "not in the study"),
        ({"metric_params": {"deletion": {"replacement": "grey"}}}, "replacement must be one of"),
        ({"methods": ("true", "true")}, "unique"),
    ],
)
def test_bad_specs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _spec(**changes)


def test_the_study_scores_methods_beside_baselines_and_saves(toy_study, tmp_path):
    result = get_check("evaluation").compute(_spec(), _loaders(), progress=False)
    table = result.table
    assert len(table) == 2 * 2 * 4 * 2  # members x methods x images x metrics
    assert {"score", "score_random", "score_gaussian"} <= set(table.columns)
    # the baselines are scored once per member, image and signedness: the same for both
    by_method = table.set_index(["member", "image_id", "metric", "method"])["score_random"]
    assert np.allclose(
        by_method.xs("true", level="method"), by_method.xs("negated", level="method")
    )
    # the same rows as score_images gives one image at a time
    model_fn = linear_model(W, sigmoid=True)
    expected = score_images(
        _spec().metric_objects(),
        model_fn,
        IMAGES[1:2],
        true_maps(W, IMAGES[1:2]),
        image_ids=["b"],
        signed=True,
        seed=1,
    )
    got = table[
        (table["member"] == "m0") & (table["method"] == "true") & (table["image_id"] == "b")
    ]
    np.testing.assert_allclose(got["score"], expected["score"])
    np.testing.assert_allclose(got["score_gaussian"], expected["score_gaussian"])
    # the exact map beats its negation on deletion (lower is better) on every image
    deletion = table[table["metric"] == "deletion"].pivot_table(
        index=["member", "image_id"], columns="method", values="score"
    )
    assert (deletion["true"] < deletion["negated"]).all()
    # curves: the method's and both baselines', consistent with the scores
    curve = result.curve("m1", "true", "c", "deletion")
    assert set(curve["source"]) == {"method", "random", "gaussian"}
    assert len(curve) == 3 * 5 and curve["fraction"].max() == 1.0
    assert result.saliency("m0", "negated", "a").shape == IMAGES.shape[1:3]
    with pytest.raises(KeyError, match="not in this study"):
        result.curve("m9", "true", "a", "deletion")

    back = load_study(save_study(result, tmp_path / "saved"))
    pd.testing.assert_frame_equal(back.table, result.table)
    np.testing.assert_array_equal(back.curves["deletion"], result.curves["deletion"])
    assert back.spec == result.spec and back.method == "true,negated"
    pd.testing.assert_frame_equal(back.summary(n_bootstrap=50), result.summary(n_bootstrap=50))


def test_an_interrupted_study_resumes_at_the_image_it_stopped_at(toy_study, tmp_path):
    scratch = tmp_path / "partial"
    compute = get_check("evaluation").compute

    def stop_after_three(done, total, what):  # noqa: ANN001, ANN202
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compute(_spec(), _loaders(scratch), progress=stop_after_three)
    assert len(list(scratch.glob("*.csv"))) == 3  # every scored image was kept
    scored = ToyExplainer.calls
    models: list[str] = []
    resumed = compute(_spec(), _loaders(scratch, models), progress=False)
    # only the 5 units left are scored (2 methods each)
    assert ToyExplainer.calls - scored == 5 * 2 and models == ["m0", "m1"]
    fresh = compute(_spec(), _loaders(), progress=False)
    pd.testing.assert_frame_equal(resumed.table, fresh.table)
    np.testing.assert_array_equal(resumed.maps, fresh.maps)


def test_a_member_whose_images_are_all_kept_is_not_loaded_again(toy_study, tmp_path):
    scratch = tmp_path / "partial"

    def stop_after_m0(done, total, what):  # noqa: ANN001, ANN202
        if done == len(IDS):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        get_check("evaluation").compute(_spec(), _loaders(scratch), progress=stop_after_m0)
    models: list[str] = []
    get_check("evaluation").compute(_spec(), _loaders(scratch, models), progress=False)
    assert models == ["m1"]


def test_a_damaged_unit_is_scored_again(toy_study, tmp_path):
    scratch = tmp_path / "partial"
    compute = get_check("evaluation").compute
    first = compute(_spec(), _loaders(scratch), progress=False)
    (scratch / "m1-i2.npz").write_bytes(b"truncated")
    calls = ToyExplainer.calls
    again = compute(_spec(), _loaders(scratch), progress=False)
    assert ToyExplainer.calls - calls == 2  # one image, two methods
    pd.testing.assert_frame_equal(again.table, first.table)


def test_the_family_table_marks_the_best_method_per_family():
    summary = pd.DataFrame(
        {
            "member": "m0",
            "method": ["a", "b", "a", "b", "a", "b"],
            "metric": [
                "deletion",
                "deletion",
                "insertion",
                "insertion",
                "sparseness",
                "sparseness",
            ],
            "family": ["faithfulness"] * 4 + ["complexity"] * 2,
            "higher_is_better": [False, False, True, True, True, True],
            "score": [0.2, 0.4, 0.6, 0.5, 0.1, 0.3],
            "passes": [True, False, True, True, False, False],
        }
    )
    table = family_table(summary).set_index(["family", "method"])
    assert table.loc[("faithfulness", "a"), "best"] and not table.loc[("faithfulness", "b"), "best"]
    assert table.loc[("faithfulness", "a"), "mean_rank"] == 1.0
    assert table.loc[("faithfulness", "a"), "n_passed"] == 2
    assert table.loc[("faithfulness", "b"), "n_passed"] == 1
    assert not table.loc[("faithfulness", "b"), "passes"]
    # best even when nothing passes: the table says so beside it
    assert table.loc[("complexity", "b"), "best"] and not table.loc[("complexity", "b"), "passes"]
    with pytest.raises(ValueError, match="lacks the column"):
        family_table(summary.drop(columns="passes"))


def test_a_study_scored_before_a_metric_changed_is_outdated_not_read_back(
    toy_study, tmp_path, monkeypatch
):
    from dermviz.evaluation.faithfulness import Deletion
    from dermviz.sanity import cached_study, list_studies, study_folder

    suite = tmp_path / "suite"
    spec, maps_only = _spec(), _spec(metrics=("sparseness",), metric_params={})
    for s in (spec, maps_only):
        result = get_check("evaluation").compute(s, _loaders(), progress=False)
        save_study(result, study_folder(suite, s))
    assert spec.revisions() == {"deletion": Deletion.revision}  # deletion has changed once
    assert maps_only.revisions() == {}
    assert cached_study(suite, spec) is not None
    assert not any(info.outdated for info in list_studies(suite))
    saved = study_folder(suite, spec)

    # the code changes deletion's scores again: the saved study no longer counts
    monkeypatch.setattr(Deletion, "revision", Deletion.revision + 1)
    fresh = _spec()
    assert study_folder(suite, fresh) != saved  # the revision is in the key
    assert cached_study(suite, fresh) is None
    [current] = list_studies(suite)  # the sparseness study does not read deletion
    assert current.spec == maps_only and not current.outdated
    listed = {info.spec.metrics: info for info in list_studies(suite, include_outdated=True)}
    assert listed[("deletion", "sparseness")].outdated
    assert not listed[("sparseness",)].outdated
