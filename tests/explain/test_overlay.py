"""Overlay rendering helpers (dermviz.explain.overlay), the paper's figures included."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.overlay import (
    CAM_COLORMAPS,
    PAPER_NEGATIVE,
    PAPER_POSITIVE,
    cam_overlay,
    colormap_lut,
    diverging_lut,
    diverging_overlay,
    per_image_vmax,
    render_paper_overlay,
    shared_vmax,
)
from tests.helpers import blob_map, patch_image


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)


def test_colormap_luts():
    for name in ("inferno", "viridis", "jet"):
        assert name in CAM_COLORMAPS
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    inferno = colormap_lut("inferno").astype(int)
    # inferno runs from near black to pale yellow, and is RGB (not OpenCV's BGR)
    assert inferno[0].sum() < 30 and inferno[255].sum() > 600
    assert inferno[255, 0] > inferno[255, 2]  # yellow: more red than blue
    assert colormap_lut("Inferno") is not None
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("no-such-map")
    div = diverging_lut().astype(int)
    assert div[0, 2] > div[0, 0]  # most negative: blue
    assert div[255, 0] > div[255, 2]  # most positive: red
    assert (div[127:129] > 235).all()  # zero: near white


def test_cam_overlay_shapes_values_and_alpha(image):
    cam = np.linspace(0, 1, image.shape[0] * image.shape[1]).reshape(image.shape[:2])
    out = cam_overlay(image, cam, alpha=0.5)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(cam_overlay(image, cam, alpha=0.0), image)
    full = cam_overlay(image, cam, alpha=1.0, cmap="viridis")
    lut = colormap_lut("viridis")
    np.testing.assert_array_equal(full, lut[np.rint(cam * 255).astype(int)])
    expected = np.rint(0.5 * image + 0.5 * colormap_lut("inferno")[np.rint(cam * 255).astype(int)])
    np.testing.assert_allclose(out, expected, atol=1)
    # float images in [0, 255] are accepted
    np.testing.assert_array_equal(cam_overlay(image.astype(np.float64), cam), out)


def test_cam_overlay_errors(image):
    cam = np.zeros(image.shape[:2])
    with pytest.raises(ValueError, match="shape"):
        cam_overlay(image, np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cam_overlay(image, cam + 2)
    with pytest.raises(ValueError, match="NaN"):
        cam_overlay(image, np.full(image.shape[:2], np.nan))
    with pytest.raises(ValueError, match="alpha"):
        cam_overlay(image, cam, alpha=1.5)
    with pytest.raises(ValueError, match="RGB"):
        cam_overlay(image[..., 0], cam)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        cam_overlay(image.astype(float) + 300, cam)
    with pytest.raises(ValueError, match="unknown colormap"):
        cam_overlay(image, cam, cmap="nope")


def test_diverging_paper_scheme(image):
    grey = np.full((2, 3, 3), 128, np.uint8)
    values = np.array([[0.0, 1.0, -1.0], [0.5, -0.5, 5.0]])
    out = diverging_overlay(grey, values, vmax=1.0, alpha=1.0, scheme="paper")
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [128, 128, 128])  # zero: image untouched
    np.testing.assert_array_equal(out[0, 1], PAPER_POSITIVE)  # +vmax: full green
    np.testing.assert_array_equal(out[0, 2], PAPER_NEGATIVE)  # -vmax: full red
    np.testing.assert_array_equal(out[1, 2], PAPER_POSITIVE)  # beyond vmax saturates
    half = np.rint(0.5 * 128 + 0.5 * np.asarray(PAPER_POSITIVE))
    np.testing.assert_array_equal(out[1, 0], half)  # opacity ramps with |value|
    # symmetric limits: +v and -v get the same opacity, mirrored colours
    pos = diverging_overlay(grey, np.full((2, 3), 0.3), vmax=1.0, alpha=0.6)
    neg = diverging_overlay(grey, np.full((2, 3), -0.3), vmax=1.0, alpha=0.6)
    a = 0.6 * 0.3
    np.testing.assert_allclose(pos[0, 0], (1 - a) * 128 + a * np.asarray(PAPER_POSITIVE), atol=1)
    np.testing.assert_allclose(neg[0, 0], (1 - a) * 128 + a * np.asarray(PAPER_NEGATIVE), atol=1)
    # a larger vmax washes the same map out
    strong = diverging_overlay(image, np.ones(image.shape[:2]), vmax=1.0)
    weak = diverging_overlay(image, np.ones(image.shape[:2]), vmax=4.0)
    green = np.asarray(PAPER_POSITIVE)
    assert np.abs(strong.astype(int) - green).sum() < np.abs(weak.astype(int) - green).sum()


def test_diverging_perceptual_scheme():
    grey = np.full((1, 3, 3), 128, np.uint8)
    values = np.array([[-2.0, 0.0, 2.0]])
    out = diverging_overlay(grey, values, vmax=2.0, alpha=1.0, scheme="perceptual")
    lut = diverging_lut()
    np.testing.assert_array_equal(out[0, 0], lut[0])
    np.testing.assert_array_equal(out[0, 2], lut[255])
    assert (out[0, 1] > 235).all()  # zero maps to (near) white
    assert out[0, 0, 2] > out[0, 0, 0] and out[0, 2, 0] > out[0, 2, 2]
    blended = diverging_overlay(grey, values, vmax=2.0, alpha=0.25, scheme="perceptual")
    np.testing.assert_allclose(blended[0, 0], 0.75 * 128 + 0.25 * lut[0].astype(float), atol=1)


def test_diverging_errors(image):
    values = np.zeros(image.shape[:2])
    for vmax in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="vmax"):
            diverging_overlay(image, values, vmax=vmax)
    with pytest.raises(ValueError, match="shape"):
        diverging_overlay(image, values.T, vmax=1.0)
    with pytest.raises(ValueError, match="NaN"):
        diverging_overlay(image, np.full(image.shape[:2], np.nan), vmax=1.0)
    with pytest.raises(ValueError, match="scheme"):
        diverging_overlay(image, values, vmax=1.0, scheme="rainbow")
    with pytest.raises(ValueError, match="alpha"):
        diverging_overlay(image, values, vmax=1.0, alpha=-0.1)


def test_vmax_helpers():
    a = np.array([[0.1, -0.4], [0.2, 0.0]])
    b = np.array([0.3, np.nan, -0.05])  # padded shap_values rows carry NaN
    assert per_image_vmax(a) == pytest.approx(0.4)
    assert per_image_vmax(b) == pytest.approx(0.3)
    assert shared_vmax([a, b]) == pytest.approx(0.4)
    assert shared_vmax([b, 2 * b]) == pytest.approx(0.6)
    assert shared_vmax(m for m in (a, b)) == pytest.approx(0.4)  # any iterable
    assert shared_vmax([np.zeros((2, 2))]) == 1.0  # all zero: full scale, no failure
    with pytest.raises(ValueError, match="no finite"):
        shared_vmax([])
    with pytest.raises(ValueError, match="no finite"):
        shared_vmax([np.full(3, np.nan)])
    with pytest.raises(ValueError, match="infinite"):
        shared_vmax([np.array([1.0, np.inf])])


def test_outline_mask_draws_the_border_only():
    from dermviz.explain.overlay import outline_mask

    img = np.full((9, 9, 3), 100, np.uint8)
    mask = np.zeros((9, 9), bool)
    mask[2:7, 2:7] = True
    out = outline_mask(img, mask, colour=(1, 2, 3))
    edge = (out == (1, 2, 3)).all(axis=-1)
    expected = mask.copy()
    expected[3:6, 3:6] = False  # the 5x5 square's 16 border pixels
    np.testing.assert_array_equal(edge, expected)
    assert (out[~edge] == 100).all() and (img == 100).all()  # the input is untouched
    thick = (outline_mask(img, mask, colour=(1, 2, 3), thickness=2) == (1, 2, 3)).all(-1)
    assert thick.sum() == 25 - 1  # all but the centre
    full = np.ones((9, 9), bool)  # touching the image border is not an edge
    assert not (outline_mask(img, full, colour=(1, 2, 3)) == (1, 2, 3)).all(-1).any()
    with pytest.raises(ValueError, match="boolean"):
        outline_mask(img, mask.astype(int))
    with pytest.raises(ValueError, match="shape"):
        outline_mask(img, mask[:5])
    with pytest.raises(ValueError, match="thickness"):
        outline_mask(img, mask, thickness=0)


# --------------------------------------------------------------------------- the paper's figures


@pytest.fixture
def paper_image() -> np.ndarray:
    return patch_image()


@pytest.fixture
def blob() -> np.ndarray:
    return blob_map()


def test_gradcam_overlay_matches_the_paper_style(paper_image, blob):
    rgba = render_paper_overlay(paper_image, blob, "gradcam")
    assert rgba.dtype == np.uint8 and rgba.shape == (48, 48, 4)
    assert (rgba[..., 3] == 255).all()
    # A zero map is jet(0) = dark blue (0, 0, 0.5) at alpha 0.5 over the image.
    flat = render_paper_overlay(paper_image, np.zeros(blob.shape), "gradcam")
    expected = np.round(0.5 * paper_image + 0.5 * np.array([0, 0, 128])).astype(np.uint8)
    assert np.abs(flat[..., :3].astype(int) - expected).max() <= 1
    # The peak is jet(1) = dark red (0.5, 0, 0).
    peak = np.unravel_index(np.argmax(blob), blob.shape)
    full = np.ones(blob.shape)
    red = render_paper_overlay(paper_image, full, "gradcam")[peak]
    assert np.abs(red[:3].astype(int) - np.round(0.5 * paper_image[peak] + [64, 0, 0])).max() <= 1
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        render_paper_overlay(paper_image, blob * 2, "gradcam")


def test_shap_overlay_matches_the_paper_style(paper_image):
    values = np.zeros((48, 48))
    values[0, 0], values[0, 1] = 1.0, -1.0
    rgba = render_paper_overlay(paper_image, values, "kernelshap")
    assert (rgba[..., 3] == 255).all()
    base = np.round(0.8 * paper_image.astype(float) + 0.2 * 255)
    assert np.abs(rgba[5, 5, :3] - base[5, 5]).max() <= 1  # zero: paper_image at alpha 0.8
    np.testing.assert_array_equal(rgba[0, 0, :3], [24, 196, 93])  # +max: opaque green
    np.testing.assert_array_equal(rgba[0, 1, :3], [245, 39, 87])  # -max: opaque red
    with pytest.raises(ValueError, match="no paper rendering"):
        render_paper_overlay(paper_image, values, "lime")


def test_paper_overlay_checks_its_inputs(paper_image, blob):
    with pytest.raises(ValueError, match="uint8"):
        render_paper_overlay(paper_image.astype(np.float32), blob, "gradcam")
    with pytest.raises(ValueError, match="shape"):
        render_paper_overlay(paper_image, blob[:-1], "gradcam")
    holed = blob.copy()
    holed[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        render_paper_overlay(paper_image, holed, "kernelshap")
    # The same rendering under the sanity package's name (its overlay SSIM uses it).
    from dermviz.sanity import render_paper_overlay as from_sanity

    assert from_sanity is render_paper_overlay
