"""Does a saliency map point at the lesion? Localization scores against a lesion mask.

Every score is batch-first (``maps`` and ``masks`` of shape ``(n, H, W)``), returns one
value per image, and is **higher = better localised**:

- :func:`relevance_mass_accuracy` (``mass_in_mask``): the share of the map's mass inside
  the lesion [1]_. Chance is the mask's share of the image (a uniform map scores exactly
  that, :func:`mask_share`).
- :func:`relevance_rank_accuracy`: of the ``K`` highest-ranked pixels, ``K`` being the
  lesion's size in pixels, the share inside the lesion [1]_ (pixels tied at the K-th value
  count in proportion). Chance is again the mask share.
- :func:`pointing_game`: 1 when the map's peak lies on the lesion (within ``tolerance``
  pixels), else 0 [2]_; a peak shared by several pixels scores the share of them on the
  lesion. Chance is the mask share (a peak placed at random).

The definitions are Quantus's [3]_ (``RelevanceMassAccuracy``, ``RelevanceRankAccuracy``,
``PointingGame``), apart from ties (:func:`relevance_rank_accuracy`, :func:`pointing_game`),
which are scored as the expected result of breaking them at random. The library itself
is not a dependency: it requires the GUI build of OpenCV (which clashes with
``opencv-python-headless``) and matplotlib, and its TensorFlow support stops at Keras 2;
the scores only need the maps and masks, so they are written here.

Because dermoscopy lesions sit near the image centre, a plain centred Gaussian
(:func:`centre_prior`) beats chance without looking at the image: HAM10000's masks give it
about 0.54 of the mass against a chance of about 0.33 (docs/stack.md). Every score is
therefore reported beside both baselines (:func:`localization_table`).

Signed maps (KernelSHAP) are scored on their positive part, the evidence *for* the
explained class; pass ``np.abs(m)`` to score evidence of either sign.

References
----------
.. [1] Arras, Osman & Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
   evaluation of neural network explanations", Information Fusion 81, 2022.
.. [2] Zhang et al., "Top-down neural attention by excitation backprop", IJCV 126, 2018.
.. [3] Hedström et al., "Quantus: An explainable AI toolkit for responsible evaluation of
   neural network explanations and beyond", JMLR 24(34), 2023.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dermviz.explain.reference_maps import centre_prior  # re-exported: its home moved down


@dataclass(frozen=True)
class LocalizationScore:
    """A registered localization score: ``fn(maps, masks) -> (n,)``, higher is better."""

    name: str
    title: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]


LOCALIZATION_SCORES: dict[str, LocalizationScore] = {}


def _register(name: str, title: str):  # noqa: ANN202 - a decorator
    def wrap(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):  # noqa: ANN202
        LOCALIZATION_SCORES[name] = LocalizationScore(name, title, fn)
        return fn

    return wrap


def _check(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks)
    if maps.ndim == 2:
        maps, masks = maps[None], masks[None]
    if maps.shape != masks.shape or maps.ndim != 3:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must both be (n, H, W)")
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got {masks.dtype}")
    if not np.isfinite(maps).all():
        raise ValueError("maps must be finite")
    if (maps < 0).any():
        raise ValueError("maps must be non-negative (use |map| or its positive part for SHAP)")
    return maps, masks


@_register("mass", "relevance mass on the lesion")
def relevance_mass_accuracy(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's mass inside the mask, in [0, 1].

    Images whose map is all zero get NaN (no mass to place).
    """
    maps, masks = _check(maps, masks)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


#: The name used since the first release (the same score).
mass_in_mask = relevance_mass_accuracy


