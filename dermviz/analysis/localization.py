"""How much of a saliency map falls on the lesion, against what chance would give.

``mass_in_mask`` is the share of a non-negative map's total mass inside the lesion
mask (higher = better localised). Chance is the mask's share of the image: a
uniform map scores exactly that. Because lesions sit near the image centre, a
plain centred Gaussian (:func:`centre_prior`) beats chance without looking at the
image, so it is reported beside every score (stack notes, last section).
"""

from __future__ import annotations

import numpy as np


def _check(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks)
    if maps.ndim == 2:
        maps, masks = maps[None], masks[None]
    if maps.shape != masks.shape or maps.ndim != 3:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must both be (n, H, W)")
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got {masks.dtype}")
    if (maps < 0).any():
        raise ValueError("maps must be non-negative (use |map| or its positive part for SHAP)")
    return maps, masks


def mass_in_mask(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's mass inside the mask, in [0, 1].

    Images whose map is all zero get NaN (no mass to place).
    """
    maps, masks = _check(maps, masks)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def mask_share(masks: np.ndarray) -> np.ndarray:
    """Per image, the mask's share of the image: the chance level of :func:`mass_in_mask`."""
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    return masks.mean(axis=(1, 2))


def centre_prior(shape: tuple[int, int], *, sigma_fraction: float = 0.25) -> np.ndarray:
    """A centred isotropic Gaussian map (max 1), the no-model localisation baseline."""
    if sigma_fraction <= 0:
        raise ValueError(f"sigma_fraction must be > 0, got {sigma_fraction}")
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    sigma = sigma_fraction * min(h, w)
    d2 = (ys - (h - 1) / 2) ** 2 + (xs - (w - 1) / 2) ** 2
    return np.exp(-d2 / (2 * sigma**2))
