"""Counterfactual images: the lesion removed, or the lesion on another image's skin.

A classifier that calls melanoma from the skin, the vignette or the camera's look keeps
its verdict when the lesion is gone (:func:`remove_lesion`), and changes it when the same
lesion sits on skin taken from another image (:func:`replace_surround`). Both act on the
lesion mask grown by a margin (:func:`dermviz.data.regions.dilate_masks`), so the lesion's
rim goes with it. No model is involved; see docs/confounders.md.

References
----------
.. [1] Telea, "An image inpainting technique based on the fast marching method",
   Journal of Graphics Tools 9(1), 2004.
.. [2] Bertalmio, Bertozzi and Sapiro, "Navier-Stokes, fluid dynamics, and image and video
   inpainting", CVPR 2001.
.. [3] Bissoto et al., "(De)Constructing Bias on Skin Lesion Datasets", CVPR Workshops 2019.
"""

from __future__ import annotations

import cv2
import numpy as np

from dermviz.data.regions import DEFAULT_MARGIN_FRACTION, dilate_masks, margin_pixels

__all__ = ["INPAINT_METHODS", "inpaint_region", "other_class_donors", "remove_lesion",
           "replace_surround"]

#: OpenCV's inpainting methods by name: Telea's fast marching, and Navier-Stokes.
INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}

#: The inpainting neighbourhood, as a fraction of the image's shorter side.
DEFAULT_RADIUS_FRACTION = 0.05


def _check_batch(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, H, W, 3), got {images.dtype} {images.shape}")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks {masks.shape} do not match the images {images.shape[:3]}")
    return images, masks.astype(bool)


def inpaint_region(image: np.ndarray, region: np.ndarray, *, radius: int,
                   method: str = "telea") -> np.ndarray:
    """Fill ``region`` of one image from the pixels around it (OpenCV inpainting).

    Parameters
    ----------
    image : ndarray of uint8, (H, W, 3)
    region : ndarray of bool, (H, W)
        The pixels to replace.
    radius : int
        The neighbourhood each filled pixel draws on, >= 1.
    method : {"telea", "ns"}
        Telea's fast marching method, or Navier-Stokes.

    Returns
    -------
    ndarray of uint8, (H, W, 3)
    """
    image, region = np.asarray(image), np.asarray(region)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if region.shape != image.shape[:2]:
        raise ValueError(f"region {region.shape} does not match the image {image.shape[:2]}")
    if method not in INPAINT_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(INPAINT_METHODS)}")
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    return cv2.inpaint(np.ascontiguousarray(image), region.astype(np.uint8), int(radius),
                       INPAINT_METHODS[method])


def remove_lesion(images: np.ndarray, masks: np.ndarray, *, method: str = "telea",
                  margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                  radius_fraction: float = DEFAULT_RADIUS_FRACTION) -> np.ndarray:
    """Images with the lesion inpainted away from the surrounding skin.

    Parameters
    ----------
    images : ndarray of uint8, (n, H, W, 3)
    masks : ndarray of bool, (n, H, W)
        The lesion masks; each is grown by the margin before inpainting.
    method : {"telea", "ns"}, default "telea"
        OpenCV's inpainting method (:data:`INPAINT_METHODS`).
    margin_fraction : float, default 0.05
        The margin added around each mask, as a fraction of the shorter side.
    radius_fraction : float, default 0.05
        The inpainting radius, as a fraction of the shorter side (at least 1 pixel).

    Returns
    -------
    ndarray of uint8, (n, H, W, 3)
        Pixels outside the grown masks are unchanged. An image whose grown mask covers it
        entirely has no skin to draw on and comes back unchanged.
    """
    images, masks = _check_batch(images, masks)
    if not 0 < radius_fraction < 0.5:
        raise ValueError(f"radius_fraction must be in (0, 0.5), got {radius_fraction}")
    regions = dilate_masks(masks, pixels=margin_pixels(images.shape[1:3],
                                                       fraction=margin_fraction))
    radius = max(1, round(radius_fraction * min(images.shape[1:3])))
    out = images.copy()
    for k, (image, region) in enumerate(zip(images, regions, strict=True)):
        if region.any() and not region.all():
            out[k] = inpaint_region(image, region, radius=radius, method=method)
    return out


def replace_surround(images: np.ndarray, masks: np.ndarray, donors: np.ndarray,
                     donor_masks: np.ndarray | None = None, *, method: str = "telea",
                     margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                     radius_fraction: float = DEFAULT_RADIUS_FRACTION) -> np.ndarray:
    """Each image's lesion pasted onto the skin of a donor image.

    The donors' own lesions are first inpainted away (:func:`remove_lesion`) when
    ``donor_masks`` is given; then the pixels inside each image's grown mask are copied
    onto its donor.

    Parameters
    ----------
    images : ndarray of uint8, (n, H, W, 3)
    masks : ndarray of bool, (n, H, W)
    donors : ndarray of uint8, (n, H, W, 3)
        ``donors[k]`` gives its skin to ``images[k]`` (see :func:`other_class_donors`).
    donor_masks : ndarray of bool, (n, H, W), optional
        The donors' lesions, removed before pasting; None uses the donors as they are.
    method, margin_fraction, radius_fraction
        As for :func:`remove_lesion`.

    Returns
    -------
    ndarray of uint8, (n, H, W, 3)
    """
    images, masks = _check_batch(images, masks)
    donors = np.asarray(donors)
    if donors.shape != images.shape or donors.dtype != np.uint8:
        raise ValueError(f"donors must be uint8 {images.shape}, got {donors.dtype} "
                         f"{donors.shape}")
    skin = donors.copy() if donor_masks is None else remove_lesion(
        donors, donor_masks, method=method, margin_fraction=margin_fraction,
        radius_fraction=radius_fraction)
    regions = dilate_masks(masks, pixels=margin_pixels(images.shape[1:3],
                                                       fraction=margin_fraction))
    skin[regions] = images[regions]
    return skin


def other_class_donors(y: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """For each image, the index of a donor of the other class, drawn at random.

    Parameters
    ----------
    y : ndarray of int, (n,)
        Labels, 0 or 1; both classes must be present.
    seed : int, default 0

    Returns
    -------
    ndarray of int64, (n,)
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y must be a 1-D array of 0 and 1")
    if len(np.unique(y)) < 2:
        raise ValueError("both classes must be present to draw donors of the other class")
    rng = np.random.default_rng(seed)
    out = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):
        others = np.flatnonzero(y != label)
        mine = np.flatnonzero(y == label)
        out[mine] = rng.choice(others, size=len(mine), replace=True)
    return out
