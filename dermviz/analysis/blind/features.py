"""Named colour statistics of an image region: the features of the lesion-blind baselines.

For each of the six channels R, G, B (RGB) and H, S, V (HSV), all scaled to [0, 1], the
mean, standard deviation and 5th, 50th and 95th percentiles over the region's pixels:
30 features named ``<channel>_<statistic>`` (``r_mean``, ``h_p95``). Hue is treated as a
plain number, as a logistic regression would anyway.

Regions (:data:`REGIONS`):

- ``"whole"``: every pixel;
- ``"outside"``: the skin outside the lesion mask grown by a margin
  (:func:`dermviz.data.regions.dilate_masks`); where an image has no mask, outside a
  centred ellipse (:func:`dermviz.data.regions.centred_ellipse`), and the result says so;
- ``"lesion"``: inside the (ungrown) lesion mask, or inside the ellipse.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from dermviz.data.regions import (
    DEFAULT_ELLIPSE_FRACTION,
    DEFAULT_MARGIN_FRACTION,
    centred_ellipse,
    dilate_masks,
    margin_pixels,
)

__all__ = ["CHANNELS", "FEATURE_NAMES", "REGIONS", "STATISTICS", "colour_statistics",
           "region_features"]

CHANNELS = ("r", "g", "b", "h", "s", "v")
STATISTICS = ("mean", "std", "p5", "p50", "p95")
FEATURE_NAMES = tuple(f"{c}_{s}" for c in CHANNELS for s in STATISTICS)
REGIONS = ("whole", "outside", "lesion")
_PERCENTILES = (5, 50, 95)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}")
    return images


def colour_statistics(images: np.ndarray, regions: np.ndarray | None = None) -> pd.DataFrame:
    """The 30 colour statistics (:data:`FEATURE_NAMES`) of each image's region.

    Parameters
    ----------
    images : ndarray of uint8, (n, H, W, 3)
        RGB.
    regions : ndarray of bool, (n, H, W), optional
        The pixels to describe; None for whole images. An empty region gives NaN.

    Returns
    -------
    pandas.DataFrame
        One row per image, columns :data:`FEATURE_NAMES`.
    """
    images = _check_images(images)
    if regions is not None:
        regions = np.asarray(regions)
        if regions.shape != images.shape[:3]:
            raise ValueError(f"regions {regions.shape} do not match the images "
                             f"{images.shape[:3]}")
        regions = regions.astype(bool)
    rows = np.full((len(images), len(FEATURE_NAMES)), np.nan)
    for k, image in enumerate(images):
        rgb = image.astype(np.float32) / 255.0
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV) / np.array([360.0, 1.0, 1.0], np.float32)
        pixels = np.concatenate([rgb, hsv], axis=-1).reshape(-1, len(CHANNELS))
        if regions is not None:
            pixels = pixels[regions[k].ravel()]
        if not len(pixels):
            continue
        pixels = pixels.astype(np.float64)
        stats = np.stack([pixels.mean(axis=0), pixels.std(axis=0),
                          *np.percentile(pixels, _PERCENTILES, axis=0)], axis=1)
        rows[k] = stats.ravel()  # channel-major, as FEATURE_NAMES
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))


def region_features(images: np.ndarray, masks: np.ndarray | None = None, *,
                    has_mask: np.ndarray | None = None,
                    margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                    ellipse_fraction: float = DEFAULT_ELLIPSE_FRACTION) -> dict:
    """Colour statistics of the whole image, the skin outside the lesion and the lesion.

    Parameters
    ----------
    images : ndarray of uint8, (n, H, W, 3)
    masks : ndarray of bool, (n, H, W), optional
        Lesion masks; None when the data set has none.
    has_mask : ndarray of bool, (n,), optional
        Which images' masks are real; the others (and all, when ``masks`` is None) use the
        centred ellipse. Default: every mask is real.
    margin_fraction : float, default 0.05
        The margin the lesion mask is grown by before taking the outside, as a fraction of
        the shorter side (:func:`dermviz.data.regions.margin_pixels`).
    ellipse_fraction : float, default 0.7
        The stand-in ellipse's axes, as a fraction of the image's height and width.

    Returns
    -------
    dict
        Plain arrays, so the result caches as is: ``"whole"``, ``"outside"``, ``"lesion"``
        (float64 (n, 30), columns :data:`FEATURE_NAMES`), ``"feature_names"`` (list),
        ``"uses_ellipse"`` (bool (n,): no mask, the ellipse stood in), ``"empty_outside"``
        (bool (n,): the grown lesion covers the image, so its outside row is NaN),
        ``"margin_pixels"`` and ``"ellipse_fraction"``.
    """
    images = _check_images(images)
    n, height, width = images.shape[:3]
    if masks is None:
        lesion = np.zeros((n, height, width), dtype=bool)
        real = np.zeros(n, dtype=bool)
    else:
        lesion = np.asarray(masks)
        if lesion.shape != (n, height, width):
            raise ValueError(f"masks {lesion.shape} do not match the images {(n, height, width)}")
        lesion = lesion.astype(bool)
        real = np.ones(n, dtype=bool) if has_mask is None else np.asarray(has_mask, dtype=bool)
        if real.shape != (n,):
            raise ValueError(f"has_mask must have shape ({n},), got {real.shape}")
    ellipse = centred_ellipse(height, width, fraction=ellipse_fraction)
    lesion = np.where(real[:, None, None], lesion, ellipse[None])
    margin = margin_pixels((height, width), fraction=margin_fraction)
    outside = ~dilate_masks(lesion, pixels=margin)
    return {
        "whole": colour_statistics(images).to_numpy(),
        "outside": colour_statistics(images, outside).to_numpy(),
        "lesion": colour_statistics(images, lesion).to_numpy(),
        "feature_names": list(FEATURE_NAMES),
        "uses_ellipse": ~real,
        "empty_outside": ~outside.any(axis=(1, 2)),
        "margin_pixels": int(margin),
        "ellipse_fraction": float(ellipse_fraction),
    }
