from __future__ import annotations

import numpy as np
import pytest

from dermviz.evaluation import (
    IROF,
    ROAD,
    Deletion,
    FaithfulnessCorrelation,
    Insertion,
    noisy_linear_impute,
)
from dermviz.evaluation.faithfulness import feature_ranks, patch_labels
from tests.evaluation.toy import linear_model, toy_images, toy_weights, true_maps

W = toy_weights()
IMAGES = toy_images()
TRUE = true_maps(W, IMAGES)  # against the black image: the deletion/insertion fill
RANDOM = np.random.default_rng(5).normal(size=TRUE.shape)


@pytest.mark.parametrize("patch", [1, 2])
def test_deletion_ranks_true_map_best_negation_worst_random_between(patch):
    metric = Deletion(n_steps=20, patch=patch, replacement="black")
    assert not metric.higher_is_better
    model = linear_model(W)
    true, neg, rnd = (metric(model, IMAGES, m) for m in (TRUE, -TRUE, RANDOM))
    assert (true < rnd).all() and (rnd < neg).all()


@pytest.mark.parametrize("patch", [1, 2])
def test_insertion_ranks_true_map_best_negation_worst_random_between(patch):
    metric = Insertion(n_steps=20, patch=patch, replacement="black")
    assert metric.higher_is_better
    model = linear_model(W)
    true, neg, rnd = (metric(model, IMAGES, m) for m in (TRUE, -TRUE, RANDOM))
    assert (true > rnd).all() and (rnd > neg).all()


def test_deletion_curve_removes_top_features_exactly():
    model = linear_model(W)
    metric = Deletion(n_steps=144, patch=1, replacement="black")
    curve = metric.curves(model, IMAGES[:1], TRUE[:1])[0]
    attributions = np.sort(TRUE[0].ravel())[::-1] / 255.0
    expected = model(IMAGES[:1])[0] - np.concatenate([[0.0], np.cumsum(attributions)])
    np.testing.assert_allclose(curve, expected, atol=1e-9)
    assert curve[-1] == pytest.approx(0.0)  # everything removed: the black image


def test_lerf_reverses_the_direction():
    model = linear_model(W)
    lerf = Deletion(order="lerf", patch=1, replacement="black")
    assert lerf.higher_is_better and not Insertion(order="lerf").higher_is_better
    assert (lerf(model, IMAGES, TRUE) > lerf(model, IMAGES, -TRUE)).all()


def test_given_superpixel_labels_are_used():
    model = linear_model(W)
    labels = np.broadcast_to(patch_labels((12, 12), 3), TRUE.shape).astype(np.int64)
    metric = Deletion(replacement="black")
    with_labels = metric(model, IMAGES, TRUE, labels=labels)
    assert np.allclose(with_labels, Deletion(replacement="black", patch=3)(model, IMAGES, TRUE))
    assert not np.allclose(with_labels, metric(model, IMAGES, TRUE))


