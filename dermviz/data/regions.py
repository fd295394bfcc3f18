"""Image regions around a lesion: the grown lesion mask and its stand-in without a mask.

What lies *outside the lesion* is the skin, the vignette, rulers, ink and the camera's
look; a classifier that scores well from there alone has found a shortcut
(docs/confounders.md). The lesion mask is grown by a margin first, so its rim (which
segmentations draw tightly) does not count as skin. Where an image has no mask, a centred
ellipse stands in for the lesion, since dermoscopy centres the lesion.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["DEFAULT_ELLIPSE_FRACTION", "DEFAULT_MARGIN_FRACTION", "centred_ellipse",
           "dilate_masks", "margin_pixels"]

#: The margin added around a lesion mask, as a fraction of the image's shorter side.
DEFAULT_MARGIN_FRACTION = 0.05

#: The stand-in lesion's axes, as a fraction of the image's height and width.
DEFAULT_ELLIPSE_FRACTION = 0.7


def margin_pixels(shape: tuple[int, ...], *, fraction: float = DEFAULT_MARGIN_FRACTION) -> int:
    """The margin in pixels for an image of ``shape`` ((H, W, ...)): ``fraction`` of its
    shorter side, rounded, at least 1 when ``fraction`` > 0."""
    if not 0 <= fraction < 0.5:
        raise ValueError(f"fraction must be in [0, 0.5), got {fraction}")
    if fraction == 0:
        return 0
    return max(1, round(fraction * min(shape[0], shape[1])))


def dilate_masks(masks: np.ndarray, *, pixels: int) -> np.ndarray:
    """Grow boolean masks by ``pixels`` in every direction (a square structuring element).

    Parameters
    ----------
    masks : ndarray of bool, (H, W) or (n, H, W)
    pixels : int
        The margin; 0 returns a copy.

    Returns
    -------
    ndarray of bool, the shape of ``masks``
    """
    masks = np.asarray(masks)
    if masks.ndim not in (2, 3):
        raise ValueError(f"masks must be (H, W) or (n, H, W), got shape {masks.shape}")
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise ValueError(f"pixels must be an integer >= 0, got {pixels!r}")
    masks = masks.astype(bool)
    if pixels == 0:
        return masks.copy()
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    if masks.ndim == 2:
        return cv2.dilate(masks.astype(np.uint8), kernel) > 0
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])


def centred_ellipse(height: int, width: int, *,
                    fraction: float = DEFAULT_ELLIPSE_FRACTION) -> np.ndarray:
    """A centred, axis-aligned filled ellipse whose axes are ``fraction`` of the image's
    height and width: the lesion's stand-in where there is no mask.

    Returns
    -------
    ndarray of bool, (height, width)
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rows = (np.arange(height) + 0.5 - height / 2) / (fraction * height / 2)
    cols = (np.arange(width) + 0.5 - width / 2) / (fraction * width / 2)
    return rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0
