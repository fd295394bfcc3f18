"""What KernelSHAP paints into hidden superpixels, and whether the result can mean anything.

KernelSHAP attributes ``f(image) - f(background)`` to the superpixels. The paper paints
hidden superpixels white. On a model that calls a white image a melanoma with p = 1.000
and the lesion 0.999, that difference, the *reference gap*, is almost nothing: the values
sum to about 0.001, and a map scaled per image paints that noise in full colour.

Backgrounds offered (each cached under its own parameters):

- ``"white"``: 255 in every channel, the paper's;
- ``"mean"``: the image's own mean colour;
- ``"blur"``: a heavily blurred copy of the image (as shap's ``Image`` masker does with
  ``"blur(k,k)"``), which hides shape and texture but keeps the colour layout;
- ``"inpaint"``: the image with its lesion inpainted away by OpenCV (Telea's method),
  the skin that would be there without the lesion. The lesion is the mask when one is
  given, otherwise the dark blob Otsu's threshold finds.

:func:`reference_gap` and :data:`DEGENERATE_GAP` decide which maps are too small to explain.

References
----------
.. [1] Telea, "An image inpainting technique based on the fast marching method",
   Journal of Graphics Tools 9(1), 2004.
.. [2] Lundberg and Lee, "A Unified Approach to Interpreting Model Predictions",
   NeurIPS 2017.
"""

from __future__ import annotations

import cv2
import numpy as np

from dermviz.data.counterfactuals import inpaint_region
from dermviz.data.regions import dilate_masks

BACKGROUNDS = ("white", "mean", "blur", "inpaint")

#: Maps whose |f(image) - f(background)| is below this explain (almost) nothing: the SHAP
#: values sum to the gap, so colouring them says more about noise than evidence.
DEGENERATE_GAP = 0.05

#: The blur's Gaussian sigma, as a fraction of the image's shorter side.
BLUR_SIGMA_FRACTION = 0.125

#: Inpainting radius in pixels, as a fraction of the image's shorter side.
INPAINT_RADIUS_FRACTION = 0.05


def background_image(
    image: np.ndarray, kind: str, *, lesion_mask: np.ndarray | None = None
) -> np.ndarray:
    """The background of one image, float32 (H, W, 3) in [0, 255].

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        Values in [0, 255].
    kind : {"white", "mean", "blur", "inpaint"}
    lesion_mask : ndarray of bool, (H, W), optional
        For ``"inpaint"``: the region to inpaint. Default: the dark blob found by Otsu's
        threshold on the grey image (dermoscopy lesions are darker than skin).

    Returns
    -------
    ndarray, float32, (H, W, 3)
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {image.shape}")
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {kind!r}; choose from {BACKGROUNDS}")
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    side = min(pixels.shape[:2])
    if kind == "white":
        out = np.full(pixels.shape, 255.0)
    elif kind == "mean":
        out = np.broadcast_to(pixels.reshape(-1, 3).mean(axis=0), pixels.shape)
    elif kind == "blur":
        out = cv2.GaussianBlur(pixels, (0, 0), sigmaX=max(1.0, BLUR_SIGMA_FRACTION * side),
                               borderType=cv2.BORDER_REFLECT)
    else:
        mask = _lesion_mask(pixels) if lesion_mask is None else np.asarray(lesion_mask, bool)
        if mask.shape != pixels.shape[:2]:
            raise ValueError(f"lesion_mask {mask.shape} does not match the image "
                             f"{pixels.shape[:2]}")
        # A margin around the lesion, so its rim is not copied into the fill.
        grown = dilate_masks(mask, pixels=2)
        radius = max(1, round(INPAINT_RADIUS_FRACTION * side))
        out = inpaint_region(pixels, grown, radius=radius, method="telea")
    return np.ascontiguousarray(out, dtype=np.float32)


def _lesion_mask(pixels: np.ndarray) -> np.ndarray:
    """The dark region by Otsu's threshold (lesions are darker than the surrounding skin)."""
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    _, dark = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return dark.astype(bool)


def reference_gap(f_x: np.ndarray, base_value: np.ndarray) -> np.ndarray:
    """|f(image) - f(background)| per image: the total a SHAP map has to distribute."""
    return np.abs(np.asarray(f_x, dtype=np.float64) - np.asarray(base_value, dtype=np.float64))


def degenerate(f_x: np.ndarray, base_value: np.ndarray, *,
               min_gap: float = DEGENERATE_GAP) -> np.ndarray:
    """Per image, True when the reference gap is below ``min_gap``: nothing to explain."""
    if not min_gap >= 0:
        raise ValueError(f"min_gap must be >= 0, got {min_gap}")
    return reference_gap(f_x, base_value) < min_gap


def gap_warning(f_x: float, base_value: float, *, min_gap: float = DEGENERATE_GAP) -> str | None:
    """A sentence to show next to a map whose reference gap is degenerate, else None."""
    gap = float(reference_gap(f_x, base_value))
    if gap >= min_gap:
        return None
    return (f"Reference gap |f(image) - f(background)| = {gap:.4f} < {min_gap}: the model "
            f"scores the background ({float(base_value):.3f}) like the image "
            f"({float(f_x):.3f}), so this map distributes almost nothing; its colours show "
            "noise, not evidence. Try another background.")
