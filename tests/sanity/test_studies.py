"""Studies: randomization, reproducibility, cross-model, specs and persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.explain.base import Explainer, SaliencyMaps
from dermviz.sanity import (
    PAPER_REFERENCE,
    ComparisonResult,
    RandomizationResult,
    RandomizationSpec,
    block_layers,
    cached_study,
    export_csv,
    load_study,
    paper_image_ids,
    paper_study_spec,
    randomize,
    run_cross_model,
    run_randomization_study,
    run_reproducibility,
    save_study,
    study_folder,
)

MEASURES = ("ssim", "spearman", "spearman_abs", "ssim_paper", "ssim_paper_rgb")


def _holdout(n_mel: int, n_nv: int) -> pd.DataFrame:
    n = n_mel + n_nv
    return pd.DataFrame(
        {
            "image_id": [f"ISIC_{1000 + i}" for i in range(n)],
            "test_index": range(n),
            "y": [1] * n_mel + [0] * n_nv,
            "dx": ["mel"] * n_mel + ["nv"] * n_nv,
        }
    ).sample(frac=1.0, random_state=0)  # order must not matter


# --------------------------------------------------------------------------- specs


def test_paper_study_spec_picks_the_papers_images():
    specs = paper_study_spec(_holdout(200, 200), member_id="m05")
    assert set(specs) == {"gradcam", "kernelshap"}
    ids = [1, 6, 13, 17, 18, 21, 72, 80, 200, 204, 210, 212, 217, 219, 223, 226]
    expected = tuple(f"ISIC_{1000 + i}" for i in ids)
    for method, spec in specs.items():
        assert spec.image_ids == expected
        assert (spec.layer_set, spec.order, spec.target) == ("paper", "cascading", "predicted")
        assert spec.method == method and spec.member_id == "m05"
        assert not spec.reset_bias and not spec.reset_batchnorm
    assert specs["gradcam"].method_params == {"layer": "mixed10"}
    assert specs["gradcam"].key() != specs["kernelshap"].key()


def test_paper_image_ids_fall_back_on_a_small_holdout():
    ids = paper_image_ids(_holdout(20, 20))
    assert ids == [f"ISIC_{1000 + i}" for i in range(8)] + [
        f"ISIC_{1000 + i}" for i in range(20, 28)
    ]
    assert len(paper_image_ids(_holdout(3, 5))) == 8  # fewer than 8 per class: all of them
    table = _holdout(5, 5).drop(columns="y")  # dx is enough
    assert paper_image_ids(table)[:5] == [f"ISIC_{1000 + i}" for i in range(5)]


def test_spec_hash_is_stable_and_validated():
    a = RandomizationSpec(member_id="m01", image_ids=["x", "y"], method_params={"layer": "mixed7"})
    b = RandomizationSpec(member_id="m01", image_ids=("x", "y"), method_params={"layer": "mixed7"})
    assert a == b and a.key() == b.key() and hash(a) == hash(b)
    assert a.key() == "7e6fbb7583b50c4e"  # stable across processes and sessions
    assert RandomizationSpec.from_dict(a.to_dict()) == a
    assert RandomizationSpec(member_id="m01", image_ids=["x", "y"], seed=1).key() != a.key()
    for bad in (
        {"layer_set": "all"},
        {"order": "random"},
        {"target": "both"},
        {"similarities": ("ssim", "nope")},
        {"image_ids": ["x", "x"]},
    ):
        with pytest.raises(ValueError):
            RandomizationSpec(**{"member_id": "m", "image_ids": ["x"], **bad})


def test_paper_reference_numbers():
    rnd = PAPER_REFERENCE["randomization"]
    assert rnd["gradcam"]["mean_abs_step"] == [0.232, 0.044, 0.030, 0.018, 0.043]
    assert rnd["kernelshap"]["mean_abs_step"] == [0.173, 0.032, 0.046, 0.033, 0.070]
    assert rnd["paper_layer_names"][1:3] == ["conv2d_94", "conv2d_77"]
    assert PAPER_REFERENCE["reproducibility"]["kernelshap"]["mean"] == 0.929
    assert PAPER_REFERENCE["cross_model"]["gradcam"]["5 vs 11"]["mean"] == 0.816


# --------------------------------------------------------------------------- studies


def test_randomization_study_table_baselines_and_round_trip(
    trained_model, test_images, make_gradcam, tmp_path
):
    images, _, _ = test_images
    images, ids = images[:3], ["a", "b", "c"]
    spec = RandomizationSpec(
        member_id="m00",
        image_ids=ids,
        method="gradcam",
        method_params={"layer": "mixed5"},
        n_stages=2,
        seed=4,
    )
    ticks = []
    result = run_randomization_study(
        trained_model,
        images,
        ids,
        spec,
        make_explainer=make_gradcam,
        progress=lambda done, total, name: ticks.append((done, total, name)),
    )
    assert ticks == [
        (1, 3, "original"),
        (2, 3, "head_dense"),
        (3, 3, "mixed10/branch_pool/conv"),
    ]
    assert isinstance(result, RandomizationResult)
    assert result.stage_names == ["original", "head_dense", "mixed10/branch_pool/conv"]
    assert result.stage_layers[1] == ["head_dense"]
    assert result.maps.shape == (3, 3, 96, 96) and result.method == "gradcam"
    t = result.table
    assert list(t.columns) == [
        "method",
        "image_id",
        "kind",
        "stage",
        "stage_name",
        "measure",
        "value",
    ]
    stages = t[t["kind"] == "stage"]
    assert len(stages) == 3 * 3 * len(MEASURES)
    first = stages[(stages["stage"] == 0) & (stages["measure"] == "ssim")]
    np.testing.assert_allclose(first["value"], 1.0)
    base = t[t["kind"] == "baseline"]
    assert set(base["stage_name"]) == {"baseline:random", "baseline:edge"}
    assert len(base) == 2 * 3 * len(MEASURES)
    assert set(result.baselines) == {"random", "edge"}
    assert len(result.predictions) == 3 * 3
    summary = result.summary("ssim")
    assert list(summary["stage_name"][:3]) == result.stage_names
    assert len(result.steps("ssim")) == 2

    folder = save_study(result, tmp_path / "study")
    assert {p.name for p in folder.iterdir()} == {
        "study.json",
        "table.csv",
        "predictions.csv",
        "arrays.npz",
    }
    back = load_study(folder)
    assert isinstance(back, RandomizationResult)
    assert back.spec == spec and back.stage_names == result.stage_names
    assert back.stage_layers == result.stage_layers and back.image_ids == ids
    np.testing.assert_array_equal(back.maps, result.maps)
    np.testing.assert_array_equal(back.images, result.images)
    np.testing.assert_array_equal(back.baselines["edge"], result.baselines["edge"])
    pd.testing.assert_frame_equal(
        back.table.reset_index(drop=True), result.table, check_dtype=False
    )
    out = export_csv(result, tmp_path / "export" / "table.csv")
    assert len(pd.read_csv(out)) == len(result.table)

    # The cache layout: <suite>/sanity/<kind>-<key>; only the same spec is a hit.
    folder = study_folder(tmp_path / "suite", spec)
    assert folder == tmp_path / "suite" / "sanity" / f"randomization-{spec.key()}"
    assert cached_study(tmp_path / "suite", spec) is None
    save_study(result, folder)
    cached = cached_study(tmp_path / "suite", spec)
    np.testing.assert_array_equal(cached.maps, result.maps)
    reseeded = RandomizationSpec.from_dict({**spec.to_dict(), "seed": 5})
    assert cached_study(tmp_path / "suite", reseeded) is None
    with pytest.raises(FileNotFoundError):
        load_study(tmp_path / "nothing")


def test_randomized_member_scores_lower_than_a_rerun(trained_model, test_images, make_gradcam):
    from dermviz.models.predict import predict_proba

    images, y, _ = test_images
    ids = [f"t{i}" for i in range(len(images))]
    p = predict_proba(trained_model, images)
    assert ((p >= 0.5) == y).mean() >= 5 / 6  # the head did learn the dark square

    rerun = run_reproducibility(
        make_gradcam,
        trained_model,
        images,
        ids,
        similarities=("ssim", "ssim_paper"),
        progress=False,
    )
    assert isinstance(rerun, ComparisonResult) and rerun.kind == "reproducibility"
    trained_maps = rerun.maps["run1"]
    alive = np.array([m.max() > 0 for m in trained_maps])
    assert alive.sum() >= len(images) // 2  # non-degenerate trained maps
    if not alive.all():  # all-zero maps are flagged: SSIM calls two of them identical
        assert any("constant" in w for w in rerun.warnings)

    everything = [n for _, layers in block_layers(trained_model) for n in layers]
    _, randomized = next(randomize(trained_model, [everything], seed=0))
    cross = run_cross_model(
        {"trained": trained_model, "randomized": lambda: randomized},
        images,
        ids,
        make_explainer=make_gradcam,
        target_class=y,
        similarities=("ssim", "ssim_paper"),
        progress=False,
    )
    np.testing.assert_allclose(cross.maps["trained"], trained_maps, atol=1e-5)
    for measure in ("ssim", "ssim_paper"):
        same = rerun.table.query("kind == 'pair' and measure == @measure")
        rand = cross.table.query("kind == 'pair' and measure == @measure")
        same_v = same.set_index("image_id")["value"][ids].to_numpy()
        rand_v = rand.set_index("image_id")["value"][ids].to_numpy()
        assert same_v.min() > 0.999  # GradCAM is deterministic
        assert (rand_v[alive] < same_v[alive] - 0.01).all(), (measure, rand_v, same_v)
        assert rand_v.mean() < same_v.mean() - 0.05
    # Baselines are part of every result.
    assert {"baseline:random", "baseline:edge"} <= set(rerun.table["b"])
    assert {"baseline:random", "baseline:edge"} <= set(cross.table["b"])


def test_cross_model_reference_loaders_and_round_trip(
    trained_model, test_images, make_gradcam, tmp_path
):
    images, _, _ = test_images
    images, ids = images[:2], ["u", "v"]
    calls = []

    def loader():
        calls.append(1)
        return trained_model

    result = run_cross_model(
        {"a": trained_model, "b": loader, "c": trained_model},
        images,
        ids,
        make_explainer=make_gradcam,
        reference="a",
        similarities=("ssim", "spearman"),
        progress=False,
    )
    assert calls == [1]
    pairs = result.table[result.table["kind"] == "pair"]
    assert set(zip(pairs["a"], pairs["b"], strict=True)) == {("a", "b"), ("a", "c")}
    np.testing.assert_allclose(pairs.query("measure == 'ssim'")["value"], 1.0, atol=1e-6)
    summary = result.summary("ssim")
    assert {"mean", "sd", "n"} <= set(summary.columns)
    back = load_study(save_study(result, tmp_path / "cross"))
    assert isinstance(back, ComparisonResult) and back.kind == "cross_model"
    assert set(back.maps) == {"a", "b", "c"}
    np.testing.assert_array_equal(back.maps["b"], result.maps["b"])
    with pytest.raises(ValueError, match="reference"):
        run_cross_model(
            {"a": trained_model, "b": trained_model},
            images,
            ids,
            make_explainer=make_gradcam,
            reference="z",
        )


class _SignedToy(Explainer):
    """A cheap signed "attribution": the centred image, scaled by a head weight."""

    name = "toy_signed"
    signed = True

    def explain(self, images, *, target_class=None, threshold=0.5):
        gray = np.asarray(images, np.float32).mean(-1) / 255.0 - 0.5
        scale = float(self.model.get_layer("head_dense").get_weights()[0][:4, 0].sum())
        n = len(images)
        return SaliencyMaps(
            method=self.name,
            maps=(gray * scale).astype(np.float32),
            target_class=np.ones(n, np.int64),
            p_melanoma=np.full(n, 0.5, np.float32),
            grid=None,
            params={},
        )


def test_signed_method_through_the_factory(small_model):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(2, 75, 75, 3)).astype(np.uint8)
    spec = RandomizationSpec(
        member_id="m",
        image_ids=["p", "q"],
        method="toy_signed",
        n_stages=1,
        order="independent",
        similarities=("ssim", "spearman", "ssim_paper"),
    )
    result = run_randomization_study(
        small_model, images, ["p", "q"], spec, make_explainer=_SignedToy, progress=False
    )
    assert result.signed and result.method == "toy_signed"
    # Signed baselines are scaled to the original map's peak |value|.
    peak = np.abs(result.maps[0]).max(axis=(1, 2))
    np.testing.assert_allclose(np.abs(result.baselines["random"]).max(axis=(1, 2)), peak, rtol=0.01)
    t = result.table.query("kind == 'stage' and stage == 0")
    np.testing.assert_allclose(t["value"], 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="image_ids"):
        run_randomization_study(small_model, images, ["q", "p"], spec, make_explainer=_SignedToy)
