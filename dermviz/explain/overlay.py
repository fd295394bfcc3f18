"""Rendering helpers shared by the explainers' figures and the dashboard.

Two kinds of overlay on an RGB image (uint8 out):

* :func:`cam_overlay` for non-negative maps in [0, 1] (GradCAM): a perceptual
  sequential colormap (inferno by default; jet is the paper's) blended at a
  constant alpha.
* :func:`diverging_overlay` for signed maps (SHAP) with symmetric limits
  ``[-vmax, vmax]``: the paper's green/red scheme, whose opacity ramps with
  ``|value|`` so that near-zero superpixels leave the image visible, or a
  perceptual blue-white-red one (ColorBrewer RdBu).

:func:`render_paper_overlay` reproduces the paper's own figures exactly (RGBA,
matplotlib's jet and the SHAP example colormap), which the paper's overlay SSIM
(:mod:`dermviz.sanity.similarity`) is computed on.

The limit is the caller's choice: :func:`per_image_vmax` scales each map on its
own (the paper's choice, which hides differences in magnitude between maps),
:func:`shared_vmax` puts several maps (e.g. the members of a suite on one
image) on one scale so their colours can be compared.

Colormaps come from OpenCV (``cv2.applyColorMap`` lookup tables); matplotlib is
not a dependency.

References
----------
.. [1] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
   arXiv:1908.06612 (docs/protocol.md §9: red (245, 39, 87) / green (24, 196, 93), alpha
   ramping with the value, symmetric limits).
.. [2] Lundberg and Lee, "A Unified Approach to Interpreting Model Predictions",
   NeurIPS 2017.
.. [3] Brewer, ColorBrewer 2.0 (RdBu diverging scheme), colorbrewer2.org.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Literal

import cv2
import numpy as np

#: The paper's colours (docs/protocol.md §9): positive = green, negative = red.
PAPER_POSITIVE = (24, 196, 93)
PAPER_NEGATIVE = (245, 39, 87)

#: ColorBrewer RdBu (11 classes), from most negative (blue) to most positive (red).
_RDBU_ANCHORS = np.array(
    [
        (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
    ],
    dtype=np.float64,
)

#: Names accepted by :func:`cam_overlay` (OpenCV's colormaps, lower case).
CAM_COLORMAPS = tuple(
    sorted(n.removeprefix("COLORMAP_").lower() for n in dir(cv2) if n.startswith("COLORMAP_"))
)


def _check_image(image: np.ndarray) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 255] as float32."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"image must be numeric, got dtype {image.dtype}")
    image = image.astype(np.float32)
    if image.size and (not np.isfinite(image).all() or image.min() < 0 or image.max() > 255):
        raise ValueError("image values must be finite and lie in [0, 255]")
    return image


def _check_map(
    values: np.ndarray, image: np.ndarray, what: str, *, dtype: type = np.float32
) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != image.shape[:2]:
        raise ValueError(
            f"{what} has shape {values.shape} but the image is {image.shape[:2]}; "
            "resize the map to the image first"
        )
    values = values.astype(dtype)
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return values


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha:g}")
    return alpha


def _blend(image: np.ndarray, colours: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """``(1 - alpha) * image + alpha * colours``, rounded to uint8."""
    out = image * (1.0 - alpha) + colours.astype(np.float32) * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@cache
def colormap_lut(name: str) -> np.ndarray:
    """A sequential OpenCV colormap as an RGB lookup table, uint8 (256, 3).

    Parameters
    ----------
    name : str
        One of :data:`CAM_COLORMAPS`, e.g. ``"inferno"``, ``"viridis"``, ``"jet"``.
    """
    key = str(name).lower()
    if key not in CAM_COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; known: {list(CAM_COLORMAPS)}")
    code = getattr(cv2, f"COLORMAP_{key.upper()}")
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), code)
    lut = np.ascontiguousarray(bgr.reshape(256, 3)[:, ::-1])
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=1)
def diverging_lut() -> np.ndarray:
    """Blue-white-red (ColorBrewer RdBu, reversed) lookup table, uint8 (256, 3).

    Entry 0 is ``-vmax`` (dark blue), 127.5 is zero (near white), 255 is ``+vmax``
    (dark red).
    """
    pos = np.linspace(0.0, 1.0, len(_RDBU_ANCHORS))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, pos, _RDBU_ANCHORS[:, c]) for c in range(3)], axis=1)
    lut = np.clip(np.rint(lut), 0, 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def cam_overlay(
    image_uint8: np.ndarray, cam01: np.ndarray, *, alpha: float = 0.5, cmap: str = "inferno"
) -> np.ndarray:
    """A [0, 1] map in a sequential colormap, blended over the image.

    Parameters
    ----------
    image_uint8 : ndarray, (H, W, 3)
        RGB image in [0, 255] (uint8, or a float array in that range).
    cam01 : ndarray, (H, W)
        Map with values in [0, 1] (a GradCAM map), at image size.
    alpha : float
        Opacity of the colormap, in [0, 1] (0: the image, 1: the colormap only).
    cmap : str
        An OpenCV colormap name (:data:`CAM_COLORMAPS`); ``"inferno"`` and
        ``"viridis"`` are perceptually uniform, ``"jet"`` is the paper's.

    Returns
    -------
    ndarray, uint8, (H, W, 3)
        RGB.

    Raises
    ------
    ValueError
        If the shapes disagree, the map leaves [0, 1] or is not finite, alpha is
        outside [0, 1] or the colormap is unknown.

    References
    ----------
    .. [1] Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
       via Gradient-based Localization", ICCV 2017.
    """
    image = _check_image(image_uint8)
    cam = _check_map(cam01, image, "cam01")
    alpha = _check_alpha(alpha)
    if cam.size and (cam.min() < -1e-6 or cam.max() > 1 + 1e-6):
        raise ValueError(
            f"cam01 must lie in [0, 1], got [{float(cam.min()):g}, {float(cam.max()):g}]; "
            "normalise it first (signed maps: use diverging_overlay)"
        )
    lut = colormap_lut(cmap)
    colours = lut[np.rint(np.clip(cam, 0.0, 1.0) * 255).astype(np.uint8)]
    return _blend(image, colours, alpha)


def diverging_overlay(
    image_uint8: np.ndarray,
    signed_map: np.ndarray,
    *,
    vmax: float,
    alpha: float = 0.6,
    scheme: Literal["paper", "perceptual"] = "paper",
) -> np.ndarray:
    """A signed map with symmetric limits ``[-vmax, vmax]``, blended over the image.

    Values beyond ``±vmax`` saturate.

    Parameters
    ----------
    image_uint8 : ndarray, (H, W, 3)
        RGB image in [0, 255] (uint8, or a float array in that range).
    signed_map : ndarray, (H, W)
        Signed attributions (e.g. KernelSHAP per-pixel values), at image size.
    vmax : float
        The limit, > 0; see :func:`per_image_vmax` and :func:`shared_vmax`.
    alpha : float
        Largest opacity, in [0, 1].
    scheme : {"paper", "perceptual"}
        ``"paper"``: green (24, 196, 93) for positive, red (245, 39, 87) for
        negative values, opacity ``alpha * |value| / vmax``, so zero leaves the
        image untouched (the paper's colours and ramp; docs/protocol.md §9).
        ``"perceptual"``: a blue-white-red diverging colormap (ColorBrewer RdBu;
        red positive, blue negative, white zero) at constant opacity ``alpha``,
        so the colour alone encodes the value.

    Returns
    -------
    ndarray, uint8, (H, W, 3)
        RGB.

    Raises
    ------
    ValueError
        If the shapes disagree, the map is not finite, ``vmax`` is not a finite
        number > 0, alpha is outside [0, 1] or the scheme is unknown.

    References
    ----------
    .. [1] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
       arXiv:1908.06612.
    .. [2] Lundberg and Lee, "A Unified Approach to Interpreting Model
       Predictions", NeurIPS 2017.
    """
    image = _check_image(image_uint8)
    values = _check_map(signed_map, image, "signed_map")
    alpha = _check_alpha(alpha)
    vmax = float(vmax)
    if not np.isfinite(vmax) or vmax <= 0:
        raise ValueError(f"vmax must be a finite number > 0, got {vmax:g}")
    t = np.clip(values / np.float32(vmax), -1.0, 1.0)
    if scheme == "paper":
        colours = np.where(
            (t >= 0)[..., None],
            np.asarray(PAPER_POSITIVE, np.float32),
            np.asarray(PAPER_NEGATIVE, np.float32),
        )
        return _blend(image, colours, (alpha * np.abs(t))[..., None])
    if scheme == "perceptual":
        colours = diverging_lut()[np.rint((t + 1.0) * 127.5).astype(np.uint8)]
        return _blend(image, colours, alpha)
    raise ValueError(f"unknown scheme {scheme!r}; use 'paper' or 'perceptual'")


def shared_vmax(maps: Iterable[np.ndarray]) -> float:
    """One symmetric limit for several signed maps: the largest ``|value|`` among them.

    NaN entries are ignored (so padded ``shap_values`` rows can be passed). An
    all-zero input gives 1.0 (probability units' full scale), so the overlay
    shows no colour instead of failing.

    Parameters
    ----------
    maps : iterable of ndarray
        Maps of any shapes.

    Returns
    -------
    float
        > 0.

    Raises
    ------
    ValueError
        If no map is given, a map holds an infinite value, or nothing is finite.
    """
    peak = None
    for m in maps:
        m = np.asarray(m, dtype=np.float64)
        if np.isinf(m).any():
            raise ValueError("maps contain infinite values")
        finite = m[~np.isnan(m)]
        if finite.size:
            here = float(np.abs(finite).max())
            peak = here if peak is None else max(peak, here)
    if peak is None:
        raise ValueError("no finite values to scale (no maps given, or all NaN/empty)")
    return peak if peak > 0 else 1.0


def per_image_vmax(signed_map: np.ndarray) -> float:
    """The symmetric limit of one map on its own (the paper's per-image scaling)."""
    return shared_vmax([signed_map])


#: Colour of an evidence outline (lime), apart from the lesion outline's default cyan.
EVIDENCE_COLOUR = (160, 255, 0)


def outline_mask(
    image_uint8: np.ndarray, mask: np.ndarray, *, colour: tuple[int, int, int] = (0, 255, 255),
    thickness: int = 1,
) -> np.ndarray:
    """Draw a boolean mask's outline (e.g. the lesion's border) on an RGB image.

    Parameters
    ----------
    image_uint8 : ndarray, (H, W, 3)
        RGB image in [0, 255], typically an overlay.
    mask : ndarray of bool, (H, W)
        The region; its boundary pixels (those with a 4-neighbour outside it) are drawn.
    colour : tuple of int
        RGB colour of the outline (cyan by default: it stands out on inferno, jet and
        the SHAP schemes alike).
    thickness : int
        Outline width in pixels (>= 1), grown inwards so the region stays visible.

    Returns
    -------
    ndarray, uint8, (H, W, 3)
        A copy of the image with the outline drawn.
    """
    image = _check_image(image_uint8)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"mask must be boolean, got {mask.dtype}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape} but the image is {image.shape[:2]}")
    if not isinstance(thickness, (int, np.integer)) or thickness < 1:
        raise ValueError(f"thickness must be an integer >= 1, got {thickness!r}")
    if len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour):
        raise ValueError(f"colour must be three values in [0, 255], got {colour!r}")
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    inner = cv2.erode(mask.astype(np.uint8), kernel, iterations=int(thickness),
                      borderType=cv2.BORDER_REPLICATE)
    edge = mask & ~inner.astype(bool)
    out = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    out[edge] = colour
    return out


# --------------------------------------------------------------------------- the paper's figures

# matplotlib's "jet" segment data (matplotlib._cm._jet_data), without matplotlib;
# OpenCV's jet (colormap_lut("jet")) differs by up to 34 of 255 levels.
_MPL_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
_MPL_LUT_N = 256  # matplotlib's default colormap resolution
_PAPER_STYLES = {"gradcam": "cam", "kernelshap": "shap", "shap": "shap"}
_PAPER_RANGE_TOL = 1e-6


@cache
def _mpl_jet_lut() -> np.ndarray:
    """matplotlib's jet as an RGB float table in [0, 1], (256, 3)."""
    x = np.linspace(0.0, 1.0, _MPL_LUT_N)
    cols = [np.interp(x, *zip(*_MPL_JET[c], strict=True)) for c in ("red", "green", "blue")]
    lut = np.stack(cols, axis=-1)
    lut.setflags(write=False)
    return lut


@cache
def _shap_example_lut() -> np.ndarray:
    """The SHAP example colormap: red, alpha 1 -> 0, then green, alpha 0 -> 1 (RGBA)."""
    red = np.asarray(PAPER_NEGATIVE, dtype=np.float64) / 255.0
    green = np.asarray(PAPER_POSITIVE, dtype=np.float64) / 255.0
    anchors = np.concatenate(
        [
            np.column_stack([np.tile(red, (100, 1)), np.linspace(1, 0, 100)]),
            np.column_stack([np.tile(green, (100, 1)), np.linspace(0, 1, 100)]),
        ]
    )
    pos = np.linspace(0.0, 1.0, len(anchors))
    x = np.linspace(0.0, 1.0, _MPL_LUT_N)
    lut = np.stack([np.interp(x, pos, anchors[:, c]) for c in range(4)], axis=-1)
    lut.setflags(write=False)
    return lut


def _mpl_lut_index(x: np.ndarray) -> np.ndarray:
    """matplotlib's float -> colormap index rule (x in [0, 1], 1 -> last entry)."""
    return np.clip((np.asarray(x) * _MPL_LUT_N).astype(np.int64), 0, _MPL_LUT_N - 1)


def render_paper_overlay(
    image: np.ndarray,
    saliency: np.ndarray,
    method: str,
    *,
    vmax: float | None = None,
) -> np.ndarray:
    """Render a map over its image in the paper's style, as RGBA ``uint8``.

    GradCAM: the image with ``jet(map)`` on top at alpha 0.5. SHAP: the image at
    alpha 0.8 on white, with a red (negative) / green (positive) map whose alpha
    grows with ``|value| / vmax``. The alpha channel is constant 255, as in the
    paper's PNGs (docs/protocol.md §8, §9). Rendered at the map's own size (the paper's
    matplotlib PNGs were 287x288 for 224 px inputs).

    Parameters
    ----------
    image : ndarray, uint8, (H, W, 3)
        The RGB image.
    saliency : ndarray, (H, W)
        GradCAM: values in [0, 1]. SHAP: signed values.
    method : {"gradcam", "kernelshap", "shap"}
        Which of the paper's two renderings.
    vmax : float, optional
        SHAP only: the symmetric colour limit; default max |map| (the paper used
        the image's largest |SHAP| value).

    Returns
    -------
    ndarray, uint8, (H, W, 4)

    Raises
    ------
    ValueError
        For an unknown method, an image that is not uint8 RGB, a map of another
        shape or with NaN or infinite values, or a GradCAM map outside [0, 1].

    References
    ----------
    .. [1] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
       arXiv:1908.06612.
    """
    style = _PAPER_STYLES.get(method.lower())
    if style is None:
        raise ValueError(f"no paper rendering for {method!r}; known: {sorted(_PAPER_STYLES)}")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    img = _check_image(image).astype(np.float64) / 255.0  # exact: uint8 values
    saliency = _check_map(saliency, image, "saliency", dtype=np.float64)
    if style == "cam":
        if saliency.min() < -_PAPER_RANGE_TOL or saliency.max() > 1 + _PAPER_RANGE_TOL:
            raise ValueError("GradCAM overlays need maps in [0, 1]")
        heat = _mpl_jet_lut()[_mpl_lut_index(np.clip(saliency, 0.0, 1.0))]
        heat = np.round(heat * 255.0).astype(np.uint8).astype(np.float64) / 255.0
        rgb = 0.5 * heat + 0.5 * img
    else:
        peak = float(np.abs(saliency).max())
        limit = peak if vmax is None else float(vmax)
        base = 0.8 * img + 0.2  # alpha 0.8 over the white figure background
        if limit <= 0:
            rgb = base
        else:
            x = (np.clip(saliency, -limit, limit) + limit) / (2 * limit)
            rgba = _shap_example_lut()[_mpl_lut_index(x)]
            alpha = rgba[..., 3:4]
            rgb = alpha * rgba[..., :3] + (1 - alpha) * base
    out = np.empty((*image.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def grey_out(overlay: np.ndarray, image_uint8: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``overlay`` where ``keep`` is True; elsewhere the image in light grey (its luminance
    lifted halfway to white), so what a map cannot tell from noise is visibly not painted.

    Parameters
    ----------
    overlay, image_uint8 : ndarray, (H, W, 3) uint8
    keep : ndarray of bool, (H, W)
    """
    over = _check_image(overlay)
    img = _check_image(image_uint8)
    keep = np.asarray(keep, dtype=bool)
    if over.shape != img.shape or keep.shape != img.shape[:2]:
        raise ValueError(f"overlay {over.shape}, image {img.shape} and keep {keep.shape} "
                         "must share their height and width")
    grey = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = np.rint(127.5 + grey / 2.0).astype(np.uint8)[..., None].repeat(3, axis=2)
    return np.where(keep[..., None], np.clip(np.rint(over), 0, 255), grey).astype(np.uint8)