def test_superpixel_features_run_slic():
    metric = Deletion(features="superpixels", n_segments=8, n_steps=4)
    scores = metric(linear_model(W), IMAGES[:2], TRUE[:2])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_every_step_goes_through_full_batches():
    calls = []
    model = linear_model(W)

    def counting(images):
        calls.append(len(images))
        return model(images)

    Deletion(n_steps=20, batch_size=16)(counting, IMAGES, TRUE)
    total = len(IMAGES) * 21
    assert sum(calls) == total and len(calls) == -(-total // 16)
    assert all(c == 16 for c in calls[:-1])


def test_feature_ranks_order_by_mean_relevance():
    saliency = np.array([[1.0, 5.0], [3.0, 2.0]])
    labels = np.array([[0, 1], [2, 3]])
    np.testing.assert_array_equal(feature_ranks(saliency, labels, order="morf"), [[3, 0], [1, 2]])
    np.testing.assert_array_equal(feature_ranks(saliency, labels, order="lerf"), [[0, 3], [2, 1]])


def test_feature_ranks_order_ties_at_random_and_keep_the_rest_in_order():
    saliency = np.zeros((4, 4))
    saliency[3, 3] = 1.0  # one peak; the 15 other pixels tie at zero (a ReLU'd GradCAM)
    labels = patch_labels((4, 4), 1)
    assert feature_ranks(saliency, labels, order="morf").ravel().tolist() == \
        [*range(1, 16), 0]  # without a generator: ties in label order
    orders = set()
    for seed in range(10):
        ranks = feature_ranks(saliency, labels, order="morf",
                              rng=np.random.default_rng(seed))
        assert ranks[3, 3] == 0 and sorted(ranks.ravel()) == list(range(16))
        orders.add(ranks.tobytes())
    assert len(orders) > 1


def test_a_flat_maps_deletion_curve_does_not_depend_on_where_the_evidence_lies():
    """A flat map ranks nothing: its curve should be a random order's, wherever the model
    looks. In label (raster) order it removed the top rows first: a model that reads the
    bottom half kept p = 1 for half the curve (area about 0.75, not 0.5)."""
    images = np.full((20, 16, 16, 3), 255.0)

    def bottom_half(batch: np.ndarray) -> np.ndarray:
        return (batch[:, 8:, :, 0] > 0).mean(axis=(1, 2))

    flat = np.zeros((20, 16, 16))
    metric = Deletion(n_steps=16, patch=4, replacement="black")
    area = metric(bottom_half, images, flat).mean()
    assert area == pytest.approx(0.5, abs=0.05)


def test_faithfulness_correlation_is_one_for_the_true_map():
    metric = FaithfulnessCorrelation(n_runs=20, subset_size=10, replacement="black")
    model = linear_model(W)
    np.testing.assert_allclose(metric(model, IMAGES, TRUE), 1.0)
    np.testing.assert_allclose(metric(model, IMAGES, -TRUE), -1.0)
    assert (np.abs(metric(model, IMAGES, RANDOM)) < 0.9).all()


def test_irof_ranks_true_map_best_negation_worst():
    model = linear_model(W, sigmoid=True)
    means = IMAGES.astype(float).mean(axis=(1, 2), keepdims=True)
    true = true_maps(W, IMAGES, means)  # against the mean colour: IROF's fill
    labels = np.broadcast_to(patch_labels((12, 12), 2), true.shape).astype(np.int64)
    metric = IROF()
    assert metric.higher_is_better
    scores = [metric(model, IMAGES, m, labels=labels) for m in (true, RANDOM, -true)]
    assert (scores[0] > scores[1]).all() and (scores[1] > scores[2]).all()


def test_road_imputation_of_a_3x3_centre_by_hand():
    image = np.zeros((3, 3, 3))
    image[..., 0] = [[1, 2, 3], [4, 99, 6], [7, 8, 9]]
    image[..., 1] = 10.0
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    filled = noisy_linear_impute(image, mask)
    # direct neighbours 2, 4, 6, 8 weigh 1/6, diagonal 1/12: (2 * 20 + 20) / 12 = 5
    assert filled[1, 1, 0] == pytest.approx((2 * (2 + 4 + 6 + 8) + (1 + 3 + 7 + 9)) / 12)
    assert filled[1, 1, 1] == pytest.approx(10.0) and filled[1, 1, 2] == pytest.approx(0.0)
    np.testing.assert_array_equal(filled[~mask], image[~mask])


def test_road_imputation_of_a_masked_block_solves_the_coupled_system():
    image = np.zeros((3, 4, 3))
    image[..., 0] = [[0, 0, 0, 0], [12, 0, 0, 24], [0, 0, 0, 0]]
    mask = np.zeros((3, 4), bool)
    mask[1, 1:3] = True
    filled = noisy_linear_impute(image, mask)[1, 1:3, 0]
    # a = 12/6 + b/6 and b = 24/6 + a/6 (all other neighbours 0): a = 96/35, b = 156/35
    np.testing.assert_allclose(filled, [96 / 35, 156 / 35])


def test_road_imputation_noise_and_refusals():
    image = np.full((5, 5, 3), 100.0)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    np.testing.assert_allclose(noisy_linear_impute(image, mask), 100.0)
    noisy = noisy_linear_impute(image, mask, noise=0.01, rng=np.random.default_rng(0))
    assert not np.allclose(noisy[mask], 100.0) and np.allclose(noisy[~mask], 100.0)
    with pytest.raises(ValueError, match="rng"):
        noisy_linear_impute(image, mask, noise=0.01)
    with pytest.raises(ValueError, match="fully masked"):
        noisy_linear_impute(image, np.ones((5, 5), bool))


def test_road_scores_with_imputation_and_prefers_the_true_map():
    model = linear_model(W)
    metric = ROAD(percentages=(0, 20, 40, 60), noise=0.0)
    assert not metric.higher_is_better and metric.params()["replacement"] == "impute"
    curves = metric.curves(model, IMAGES, TRUE)
    np.testing.assert_allclose(curves[:, 0], model(IMAGES))
    assert (metric(model, IMAGES, TRUE).mean() < metric(model, IMAGES, -TRUE).mean())


def test_params_are_plain_and_name_the_replacement():
    params = Insertion(blur_sigma=3.0).params()
    assert params == {"metric": "insertion", "n_steps": 20, "order": "morf",
                      "features": "patches", "patch": 8, "n_segments": 100,
                      "replacement": "blur", "blur_sigma": 3.0, "batch_size": 64}
    assert Deletion().params() != Deletion(replacement="mean").params()
