"""Out-of-distribution scores on hand-built embeddings with known answers."""

from __future__ import annotations

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


def _fitted(score: str = "both", *, n_pool: int = 600, n_hold: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    pool, y, means = _blobs(rng, n_pool)
    hold, _, _ = _blobs(rng, n_hold)
    # a second member sees the same images through a random rotation and scale
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    cal = fit_ood({"a": pool, "b": 2.0 * pool @ q}, y, {"a": hold, "b": 2.0 * hold @ q},
                  score=score)
    return cal, means, q, rng


@pytest.mark.parametrize("score", SCORES)
def test_class_mean_scores_lowest_and_far_point_is_flagged(score):
    cal, means, q, rng = _fitted(score)
    far = means[1] + 12.0 * rng.normal(size=D) / np.sqrt(D) * 3
    probe = np.stack([means[0], means[1], far, -means[1]])
    scores = ood_scores(cal, {"a": probe, "b": 2.0 * probe @ q})
    flags = is_unusual(cal, scores)
    assert flags.tolist() == [False, False, True, True]
    if score == "mahalanobis":  # exactly at a class mean: distance ~0, below every image
        assert scores[:2].max() < cal.holdout_scores.min()
    assert holdout_percentile(cal, scores[2:]).tolist() == [100.0, 100.0]


@pytest.mark.parametrize("score", SCORES)
def test_fresh_in_distribution_images_are_flagged_at_about_the_nominal_rate(score):
    cal, _, q, rng = _fitted(score)
    assert is_unusual(cal, cal.holdout_scores).mean() <= 0.01
    fresh, _, _ = _blobs(rng, 2000)
    rate = is_unusual(cal, ood_scores(cal, {"a": fresh, "b": 2.0 * fresh @ q})).mean()
    assert 0.0 < rate < 0.03  # nominal 1%, from 400 calibration images
    shifted, _, _ = _blobs(rng, 200, shift=8.0)
    assert is_unusual(cal, ood_scores(cal, {"a": shifted, "b": 2.0 * shifted @ q})).mean() > 0.9


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
    cal, means, q, _ = _fitted(n_pool=60, n_hold=20)
    store = ArrayStore(tmp_path / "arrays")
    assert load_ood(store) is None
    save_ood(store, cal)
    back = load_ood(store)
    assert back.members == cal.members and back.score == cal.score
    probe = np.stack([means[0], means[1] + 10])
    emb = {"a": probe, "b": 2.0 * probe @ q}
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
        fit_ood({"a": pool}, y, {"a": pool}, quantile=1.0)
    with pytest.raises(ValueError, match="different members"):
        fit_ood({"a": pool}, y, {"b": pool})
    with pytest.raises(ValueError, match="one label"):
        fit_ood({"a": pool}, y[:-1], {"a": pool})
    with pytest.raises(ValueError, match="at least 2 pool"):
        fit_ood({"a": pool}, np.r_[1, np.zeros(19, int)], {"a": pool})
    with pytest.raises(ValueError, match="NaN"):
        fit_ood({"a": np.full_like(pool, np.nan)}, y, {"a": pool})
    cal = fit_ood({"a": pool}, y, {"a": pool})
    with pytest.raises(ValueError, match="dimensions"):
        ood_scores(cal, {"a": np.ones((1, D + 1))})
    with pytest.raises(KeyError, match="b"):
        ood_scores(cal, {"b": pool})


def test_smoke_suite_passes_its_own_data_and_flags_photographs(smoke_suite):
    """The flag on a trained suite: unseen synthetic images mostly pass, photographs from
    skimage.data (resized to the suite's size) are flagged, and both scores beat the
    maximum-softmax baseline at telling them apart."""
    import skimage.data

    from dermviz.analysis.ood import fit_suite_ood, suite_embeddings
    from dermviz.data.images import resize_image
    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.predict import predict_proba

    size = smoke_suite.image_size
    models = {m: smoke_suite.load_model(m) for m in smoke_suite.member_ids}
    cal = fit_suite_ood(smoke_suite, model_loader=models.get)
    assert cal.members == tuple(smoke_suite.member_ids)
    assert len(cal.holdout_scores) == 16
    assert not is_unusual(cal, cal.holdout_scores).any()  # the calibration set passes
    # unseen images of the same generator: about 1/17 exceed the max of 16 calibration
    # scores by chance; allow a few
    fresh_data = make_synthetic(n_train=2, n_test=32, seed=1000)
    fresh = fresh_data.load_images(list(fresh_data.holdout["image_id"]), size=size)
    photos = np.stack([resize_image(getattr(skimage.data, name)(), size)
                       for name in ("astronaut", "coffee", "chelsea", "rocket")])
    s_fresh = ood_scores(cal, suite_embeddings(smoke_suite, fresh, model_loader=models.get))
    s_photo = ood_scores(cal, suite_embeddings(smoke_suite, photos, model_loader=models.get))
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
