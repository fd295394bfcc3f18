"""Which KernelSHAP superpixels stand out from their own sampling noise.

A KernelSHAP map is an estimate from sampled coalitions; at the paper's budget two seeds
of one map agree only at SSIM 0.68 (``docs/shap-convergence.md``), so painting every
superpixel as evidence overstates what the map knows. A superpixel is
**distinguishable from zero** when ``|value| > z * se``, ``se`` its standard error.

Where ``se`` comes from:

* **split-half** (``sampler="leverage"``): two independent half-budget estimates
  ``h0, h1`` of the values; each has twice the variance of the full estimate, their
  difference four times, so ``se = |h0 - h1| / 2`` per superpixel
  (:func:`split_half_standard_error`), or, as stored with every map today, the RMS of
  that over the map (``estimated_error``, one number per map,
  :attr:`dermviz.explain.shapley_estimators.ShapleyEstimate.estimated_error`);
* **bootstrap** (either sampler): the standard deviation of the values over refits of
  the regression on resampled coalitions (:func:`bootstrap_standard_error`).

:func:`superpixel_noise` works from a stored map's fields (``shap_values``,
``n_segments`` and a per-superpixel ``superpixel_error`` where the explainer stores one,
else the per-map ``estimated_error``); a map without either has no error estimate, and
nothing is greyed out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Default ``z``: two-sided 95% under a normal error.
DEFAULT_Z = 1.96
#: The stored extra with a per-superpixel standard error, (n, width) like shap_values.
PER_SUPERPIXEL_FIELD = "superpixel_error"
#: The stored extra with one RMS error per map (sampler "leverage").
PER_MAP_FIELD = "estimated_error"


def split_half_standard_error(halves: np.ndarray) -> np.ndarray:
    """Per-superpixel standard error ``|h0 - h1| / 2`` from two half-sample estimates
    ``(2, n)`` (:attr:`~dermviz.explain.shapley_estimators.ShapleyEstimate.halves`)."""
    h = np.asarray(halves, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != 2:
        raise ValueError(f"halves must be (2, n_superpixels), got shape {h.shape}")
    return np.abs(h[0] - h[1]) / 2.0


def bootstrap_standard_error(estimates: np.ndarray) -> np.ndarray:
    """Per-superpixel standard error: the standard deviation (``ddof=1``) of bootstrap
    estimates ``(n_boot, n)`` of the values (at least 2)."""
    b = np.asarray(estimates, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] < 2:
        raise ValueError(f"need bootstrap estimates (n_boot >= 2, n_superpixels), got "
                         f"shape {b.shape}")
    return b.std(axis=0, ddof=1)


def distinguishable(values: np.ndarray, se: np.ndarray | float, *, z: float = DEFAULT_Z
                    ) -> np.ndarray:
    """Whether each value lies beyond ``z`` standard errors from zero (bool, like
    ``values``); ``se`` is one per value or one for all."""
    v = np.asarray(values, dtype=np.float64)
    s = np.broadcast_to(np.asarray(se, dtype=np.float64), v.shape)
    if not (np.isfinite(z) and z > 0):
        raise ValueError(f"z must be a finite number > 0, got {z}")
    if not (np.isfinite(v).all() and np.isfinite(s).all()) or (s < 0).any():
        raise ValueError("values and standard errors must be finite, errors >= 0")
    return np.abs(v) > z * s


@dataclass(frozen=True)
class SuperpixelNoise:
    """Which superpixels of one map stand out from their noise (:func:`superpixel_noise`).

    Attributes
    ----------
    distinguishable : ndarray of bool, (n_superpixels,)
        Indexed by superpixel label (the map's ``segments``).
    standard_error : ndarray, float64, (n_superpixels,)
    source : str
        ``"superpixel_error"`` or ``"estimated_error"`` (the stored field used).
    z : float
    """

    distinguishable: np.ndarray
    standard_error: np.ndarray
    source: str
    z: float

    @property
    def count(self) -> int:
        """How many superpixels are distinguishable from zero."""
        return int(self.distinguishable.sum())

    @property
    def total(self) -> int:
        return len(self.distinguishable)

    def pixel_mask(self, segments: np.ndarray) -> np.ndarray:
        """A bool image: True on the distinguishable superpixels (grey out the rest)."""
        seg = np.asarray(segments)
        if not np.issubdtype(seg.dtype, np.integer) or seg.min(initial=0) < 0 or \
                seg.max(initial=-1) >= self.total:
            raise ValueError(f"segments must be integer labels in [0, {self.total})")
        return self.distinguishable[seg]

    def sentence(self) -> str:
        """What the page says beside the map."""
        per = ("per superpixel" if self.source == PER_SUPERPIXEL_FIELD
               else "the map's RMS split-half error")
        return (f"{self.count} of {self.total} superpixels are distinguishable from zero "
                f"(|value| > {self.z:g} x standard error, {per}); the others are within "
                "their sampling noise.")


def superpixel_noise(
    extras: Mapping[str, np.ndarray], k: int = 0, *, z: float = DEFAULT_Z
) -> SuperpixelNoise | None:
    """Distinguishable superpixels of map ``k`` from a KernelSHAP batch's stored extras.

    Parameters
    ----------
    extras : mapping of str -> ndarray
        :attr:`dermviz.explain.maps.SaliencyMaps.extras` of a KernelSHAP batch:
        ``shap_values`` (n, width, NaN-padded), ``n_segments`` (n,), and
        ``superpixel_error`` (n, width) or ``estimated_error`` (n,).
    k : int
        The image's index in the batch.
    z : float
        Standard errors a value must exceed.

    Returns
    -------
    SuperpixelNoise or None
        None when the map has no error estimate (shap's sampler ``"kernel"`` without a
        bootstrap): then nothing can be said, and nothing should be greyed out.
    """
    if "shap_values" not in extras or "n_segments" not in extras:
        raise KeyError("extras lack shap_values or n_segments: not a KernelSHAP batch")
    values_all = np.asarray(extras["shap_values"])
    if not 0 <= k < len(values_all):
        raise IndexError(f"map {k} is not in a batch of {len(values_all)}")
    n = int(np.asarray(extras["n_segments"])[k])
    values = values_all[k, :n].astype(np.float64)
    if PER_SUPERPIXEL_FIELD in extras:
        se = np.asarray(extras[PER_SUPERPIXEL_FIELD])[k, :n].astype(np.float64)
        source = PER_SUPERPIXEL_FIELD
    elif PER_MAP_FIELD in extras:
        se = np.full(n, float(np.asarray(extras[PER_MAP_FIELD])[k]))
        source = PER_MAP_FIELD
    else:
        return None
    return SuperpixelNoise(distinguishable=distinguishable(values, se, z=z),
                           standard_error=se, source=source, z=float(z))


def change_against_noise(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """How far two KernelSHAP batches of the same images and superpixels differ, beside the
    reference's own sampling noise (e.g. bfloat16 coalition forwards against float32's).

    Parameters
    ----------
    reference, other : mapping of str -> ndarray
        Stored extras of two batches (:func:`superpixel_noise`'s ``extras``) on the same
        images with the same ``segments``; the reference's must hold ``estimated_error``
        (``sampler="leverage"``).

    Returns
    -------
    change : ndarray, float64, (n,)
        Per image, the RMS difference of the superpixel values.
    noise : ndarray, float64, (n,)
        Per image, the reference's RMS split-half error per superpixel.
    """
    if PER_MAP_FIELD not in reference:
        raise ValueError(f"the reference has no {PER_MAP_FIELD!r}: explain it with "
                         "sampler='leverage'")
    if not np.array_equal(reference["segments"], other["segments"]):
        raise ValueError("the two batches have different superpixels: compare maps of the "
                         "same images and segmentation")
    a = np.asarray(reference["shap_values"], dtype=np.float64)
    b = np.asarray(other["shap_values"], dtype=np.float64)
    change = np.sqrt(np.nanmean((a - b) ** 2, axis=1))
    return change, np.asarray(reference[PER_MAP_FIELD], dtype=np.float64)
