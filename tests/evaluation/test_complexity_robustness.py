from __future__ import annotations

import numpy as np
import pytest

from dermviz.evaluation import AvgSensitivity, Complexity, MaxSensitivity, Sparseness
from tests.evaluation.toy import toy_images

IMAGES = toy_images(n=3)
N = 12 * 12


def one_hot() -> np.ndarray:
    maps = np.zeros((3, 12, 12))
    maps[:, 4, 7] = 2.5
    return maps


def test_sparseness_of_one_hot_is_the_gini_maximum_and_of_constant_zero():
    assert Sparseness.higher_is_better
    np.testing.assert_allclose(Sparseness()(None, IMAGES, one_hot()), (N - 1) / N)
    np.testing.assert_allclose(Sparseness()(None, IMAGES, np.full((3, 12, 12), 0.3)), 0.0,
                               atol=1e-12)
    random = np.random.default_rng(0).random((3, 12, 12))
    assert ((Sparseness()(None, IMAGES, random) > 0)
            & (Sparseness()(None, IMAGES, random) < (N - 1) / N)).all()


def test_sparseness_reads_the_absolute_map():
    maps = np.random.default_rng(1).normal(size=(3, 12, 12))
    np.testing.assert_allclose(Sparseness()(None, IMAGES, maps),
                               Sparseness()(None, IMAGES, np.abs(maps)))


def test_entropy_is_maximal_for_a_uniform_map_and_zero_for_one_hot():
    assert not Complexity.higher_is_better
    uniform = Complexity()(None, IMAGES, np.ones((3, 12, 12)))
    np.testing.assert_allclose(uniform, np.log(N))
    np.testing.assert_allclose(Complexity()(None, IMAGES, one_hot()), 0.0, atol=1e-12)
    random = np.random.default_rng(0).random((3, 12, 12))
    assert (Complexity()(None, IMAGES, random) < uniform).all()


def test_all_zero_maps_read_as_uniform():
    zeros = np.zeros((3, 12, 12))
    np.testing.assert_allclose(Sparseness()(None, IMAGES, zeros), 0.0)
    np.testing.assert_allclose(Complexity()(None, IMAGES, zeros), np.log(N))


@pytest.mark.parametrize("metric", [MaxSensitivity, AvgSensitivity])
def test_a_constant_explainer_has_zero_sensitivity(metric):
    constant = np.random.default_rng(2).random((12, 12))
    maps = np.broadcast_to(constant, (3, 12, 12))

    def explain_fn(images):
        return np.broadcast_to(constant, (len(images), 12, 12))

    scores = metric(n_samples=5)(None, IMAGES, maps, explain_fn=explain_fn)
    np.testing.assert_array_equal(scores, 0.0)


def test_an_image_explainer_is_sensitive_and_max_bounds_average():
    def explain_fn(images):
        return np.asarray(images, dtype=float).mean(axis=-1)

    maps = explain_fn(IMAGES)
    top = MaxSensitivity(n_samples=6, radius=0.05)(None, IMAGES, maps, explain_fn=explain_fn)
    mean = AvgSensitivity(n_samples=6, radius=0.05)(None, IMAGES, maps, explain_fn=explain_fn)
    assert (top > 0).all() and (top >= mean).all()
    # noise of at most 0.05 * 255 per pixel, maps of grey levels up to 255: a bounded change
    assert (top < 0.2).all()


def test_sensitivity_batches_the_explainer_and_needs_one():
    calls = []

    def explain_fn(images):
        calls.append(len(images))
        return np.zeros(images.shape[:3])

    MaxSensitivity(n_samples=5, batch_size=4)(None, IMAGES, np.zeros((3, 12, 12)),
                                              explain_fn=explain_fn)
    assert calls == [4, 4, 4, 3]
    with pytest.raises(ValueError, match="explain_fn"):
        MaxSensitivity()(None, IMAGES, np.zeros((3, 12, 12)))
