"""Similarity measures (the paper's SSIM on overlays included), baselines and stage metrics."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.overlay import render_paper_overlay
from dermviz.sanity import (
    SIMILARITIES,
    edge_map,
    mean_abs_successive_change,
    normalise_signed,
    random_map,
    register_similarity,
    spearman,
    ssim_maps,
    ssim_paper_overlay,
    ssim_to_original_curve,
)
from dermviz.sanity import similarity as similarity_module
from tests.helpers import blob_map, patch_image


@pytest.fixture
def blob() -> np.ndarray:
    return blob_map()


@pytest.fixture
def image() -> np.ndarray:
    return patch_image()


def test_ssim_of_a_map_with_itself_is_one(blob):
    assert ssim_maps(blob, blob) == pytest.approx(1.0)
    assert ssim_maps(blob, blob.T) < 0.9
    assert ssim_maps(np.zeros_like(blob), np.zeros_like(blob)) == pytest.approx(1.0)


def test_ssim_refuses_to_guess_the_range(blob):
    with pytest.raises(ValueError, match="outside"):
        ssim_maps(blob * 3, blob)
    with pytest.raises(ValueError, match="outside"):
        ssim_maps(blob - 0.5, blob)
    with pytest.raises(ValueError, match="shape"):
        ssim_maps(blob, blob[:-1])
    assert ssim_maps(blob * 3, blob * 3, data_range=3.0) == pytest.approx(1.0)
    # The explicit range matters: the same pair scores differently.
    noisy = np.clip(blob + 0.05, 0, 1)
    assert ssim_maps(blob, noisy, data_range=1.0) != ssim_maps(blob, noisy, data_range=2.0)


def test_normalise_signed():
    m = np.array([[-2.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(normalise_signed(m, 2.0), [[0.0, 0.5], [0.75, 1.0]])
    np.testing.assert_allclose(normalise_signed(m, 4.0), [[0.25, 0.5], [0.625, 0.75]])
    np.testing.assert_array_equal(normalise_signed(np.zeros((2, 2)), 0.0), 0.5)
    with pytest.raises(ValueError, match="smaller"):
        normalise_signed(m, 1.0)


def test_spearman(blob):
    assert spearman(blob, blob) == pytest.approx(1.0)
    assert spearman(blob, -blob) == pytest.approx(-1.0)
    assert spearman(blob, -blob, absolute=True) == pytest.approx(1.0)
    assert spearman(blob, np.sqrt(blob) * 10) == pytest.approx(1.0)  # ranks only
    noise = random_map(blob.shape, seed=0)
    assert abs(spearman(blob, noise)) < 0.1
    assert np.isnan(spearman(blob, np.zeros_like(blob)))


def test_paper_ssim_on_overlays(image, blob):
    a = render_paper_overlay(image, blob, "gradcam")
    b = render_paper_overlay(image, blob.T, "gradcam")
    assert ssim_paper_overlay(a, a) == pytest.approx(1.0)
    s_rgba, s_rgb = ssim_paper_overlay(a, b), ssim_paper_overlay(a, b, rgb_only=True)
    # The constant alpha channel scores 1: RGBA = (3 RGB + 1) / 4 (docs/protocol.md §14.13).
    assert s_rgba == pytest.approx((3 * s_rgb + 1) / 4)
    # The photograph dominates: the overlay SSIM is far higher than the raw-map SSIM.
    assert s_rgba > ssim_maps(blob, blob.T)
    with pytest.raises(ValueError, match="uint8"):
        ssim_paper_overlay(a.astype(float), b.astype(float))


def test_registry(image, blob):
    assert {"ssim", "spearman", "spearman_abs", "ssim_paper", "ssim_paper_rgb"} <= set(SIMILARITIES)
    for name, fn in SIMILARITIES.items():
        assert fn(blob, blob, image=image, signed=False) == pytest.approx(1.0), name
    signed = blob - blob.mean()
    assert SIMILARITIES["ssim"](signed, signed, image=image, signed=True) == pytest.approx(1.0)
    assert SIMILARITIES["ssim"](signed, -signed, image=image, signed=True) < 0.5

    @register_similarity("test_neg_mse")
    def neg_mse(a, b, *, image=None, signed=False):
        return -float(np.mean((a - b) ** 2))

    try:
        assert SIMILARITIES["test_neg_mse"](blob, blob, image=image, signed=False) == 0.0
        with pytest.raises(ValueError, match="already"):
            register_similarity("test_neg_mse")(lambda a, b, **k: 0.0)
    finally:
        del similarity_module.SIMILARITIES["test_neg_mse"]


def test_stage_metrics(blob):
    maps = np.stack([blob, blob * 0.9, blob.T, np.zeros_like(blob)])
    curve = ssim_to_original_curve(maps)
    assert curve.shape == (4,) and curve[0] == pytest.approx(1.0)
    assert curve[2] < curve[1]
    batch = ssim_to_original_curve(np.stack([maps, maps], axis=1))
    assert batch.shape == (4, 2)
    np.testing.assert_allclose(batch[:, 0], curve)
    # The paper's metric: successive absolute changes, averaged over images.
    scores = np.array([[1.0, 1.0], [0.7, 0.9], [0.8, 0.6]])
    np.testing.assert_allclose(mean_abs_successive_change(scores), [0.2, 0.2])
    np.testing.assert_allclose(mean_abs_successive_change([1.0, 0.768, 0.76]), [0.232, 0.008])


def test_baselines(image):
    r1, r2 = random_map((48, 48), seed=1), random_map((48, 48), seed=1)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(r1, random_map((48, 48), seed=2))
    assert 0 <= r1.min() and r1.max() < 1 and r1.dtype == np.float32
    assert random_map((8, 8), seed=0, signed=True).min() < 0
    edges = edge_map(image)
    assert edges.shape == (48, 48) and edges.min() >= 0 and edges.max() == pytest.approx(1.0)
    # Strongest on the dark square's border, weak inside it.
    assert edges[10, 20:30].mean() > 5 * edges[15:25, 20:30].mean()
    np.testing.assert_array_equal(edge_map(np.full((8, 8, 3), 100, np.uint8)), 0.0)
