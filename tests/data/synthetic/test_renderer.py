"""The renderer (dermviz.data.synthetic.renderer): images, lesion masks, classes, artefacts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dermviz.data.synthetic import ARTEFACT_NAMES, lesion_atypia, make_synthetic, render_lesion


def _irregularity(mask: np.ndarray) -> float:
    """perimeter^2 / (4 pi area) of the largest mask component (1 for a disc)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    return cv2.arcLength(c, True) ** 2 / (4 * np.pi * cv2.contourArea(c))


def _lesion_colour_std(image: np.ndarray, mask: np.ndarray) -> float:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[mask].astype(float)
    return float(lab.std(axis=0).mean())


def test_render_lesion_is_deterministic_and_returns_copies() -> None:
    img, mask = render_lesion(seed=42, label="mel", difficulty=0.3)
    img[:] = 0
    mask[:] = False
    again, again_mask = render_lesion(seed=42, label="mel", difficulty=0.3)
    assert again.any() and again_mask.any()


def test_images_and_masks_match() -> None:
    fractions, inside, outside = [], [], []
    for seed in range(24):
        label = "mel" if seed % 2 else "nv"
        img, mask = render_lesion(seed=seed, label=label, difficulty=0.5)
        assert img.dtype == np.uint8 and img.shape == (150, 200, 3)
        assert mask.dtype == bool and mask.shape == (150, 200)
        assert mask.any()
        fractions.append(mask.mean())
        # Compare against the skin just outside the lesion (the dark vignette is excluded).
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
        grey = img.mean(axis=2)
        inside.append(grey[mask].mean())
        outside.append(grey[ring].mean())
        assert grey[mask].mean() < grey[ring].mean(), seed
    assert 0.05 < min(fractions) and max(fractions) < 0.6
    assert 0.15 < np.mean(fractions) < 0.4
    assert np.mean(outside) - np.mean(inside) > 30


def test_native_size_is_respected() -> None:
    img, mask = render_lesion(seed=1, label="mel", difficulty=0.0, native_size=(64, 48))
    assert img.shape == (48, 64, 3) and mask.shape == (48, 64)
    ds = make_synthetic(n_train=2, n_test=2, native_size=(80, 60))
    row = ds.table.iloc[0]
    assert ds.source.read_image(row).shape == (60, 80, 3)
    assert ds.source.read_mask(row).shape == (60, 80)


def test_classes_differ_at_difficulty_zero() -> None:
    irr = {"mel": [], "nv": []}
    colour = {"mel": [], "nv": []}
    for label in ("mel", "nv"):
        for seed in range(20):
            img, mask = render_lesion(seed=seed, label=label, difficulty=0.0)
            irr[label].append(_irregularity(mask))
            colour[label].append(_lesion_colour_std(img, mask))
    # A smooth ellipse scores about 1.15 here (pixel contours), melanomas about 1.4.
    assert np.mean(irr["mel"]) - 1 > 2 * (np.mean(irr["nv"]) - 1)
    assert np.mean(colour["mel"]) > 1.5 * np.mean(colour["nv"])
    # At difficulty 0 the latent atypia separates the classes completely.
    mel = [lesion_atypia(seed=s, label="mel", difficulty=0.0) for s in range(50)]
    nv = [lesion_atypia(seed=s, label="nv", difficulty=0.0) for s in range(50)]
    assert min(mel) > max(nv)


@pytest.mark.parametrize("name", ARTEFACT_NAMES)
def test_artefact_changes_pixels_but_not_lesion(name: str) -> None:
    for seed in range(6):
        plain, mask = render_lesion(seed=seed, label="nv", difficulty=0.5)
        marked, mask2 = render_lesion(seed=seed, label="nv", difficulty=0.5, **{name: True})
        np.testing.assert_array_equal(mask, mask2)  # artefacts are not part of the mask
        changed = np.abs(plain.astype(int) - marked.astype(int)).max(axis=2) > 10
        assert changed.sum() > 50
        if name == "ink":  # ink is drawn around the lesion, not on it
            assert (changed & mask).sum() < 0.1 * changed.sum()