@_register("rank", "relevance rank accuracy")
def relevance_rank_accuracy(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the ``K`` top-ranked pixels inside the mask (``K`` = mask size).

    Pixels tied at the K-th value fill the remaining places in proportion to their share
    inside the mask: the expected score when the ties are broken at random. So a constant
    map scores the mask's share of the image (chance), neither a flattering 1 nor whatever
    the pixel order gives, and a map constant over each superpixel (KernelSHAP) is not
    judged by which rows of its K-th superpixel come first. Images with an empty mask or
    an all-zero map get NaN.
    """
    maps, masks = _check(maps, masks)
    out = np.full(len(maps), np.nan)
    for i, (m, mask) in enumerate(zip(maps, masks, strict=True)):
        k = int(mask.sum())
        if k == 0 or not m.any():
            continue
        values, inside = m.ravel(), mask.ravel()
        kth = np.partition(values, values.size - k)[values.size - k]
        above, tied = values > kth, values == kth
        n_above = int(above.sum())
        out[i] = (inside[above].sum() + (k - n_above) * inside[tied].mean()) / k
    return out


def pointing_game(maps: np.ndarray, masks: np.ndarray, *, tolerance: int = 0) -> np.ndarray:
    """Per image, 1.0 when the map's maximum lies on the mask (or within ``tolerance``
    pixels of it), else 0.0; NaN for an all-zero map (no peak to point with).

    Several equal maxima score the share of them on the mask: the hit rate of a peak picked
    at random among them. So a flat map scores the mask's share (chance), where Quantus's
    "any of them" would give it 1; and a map that is constant over each superpixel
    (KernelSHAP) scores the share of its top superpixel on the mask, where "all of them"
    would give 0 to a superpixel that is larger than the mask or straddles its edge.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    maps, masks = _check(maps, masks)
    if tolerance:
        import cv2  # opencv is a base dependency; only the dilation needs it

        kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
        masks = np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])
    out = np.full(len(maps), np.nan)
    for i, (m, mask) in enumerate(zip(maps, masks, strict=True)):
        peak = m.max()
        if peak <= 0:
            continue
        out[i] = float(mask[m == peak].mean())
    return out


_register("pointing", "pointing game")(pointing_game)


def mask_share(masks: np.ndarray) -> np.ndarray:
    """Per image, the mask's share of the image: the chance level of every score here."""
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    return masks.mean(axis=(1, 2))


def positive_part(maps: np.ndarray, *, signed: bool) -> np.ndarray:
    """What the scores read of a map: itself for a CAM, its positive part for SHAP."""
    maps = np.asarray(maps, dtype=np.float64)
    return np.clip(maps, 0, None) if signed else maps


def localization_table(
    maps: np.ndarray,
    masks: np.ndarray,
    *,
    image_ids: Sequence[str],
    signed: bool = False,
    scores: Sequence[str] | None = None,
    labels: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Every localization score per image, beside chance and the centred Gaussian.

    Parameters
    ----------
    maps : ndarray, (n, H, W)
        Saliency maps at image size.
    masks : ndarray of bool, (n, H, W)
        Lesion masks.
    image_ids : sequence of str
        One id per image, the table's ``image_id`` column.
    signed : bool
        True for signed maps (SHAP): their positive part is scored.
    scores : sequence of str, optional
        Names from :data:`LOCALIZATION_SCORES`; default all.
    labels : mapping, optional
        Constant columns to add (member, method...), for concatenating tables.

    Returns
    -------
    DataFrame
        One row per image: ``image_id``, the ``labels``, ``chance`` (the mask share) and,
        for each score ``s``, ``s`` (the map's) and ``s_gaussian`` (the centred Gaussian's).
    """
    names = list(LOCALIZATION_SCORES) if scores is None else list(scores)
    unknown = sorted(set(names) - set(LOCALIZATION_SCORES))
    if unknown:
        raise ValueError(f"unknown score(s) {unknown}; known: {sorted(LOCALIZATION_SCORES)}")
    values, masks = _check(positive_part(maps, signed=signed), masks)
    if len(image_ids) != len(values):
        raise ValueError(f"{len(image_ids)} image ids for {len(values)} maps")
    prior = np.broadcast_to(centre_prior(values.shape[1:]), values.shape)
    table = pd.DataFrame({"image_id": list(image_ids)})
    for key, value in (labels or {}).items():
        table[key] = value
    table["chance"] = mask_share(masks)
    for name in names:
        fn = LOCALIZATION_SCORES[name].fn
        table[name] = fn(values, masks)
        table[f"{name}_gaussian"] = fn(prior, masks)
    return table


def summarize_localization(table: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Mean of each score and its baselines (grouped by ``by``), with how many images
    score above the centred Gaussian (``beats_gaussian_<score>``, a share)."""
    names = [n for n in LOCALIZATION_SCORES if n in table.columns]
    if not names:
        raise ValueError("the table holds no localization score columns")
    frame = table.copy()
    for name in names:
        frame[f"beats_gaussian_{name}"] = (frame[name] > frame[f"{name}_gaussian"]).astype(float)
    cols = ["chance", *names, *(f"{n}_gaussian" for n in names),
            *(f"beats_gaussian_{n}" for n in names)]
    if by:
        out = frame.groupby(list(by))[cols].mean().reset_index()
        out.insert(len(by), "images", frame.groupby(list(by)).size().to_numpy())
        return out
    out = frame[cols].mean().to_frame().T
    out.insert(0, "images", len(frame))
    return out
