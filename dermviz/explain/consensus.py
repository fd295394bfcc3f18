"""Do a suite's members look at the same place? The consensus of one method's maps.

For one image and one method, the members' maps are stacked ``(members, H, W)`` and
summarised by :func:`map_consensus`:

- each map is first **normalised on its own** (:func:`normalise_members`): members
  differ in scale (a CAM's peak, a SHAP map's units depend on the member's logits), and
  without this one loud member would make the mean and the spread. A non-negative map
  (CAM) is divided by its maximum, into [0, 1]; a signed map (SHAP) by its largest
  absolute value, into [-1, 1], keeping its sign. An all-zero map stays all zero (the
  member found no evidence, which is information, not an error).
- the **mean** map and the **spread** map (the members' standard deviation per pixel,
  ``ddof=0``: the spread of these members, not an estimate for others). For signed
  maps both are of the signed values, so two members with opposite signs average to
  zero and spread widely.
- the **disagreement** map, ``spread / (bound + floor)`` in [0, 1): the spread as a
  share of the largest spread members can have at that mean (``bound``: members split
  between the ends of the scale, ``sqrt(mean (1 - mean))`` on [0, 1],
  ``sqrt(1 - mean**2)`` on [-1, 1]). 0 where all members agree; about 0.8 or more
  where they split all-or-nothing (two members, one at 1 and one at 0: 0.83).
  ``floor`` keeps faint background noise (every member near zero, a tiny bound)
  from counting as disagreement.
- the **pairwise agreement** of every two members: Spearman's rank correlation of the
  raw maps (scale-free) and SSIM of the normalised maps (signed ones mapped to [0, 1]
  with 0 at 0.5). A pair with a constant map has no rank correlation (NaN); the
  summary's means skip those pairs and say how many there were.
- ``skip_degenerate=True`` leaves empty or constant maps
  (:func:`dermviz.explain.degenerate.is_degenerate_map`) out of everything and names
  them in :attr:`Consensus.skipped`: then every pair has a Spearman, and no statistic is
  NaN. (By default they count, as "no evidence", in the mean and spread.)

References
----------
.. [1] Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error
   visibility to structural similarity", IEEE TIP 13(4), 2004.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from skimage.metrics import structural_similarity

from dermviz.explain.degenerate import DEGENERATE_ATOL, is_degenerate_map

#: Default ``floor`` of the disagreement map, on the normalised scale (peak 1).
DISAGREEMENT_FLOOR = 0.1


@dataclass(frozen=True)
class Consensus:
    """The consensus of several members' maps of one image (:func:`map_consensus`).

    Attributes
    ----------
    members : tuple of str
        The members, in the order of the stack.
    signed : bool
        Whether the maps were treated as signed (SHAP).
    mean, spread, disagreement : ndarray, float64, (H, W)
        The normalised maps' mean and standard deviation per pixel, and
        ``spread / (bound + floor)`` (module docstring).
    pairs : DataFrame
        One row per pair of members: ``member_a``, ``member_b``, ``spearman``, ``ssim``.
    constant : tuple of str
        Members whose map is constant (no rank correlation with anyone).
    skipped : tuple of str
        Members left out because their map is empty or constant
        (``skip_degenerate=True``); not in ``members``.
    """

    members: tuple[str, ...]
    signed: bool
    mean: np.ndarray
    spread: np.ndarray
    disagreement: np.ndarray
    pairs: pd.DataFrame
    constant: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    @property
    def skipped_note(self) -> str:
        """A sentence naming the skipped members, or ``""`` when none was skipped."""
        if not self.skipped:
            return ""
        n = len(self.skipped)
        return (f"{n} member{'s' if n > 1 else ''} skipped (empty or constant map): "
                f"{', '.join(self.skipped)}.")

    @property
    def spread_max(self) -> float:
        """The largest spread possible on the normalised scale (members split between its
        ends): 0.5 for [0, 1] maps, 1 for signed ones; for drawing the spread map."""
        return 1.0 if self.signed else 0.5

    @property
    def mean_spearman(self) -> float:
        """Mean pairwise Spearman over the pairs where it is defined (NaN if none is)."""
        return _nanmean(self.pairs["spearman"])

    @property
    def mean_ssim(self) -> float:
        """Mean pairwise SSIM of the normalised maps."""
        return _nanmean(self.pairs["ssim"])

    def disagreement_share(self, *, level: float = 0.5) -> float:
        """Share of pixels whose disagreement exceeds ``level`` (default: the spread is
        over half the largest possible at that mean)."""
        if not 0.0 <= level < 1.0:
            raise ValueError(f"level must be in [0, 1), got {level}")
        return float((self.disagreement > level).mean())

    def summary(self) -> dict[str, float | int]:
        """The numbers the case page shows: members, mean Spearman and SSIM, the share
        of disagreeing pixels, how many pairs had no Spearman (a constant map) and how
        many members were skipped (``skip_degenerate``)."""
        return {
            "members": len(self.members),
            "mean_spearman": self.mean_spearman,
            "mean_ssim": self.mean_ssim,
            "disagreement_share": self.disagreement_share(),
            "pairs_without_spearman": int(self.pairs["spearman"].isna().sum()),
            "skipped": len(self.skipped),
        }


def _nanmean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else float("nan")


def _check_stack(maps: np.ndarray, *, signed: bool) -> np.ndarray:
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be a stack (members, H, W), got shape {maps.shape}")
    if maps.shape[0] < 2:
        raise ValueError(f"a consensus needs the maps of at least 2 members, got {maps.shape[0]}")
    if min(maps.shape[1:]) < 7:
        raise ValueError(f"maps must be at least 7x7 pixels (the SSIM window), got "
                         f"{maps.shape[1:]}")
    if not np.issubdtype(maps.dtype, np.number) or np.issubdtype(maps.dtype, np.complexfloating):
        raise ValueError(f"maps must be real numbers, got dtype {maps.dtype}")
    maps = maps.astype(np.float64)
    bad = [k for k in range(len(maps)) if not np.isfinite(maps[k]).all()]
    if bad:
        raise ValueError(f"maps at positions {bad} hold NaN or infinite values; drop or "
                         "recompute those members' maps first")
    if not signed and (maps < 0).any():
        raise ValueError("unsigned maps (CAMs) must be non-negative; pass signed=True for "
                         "signed maps (SHAP)")
    return maps


def normalise_members(maps: np.ndarray, *, signed: bool) -> np.ndarray:
    """Each member's map on its own scale: divided by its largest absolute value.

    Parameters
    ----------
    maps : ndarray, (members, H, W)
        One map per member, finite; non-negative unless ``signed``.
    signed : bool
        Signed maps (SHAP) land in [-1, 1] with their sign kept; others in [0, 1].

    Returns
    -------
    ndarray, float64, (members, H, W)
        All-zero maps stay all zero.
    """
    maps = _check_stack(maps, signed=signed)
    peak = np.abs(maps).max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def pairwise_agreement(
    maps: np.ndarray, *, signed: bool, members: Sequence[str] | None = None
) -> pd.DataFrame:
    """Spearman (raw maps) and SSIM (normalised maps) for every two members.

    Parameters
    ----------
    maps : ndarray, (members, H, W)
    signed : bool
        Whether the maps are signed (SHAP): their SSIM is taken on ``(m + 1) / 2``.
    members : sequence of str, optional
        Names of the stack's members; default ``"0"``, ``"1"``, ...

    Returns
    -------
    DataFrame
        ``member_a, member_b, spearman, ssim``; ``spearman`` is NaN for a pair where
        either map is constant.
    """
    maps = _check_stack(maps, signed=signed)
    names = _names(members, len(maps))
    scaled = normalise_members(maps, signed=signed)
    if signed:
        scaled = (scaled + 1.0) / 2.0
    flat = maps.reshape(len(maps), -1)
    constant = np.ptp(flat, axis=1) == 0
    # Pearson of the ranks is Spearman: rank every map once, not once per pair.
    ranks = rankdata(flat, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(ranks, axis=1)
    rows = []
    for i, j in combinations(range(len(maps)), 2):
        rho = (float(ranks[i] @ ranks[j] / (norms[i] * norms[j]))
               if not (constant[i] or constant[j]) else float("nan"))
        ssim = float(structural_similarity(scaled[i], scaled[j], data_range=1.0))
        rows.append({"member_a": names[i], "member_b": names[j], "spearman": rho, "ssim": ssim})
    return pd.DataFrame(rows, columns=["member_a", "member_b", "spearman", "ssim"])


def map_consensus(
    maps: np.ndarray,
    *,
    signed: bool,
    members: Sequence[str] | None = None,
    floor: float = DISAGREEMENT_FLOOR,
    skip_degenerate: bool = False,
    atol: float = DEGENERATE_ATOL,
) -> Consensus:
    """Mean, spread, disagreement and pairwise agreement of one method's maps of one image
    over a suite's members.

    Parameters
    ----------
    maps : ndarray, (members, H, W)
        One map per member (at least 2), all of the same method and image, finite.
    signed : bool
        True for signed maps (KernelSHAP): mean and spread of the signed values.
    members : sequence of str, optional
        Names of the stack's members (for the pairs table); default ``"0"``, ``"1"``...
    floor : float
        Added to the disagreement map's denominator, on the normalised scale (> 0).
    skip_degenerate : bool
        Leave out the maps that are empty or constant (within ``atol``), named in
        :attr:`Consensus.skipped`; at least 2 maps must remain.
    atol : float
        Tolerance of :func:`~dermviz.explain.degenerate.is_degenerate_map`.

    Returns
    -------
    Consensus

    Raises
    ------
    ValueError
        Fewer than 2 maps (or fewer than 2 non-degenerate ones with
        ``skip_degenerate``, naming the skipped members), not a 3-D stack, NaN or
        infinite values (naming the positions), negative values with ``signed=False``,
        a bad ``floor`` or names.

    Examples
    --------
    >>> m = np.random.default_rng(0).random((16, 16))
    >>> c = map_consensus(np.stack([m, 2 * m]), signed=False)
    >>> float(c.spread.max()), round(c.mean_spearman, 6)
    (0.0, 1.0)
    """
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a finite number > 0, got {floor}")
    stack = _check_stack(maps, signed=signed)
    names = _names(members, len(stack))
    skipped: tuple[str, ...] = ()
    if skip_degenerate:
        flat = [is_degenerate_map(m, atol=atol) for m in stack]
        skipped = tuple(n for n, f in zip(names, flat, strict=True) if f)
        if len(names) - len(skipped) < 2:
            raise ValueError(f"a consensus needs the maps of at least 2 members; "
                             f"{len(skipped)} of {len(names)} are empty or constant "
                             f"({', '.join(skipped)})")
        names = [n for n, f in zip(names, flat, strict=True) if not f]
        stack = stack[~np.asarray(flat)]
    scaled = normalise_members(stack, signed=signed)
    mean = scaled.mean(axis=0)
    spread = scaled.std(axis=0)
    bound = np.sqrt(np.clip(1.0 - mean**2 if signed else mean * (1.0 - mean), 0.0, None))
    disagreement = spread / (bound + floor)
    with warnings.catch_warnings():  # a constant pair: NaN by design, said in `constant`
        warnings.simplefilter("ignore", RuntimeWarning)
        pairs = pairwise_agreement(stack, signed=signed, members=names)
    constant = tuple(n for n, m in zip(names, stack, strict=True) if np.ptp(m) == 0)
    return Consensus(members=tuple(names), signed=signed, mean=mean, spread=spread,
                     disagreement=disagreement, pairs=pairs, constant=constant,
                     skipped=skipped)


def degenerate_members(
    maps: np.ndarray, *, members: Sequence[str] | None = None, atol: float = DEGENERATE_ATOL
) -> tuple[str, ...]:
    """The members whose map in a stack ``(members, H, W)`` is empty or constant: what
    :func:`map_consensus` skips with ``skip_degenerate=True`` (ask first when fewer than
    2 members may remain)."""
    stack = np.asarray(maps)
    if stack.ndim != 3:
        raise ValueError(f"maps must be a stack (members, H, W), got shape {stack.shape}")
    names = _names(members, len(stack))
    return tuple(n for n, m in zip(names, stack, strict=True) if is_degenerate_map(m, atol=atol))


def _names(members: Sequence[str] | None, n: int) -> list[str]:
    if members is None:
        return [str(k) for k in range(n)]
    names = [str(m) for m in members]
    if len(names) != n:
        raise ValueError(f"{len(names)} member names for {n} maps")
    if len(set(names)) != n:
        raise ValueError(f"member names must be unique, got {names}")
    return names
