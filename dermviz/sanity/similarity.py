"""Similarity between saliency maps: one small function per measure.

Every measure here is **higher = more similar**. Measures on raw maps
(:func:`ssim_maps`, :func:`spearman`) are what the sanity checks should be judged
on; :func:`ssim_paper_overlay` reproduces the paper's SSIM on RGBA overlays
rendered by :func:`~dermviz.explain.overlay.render_paper_overlay`
(docs/protocol.md §10), which the underlying photograph and the constant alpha
channel push towards 1 (§14.13), so users can compare with its numbers.

The registry :data:`SIMILARITIES` maps a measure name to a function
``f(a, b, *, image, signed) -> float`` on two maps of one image; adding a measure
is one decorated function (:func:`register_similarity`).

References
----------
.. [1] Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error
   visibility to structural similarity", IEEE TIP 13(4), 2004.
.. [2] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018 (SSIM and
   Spearman rank correlation with and without absolute values).
.. [3] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
   arXiv:1908.06612.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from skimage.metrics import structural_similarity

__all__ = [
    "SIMILARITIES",
    "Similarity",
    "mean_abs_successive_change",
    "normalise_signed",
    "register_similarity",
    "spearman",
    "ssim_maps",
    "ssim_paper_overlay",
    "ssim_to_original_curve",
]

#: A registered measure: two maps of the same image (+ the image, uint8 RGB, and
#: whether the maps are signed) -> a float, higher = more similar.
Similarity = Callable[..., float]

_RANGE_TOL = 1e-6


# --------------------------------------------------------------------------- raw maps


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected 2-D maps (H, W), got shape {a.shape}")
    return a, b


def ssim_maps(
    a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0, win_size: int | None = None
) -> float:
    """SSIM between two raw grayscale maps (higher = more similar; 1 = identical).

    Parameters
    ----------
    a, b : ndarray, (H, W)
        Maps with values in ``[0, data_range]``. GradCAM maps are in [0, 1];
        signed maps (SHAP) must be mapped first, e.g. with :func:`normalise_signed`.
    data_range : float
        The value range the SSIM constants are scaled to, given explicitly (never
        inferred from the data, which would make scores of different pairs
        incomparable).
    win_size : int, optional
        Side of the uniform window (skimage default 7).

    Returns
    -------
    float
        Mean SSIM, in [-1, 1].

    Raises
    ------
    ValueError
        If the shapes differ, the maps are not 2-D, or a value lies outside
        ``[0, data_range]``.

    References
    ----------
    .. [1] Wang et al., "Image quality assessment: from error visibility to
       structural similarity", IEEE TIP 2004.
    """
    a, b = _pair(a, b)
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    tol = _RANGE_TOL * data_range
    for name, m in (("a", a), ("b", b)):
        lo, hi = float(m.min()), float(m.max())
        if not np.isfinite([lo, hi]).all() or lo < -tol or hi > data_range + tol:
            raise ValueError(
                f"map {name} has values in [{lo:g}, {hi:g}], outside [0, {data_range:g}]; "
                "give the right data_range, or map signed attributions with "
                "normalise_signed(map, vmax) first"
            )
    a = np.clip(a, 0.0, data_range)
    b = np.clip(b, 0.0, data_range)
    return float(structural_similarity(a, b, data_range=data_range, win_size=win_size))


def normalise_signed(m: np.ndarray, vmax: float) -> np.ndarray:
    """Map a signed attribution map from ``[-vmax, vmax]`` to [0, 1] (0 -> 0.5).

    Use the same ``vmax`` for both maps of a pair (e.g. the larger of their
    maximum absolute values) so they share one scale; then compare with
    ``ssim_maps(..., data_range=1.0)``.

    Parameters
    ----------
    m : ndarray
        Signed map.
    vmax : float
        Half-width of the value range, >= max |m|. A zero ``vmax`` is only
        accepted for an all-zero map (which becomes 0.5 everywhere).

    Returns
    -------
    ndarray, float64
        ``(m / vmax + 1) / 2``.

    Raises
    ------
    ValueError
        If ``vmax`` is negative or smaller than max |m|.
    """
    m = np.asarray(m, dtype=np.float64)
    peak = float(np.abs(m).max()) if m.size else 0.0
    if vmax < 0 or not np.isfinite(vmax):
        raise ValueError(f"vmax must be a finite value >= 0, got {vmax}")
    if peak > vmax * (1 + _RANGE_TOL) + 1e-12:
        raise ValueError(f"vmax={vmax:g} is smaller than max |map| = {peak:g}")
    if vmax == 0:
        return np.full(m.shape, 0.5)
    return np.clip((m / vmax + 1.0) / 2.0, 0.0, 1.0)


def spearman(a: np.ndarray, b: np.ndarray, *, absolute: bool = False) -> float:
    """Spearman rank correlation of two maps' pixels (higher = more similar).

    Parameters
    ----------
    a, b : ndarray, (H, W)
        Maps of the same image, any scale or sign.
    absolute : bool
        Rank absolute values (importance regardless of sign), as Adebayo et al.
        report both.

    Returns
    -------
    float
        In [-1, 1]; NaN when either map is constant (e.g. an all-zero GradCAM map),
        where rank correlation is undefined.

    References
    ----------
    .. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
    """
    from scipy.stats import spearmanr

    a, b = _pair(a, b)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a.ravel(), b.ravel()).statistic)


# --------------------------------------------------------------------------- paper overlays


def ssim_paper_overlay(
    rgba_a: np.ndarray,
    rgba_b: np.ndarray,
    *,
    win_size: int = 9,
    use_sample_covariance: bool = True,
    rgb_only: bool = False,
) -> float:
    """The paper's SSIM on rendered overlays (higher = more similar).

    ``structural_similarity(a, b, win_size=9, channel_axis=-1, data_range=255,
    use_sample_covariance=True)``: the mean of the per-channel SSIMs, alpha
    included. The paper's reproducibility check used ``win_size=3,
    use_sample_covariance=False`` (docs/protocol.md §10.1). ``rgb_only=True`` drops the
    constant alpha channel, whose SSIM is always 1 (docs/protocol.md §14.13: RGB-only =
    (4 s - 1) / 3).

    Parameters
    ----------
    rgba_a, rgba_b : ndarray, uint8, (H, W, 4) or (H, W, 3)
        Renders from :func:`~dermviz.explain.overlay.render_paper_overlay` (or
        the paper's PNGs).

    Returns
    -------
    float

    References
    ----------
    .. [1] Wang et al., IEEE TIP 2004. .. [2] Young et al., iMIMIC 2019.
    """
    a, b = np.asarray(rgba_a), np.asarray(rgba_b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError("paper-style SSIM compares uint8 renders (data_range 255)")
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"expected two (H, W, 3|4) renders of one shape, got {a.shape}, {b.shape}")
    if rgb_only:
        a, b = a[..., :3], b[..., :3]
    return float(
        structural_similarity(
            a,
            b,
            win_size=win_size,
            channel_axis=-1,
            data_range=255,
            use_sample_covariance=use_sample_covariance,
        )
    )


# --------------------------------------------------------------------------- registry

SIMILARITIES: dict[str, Similarity] = {}


def register_similarity(name: str) -> Callable[[Similarity], Similarity]:
    """Decorator adding ``f(a, b, *, image, signed) -> float`` to :data:`SIMILARITIES`."""

    def add(fn: Similarity) -> Similarity:
        if name in SIMILARITIES and SIMILARITIES[name] is not fn:
            raise ValueError(f"similarity {name!r} is already registered")
        SIMILARITIES[name] = fn
        return fn

    return add


def _unit_pair(a: np.ndarray, b: np.ndarray, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both maps on [0, 1]: as they are (CAMs), or signed with a shared vmax."""
    if not signed:
        return a, b
    vmax = max(float(np.abs(a).max()), float(np.abs(b).max()))
    return normalise_signed(a, vmax), normalise_signed(b, vmax)


@register_similarity("ssim")
def _ssim(a: np.ndarray, b: np.ndarray, *, image: np.ndarray | None = None, signed: bool = False):
    """SSIM of the raw maps on [0, 1] (signed maps share one symmetric scale)."""
    return ssim_maps(*_unit_pair(a, b, signed), data_range=1.0)


@register_similarity("spearman")
def _spearman(a, b, *, image=None, signed: bool = False) -> float:
    """Spearman rank correlation of the signed maps."""
    return spearman(a, b)


@register_similarity("spearman_abs")
def _spearman_abs(a, b, *, image=None, signed: bool = False) -> float:
    """Spearman rank correlation of the absolute maps."""
    return spearman(a, b, absolute=True)


def _paper_renders(a, b, image, signed):
    # OpenCV comes with the overlay module: imported here, so that listing studies
    # (which imports this registry) stays light.
    from dermviz.explain.overlay import render_paper_overlay

    if image is None:
        raise ValueError("the paper-style SSIM needs the image to render the overlays")
    method = "kernelshap" if signed else "gradcam"
    image = np.asarray(image)
    return render_paper_overlay(image, a, method), render_paper_overlay(image, b, method)


@register_similarity("ssim_paper")
def _ssim_paper(a, b, *, image=None, signed: bool = False) -> float:
    """The paper's SSIM on RGBA overlays (win 9, sample covariance, alpha included)."""
    return ssim_paper_overlay(*_paper_renders(a, b, image, signed))


@register_similarity("ssim_paper_rgb")
def _ssim_paper_rgb(a, b, *, image=None, signed: bool = False) -> float:
    """The paper's SSIM on the overlays' RGB channels only."""
    return ssim_paper_overlay(*_paper_renders(a, b, image, signed), rgb_only=True)


# --------------------------------------------------------------------------- across stages


def ssim_to_original_curve(
    maps_by_stage: np.ndarray,
    *,
    signed: bool = False,
    measure: str = "ssim",
    images: np.ndarray | None = None,
) -> np.ndarray:
    """Similarity of each stage's map to the original (stage 0) map.

    Parameters
    ----------
    maps_by_stage : ndarray, (S, H, W) or (S, n, H, W)
        Stage 0 is the trained model's map.
    signed : bool
        Maps carry signed attributions (normalised per pair with a shared vmax).
    measure : str
        A :data:`SIMILARITIES` name (default the raw-map SSIM).
    images : ndarray, uint8, (H, W, 3) or (n, H, W, 3), optional
        Needed by the paper-overlay measures.

    Returns
    -------
    ndarray, (S,) or (S, n)
        Entry 0 is the original against itself (1 for SSIM).
    """
    maps = np.asarray(maps_by_stage)
    single = maps.ndim == 3
    if single:
        maps = maps[:, None]
        images = None if images is None else np.asarray(images)[None]
    if maps.ndim != 4:
        raise ValueError(f"expected (S, H, W) or (S, n, H, W), got {maps.shape}")
    fn = SIMILARITIES[measure]
    out = np.array(
        [
            [
                fn(
                    maps[0, i],
                    maps[k, i],
                    image=None if images is None else images[i],
                    signed=signed,
                )
                for i in range(maps.shape[1])
            ]
            for k in range(maps.shape[0])
        ]
    )
    return out[:, 0] if single else out


def mean_abs_successive_change(scores: np.ndarray) -> np.ndarray:
    """The paper's per-step metric: mean over images of ``|s_k - s_{k+1}|``.

    Parameters
    ----------
    scores : ndarray, (S,) or (S, n)
        Similarity to the original per stage (stage axis first), e.g. from
        :func:`ssim_to_original_curve`; stage 0 is the original (score 1 for SSIM),
        so step 0 -> 1 is ``1 - s_1``.

    Returns
    -------
    ndarray, (S - 1,)
        Step k is the mean over images of ``|s_k - s_{k+1}|`` (the "degradation
        per randomised layer" of docs/protocol.md §10.2: successive changes in similarity
        to the original, not drops from 1). NaN scores propagate.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"expected (S,) or (S, n) scores with S >= 2, got {s.shape}")
    return np.abs(np.diff(s, axis=0)).mean(axis=1)
