"""Out-of-distribution scores on hand-built embeddings with known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dermviz.analysis.ood import (
    SCORES,
    fit_member_density,
    fit_ood,
    holdout_percentile,
    is_unusual,
    load_ood,
    max_softmax_probability,
    ood_auroc,
    ood_scores,
    save_ood,
)
from dermviz.store.arrays import ArrayStore

D = 8


def _blobs(rng: np.random.Generator, n: int, *, shift: float = 0.0):
    """Two Gaussian classes (means +-3 on axis 0, plus a positive offset like ReLU
    features), unit covariance; labels alternate. ``shift`` moves both along axis 1."""
    y = np.arange(n) % 2
    means = np.zeros((2, D))
    means[:, 0] = [-3.0, 3.0]
    means += 5.0
    means[:, 1] += shift
    return means[y] + rng.normal(size=(n, D)), y, means


def _features(x: np.ndarray, score: str):
    """One member's features of embeddings ``x``: the array itself, or for ``"layers"``
    two layers' channel statistics whose ``log1p`` is ``x`` shifted (each layer's own
    shift; a Mahalanobis distance does not see it)."""
    if score != "layers":
        return x
    return {"mixed0": np.expm1(x + 100.0), "mixed2": np.expm1(x + 110.0)}


def _fitted(score: str = "both", *, n_pool: int = 600, n_hold: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    pool, y, means = _blobs(rng, n_pool)
    hold, _, _ = _blobs(rng, n_hold)
    # a second member sees the same images through a random rotation and scale
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))

    def members(x):
        return {"a": _features(x, score), "b": _features(2.0 * x @ q, score)}

    cal = fit_ood(members(pool), y, members(hold), score=score)
    return cal, means, members, rng


@pytest.mark.parametrize("score", SCORES)
def test_class_mean_scores_lowest_and_far_point_is_flagged(score):
    cal, means, members, rng = _fitted(score)
    far = means[1] + 12.0 * rng.normal(size=D) / np.sqrt(D) * 3
    probe = np.stack([means[0], means[1], far, -means[1]])
    scores = ood_scores(cal, members(probe))
    flags = is_unusual(cal, scores)
    assert flags.tolist() == [False, False, True, True]
    if score in ("mahalanobis", "layers"):  # at a class mean: distance ~0, below every image
        assert scores[:2].max() < cal.holdout_scores.min()
    assert holdout_percentile(cal, scores[2:]).tolist() == [100.0, 100.0]


@pytest.mark.parametrize("score", SCORES)
def test_fresh_in_distribution_images_are_flagged_at_about_the_nominal_rate(score):
    cal, _, members, rng = _fitted(score)
    assert is_unusual(cal, cal.holdout_scores).mean() <= 0.01
    fresh, _, _ = _blobs(rng, 2000)
    rate = is_unusual(cal, ood_scores(cal, members(fresh))).mean()
    assert 0.0 < rate < 0.03  # nominal 1%, from 400 calibration images
    shifted, _, _ = _blobs(rng, 200, shift=8.0)
    assert is_unusual(cal, ood_scores(cal, members(shifted))).mean() > 0.9


def test_ratio_to_the_holdout_median_is_about_one_in_distribution():
    cal, _, _, _ = _fitted()
    assert np.median(cal.holdout_scores) == pytest.approx(1.0, abs=0.05)
    assert cal.threshold == pytest.approx(np.quantile(cal.holdout_scores, 0.99), rel=0.05)


def test_density_matches_sklearn_pieces():
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(3)
    pool, y, _ = _blobs(rng, 100)
    means, precision, bank, k = fit_member_density(pool, y, k=500)
    assert k == 100  # capped at the pool size
    np.testing.assert_allclose(means[1], pool[y == 1].mean(axis=0))
    centred = pool - means[y]
    np.testing.assert_allclose(precision, LedoitWolf(assume_centered=True).fit(centred)
                               .precision_)
    np.testing.assert_allclose(np.linalg.norm(bank, axis=1), 1.0, rtol=1e-6)


def test_store_round_trip(tmp_path):
    for score in ("both", "layers"):
        cal, means, members, _ = _fitted(score, n_pool=60, n_hold=20)
        store = ArrayStore(tmp_path / score)
        assert load_ood(store) is None
        save_ood(store, cal)
        back = load_ood(store)
        assert back.members == cal.members and back.score == cal.score
        assert back.layers == cal.layers == (() if score == "both" else ("mixed0", "mixed2"))
        emb = members(np.stack([means[0], means[1] + 10]))
        np.testing.assert_allclose(ood_scores(back, emb), ood_scores(cal, emb), rtol=1e-6)
        assert back.threshold == cal.threshold


def test_msp_and_auroc():
    np.testing.assert_allclose(max_softmax_probability([0.0, 0.3, 0.5, 0.9]),
                               [1.0, 0.7, 0.5, 0.9])
    assert ood_auroc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert ood_auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert ood_auroc([1.0, 1.0], [1.0]) == 0.5
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        max_softmax_probability([1.2])
    with pytest.raises(ValueError, match="at least one"):
        ood_auroc([], [1.0])


def test_bad_input_is_refused_clearly():
    rng = np.random.default_rng(0)
    pool, y, _ = _blobs(rng, 20)
    with pytest.raises(ValueError, match="score must"):
        fit_ood({"a": pool}, y, {"a": pool}, score="energy")
    with pytest.raises(ValueError, match="quantile"):
        fit_ood({"a": pool}, y, {"a": pool}, score="both", quantile=1.0)
    with pytest.raises(ValueError, match="different members"):
        fit_ood({"a": pool}, y, {"b": pool}, score="both")
    with pytest.raises(ValueError, match="one label"):
        fit_ood({"a": pool}, y[:-1], {"a": pool}, score="both")
    with pytest.raises(ValueError, match="at least 2 pool"):
        fit_ood({"a": pool}, np.r_[1, np.zeros(19, int)], {"a": pool}, score="both")
    with pytest.raises(ValueError, match="NaN"):
        fit_ood({"a": np.full_like(pool, np.nan)}, y, {"a": pool}, score="both")
    # the feature ensemble needs its layers' statistics, non-negative
    with pytest.raises(KeyError, match="mixed0"):
        fit_ood({"a": pool}, y, {"a": pool})
    with pytest.raises(ValueError, match=">= 0"):
        fit_ood({"a": {"mixed0": pool - 100.0}}, y, {"a": {"mixed0": pool}},
                layers=["mixed0"])
    with pytest.raises(ValueError, match="each once"):
        fit_ood({"a": {"x": pool}}, y, {"a": {"x": pool}}, layers=["x", "x"])
    cal = fit_ood({"a": pool}, y, {"a": pool}, score="both")
    with pytest.raises(ValueError, match="dimensions"):
        ood_scores(cal, {"a": np.ones((1, D + 1))})
    with pytest.raises(KeyError, match="b"):
        ood_scores(cal, {"b": pool})


def test_the_feature_ensemble_flags_an_image_off_in_one_layer_only():
    """Lee et al.'s ensemble on hand-built layer statistics: three layers see the same
    two-class images through their own rotations; an image whose statistics are typical in
    two layers and shifted by 20 standard deviations in the third (as a photograph's colour
    statistics are in an early block while its late features look like a lesion's) is
    flagged, each layer's distance being a ratio to its own hold-out median; the same
    image, typical everywhere, is not."""
    rng = np.random.default_rng(5)
    pool, y, means = _blobs(rng, 400)
    hold, _, _ = _blobs(rng, 300)
    rot = [np.linalg.qr(rng.normal(size=(D, D)))[0] for _ in range(3)]
    layers = ("mixed0", "mixed2", "mixed5")

    def stats(x, off=None):  # channel statistics whose log1p is the rotated x (+ 100)
        out = {}
        for name, r in zip(layers, rot, strict=True):
            z = x @ r + 100.0
            if name == off:  # 20 standard deviations across the class axis (axis 0)
                z = z + 20.0 * r[1]
            out[name] = np.expm1(z)
        return out

    cal = fit_ood({"a": stats(pool)}, y, {"a": stats(hold)}, layers=layers)
    assert cal.layers == layers
    probe = means[[0, 1]]
    typical = ood_scores(cal, {"a": stats(probe)})
    assert not is_unusual(cal, typical).any()
    for off in layers:
        shifted = ood_scores(cal, {"a": stats(probe, off=off)})
        assert is_unusual(cal, shifted).all(), off
        # that layer's distance is ~20 (unit covariance), its ratio 20 / its hold-out
        # median; the other layers' are 0 (a class mean): the mean over three layers
        reference = cal.densities[0].reference[layers.index(off)]
        np.testing.assert_allclose(shifted, 20.0 / reference / 3, rtol=0.15)


def test_smoke_suite_passes_its_own_data_and_flags_photographs(smoke_suite):
    """The flag on a trained suite: unseen synthetic images mostly pass, photographs from
    skimage.data (resized to the suite's size) are flagged, and both scores beat the
    maximum-softmax baseline at telling them apart."""
    import skimage.data

    from dermviz.analysis.ood import fit_suite_ood, suite_features
    from dermviz.data.images import resize_image
    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.predict import predict_proba
    from dermviz.models.profiles import PROFILES

    size = smoke_suite.image_size
    models = {m: smoke_suite.load_model(m) for m in smoke_suite.member_ids}
    cal = fit_suite_ood(smoke_suite, model_loader=models.get)
    assert cal.members == tuple(smoke_suite.member_ids)
    assert len(cal.holdout_scores) == 16
    assert not is_unusual(cal, cal.holdout_scores).any()  # the calibration set passes
    # unseen images of the same generator and settings (the smoke profile's evidence
    # mode): about 1/17 exceed the max of 16 calibration scores by chance; allow a few
    smoke_data = PROFILES["smoke"].data
    fresh_data = make_synthetic(replace(smoke_data, n_train=2, n_test=32, seed=1000))
    fresh = fresh_data.load_images(list(fresh_data.holdout["image_id"]), size=size)
    photos = np.stack([resize_image(getattr(skimage.data, name)(), size)
                       for name in ("astronaut", "coffee", "chelsea", "rocket")])
    def features(x):
        return suite_features(smoke_suite, x, layers=cal.layers, model_loader=models.get)

    s_fresh = ood_scores(cal, features(fresh))
    s_photo = ood_scores(cal, features(photos))
    assert is_unusual(cal, s_fresh).mean() <= 0.2
    assert is_unusual(cal, s_photo).all()
    inside = np.r_[cal.holdout_scores, s_fresh]
    assert ood_auroc(inside, s_photo) > 0.95

    def msp(x):
        return -max_softmax_probability(np.mean([predict_proba(m, x) for m in models.values()],
                                                axis=0))

    holdout = smoke_suite.dataset()
    hold_images = holdout.load_images(list(holdout.holdout["image_id"]), size=size)
    msp_auc = ood_auroc(np.r_[msp(hold_images), msp(fresh)], msp(photos))
    assert ood_auroc(inside, s_photo) >= msp_auc
