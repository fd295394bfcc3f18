"""Saliency maps scored against the evidence masks of the synthetic evidence benchmark.

In the evidence mode of the synthetic data set (docs/evidence-benchmark.md) the class is
drawn as local structures whose pixels are known, so the evidence mask is the ground
truth a map should find. The scores are the localization scores of
:mod:`dermviz.analysis.localization` (relevance mass, relevance rank accuracy, pointing
game) with the evidence mask in place of the lesion mask, beside the same baselines
(chance = the mask's share of the image, and the centred Gaussian); ``mass_x_chance`` says
how many times chance the map's mass on the evidence is. The perturbation with the
counterfactual's pixels is :func:`dermviz.evaluation.counterfactual.counterfactual_drop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dermviz.analysis.localization import localization_table
from dermviz.evaluation.baselines import bootstrap_ci


def evidence_table(
    maps: np.ndarray,
    evidence_masks: np.ndarray,
    *,
    image_ids: Sequence[str],
    signed: bool = False,
    labels: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Every localization score of ``maps`` against the evidence masks, per image.

    Parameters
    ----------
    maps : numpy.ndarray
        (n, H, W) saliency maps at image size.
    evidence_masks : numpy.ndarray
        ``bool`` (n, H, W) evidence masks
        (:func:`dermviz.data.synthetic.load_evidence_masks`, key ``"evidence"``).
    image_ids : sequence of str
        One id per image.
    signed : bool
        True for signed maps (SHAP): their positive part is scored.
    labels : mapping, optional
        Constant columns to add (member, method...).

    Returns
    -------
    pandas.DataFrame
        :func:`~dermviz.analysis.localization.localization_table`'s columns (``chance``,
        each score and its ``_gaussian`` baseline) plus ``mass_x_chance``.

    Raises
    ------
    ValueError
        For an image whose evidence mask is empty (nothing to find), and as
        :func:`~dermviz.analysis.localization.localization_table`.
    """
    masks = np.asarray(evidence_masks)
    if masks.ndim == 3 and not masks.any(axis=(1, 2)).all():
        empty = [image_ids[i] for i in np.flatnonzero(~masks.any(axis=(1, 2)))]
        raise ValueError(f"empty evidence mask for {empty[:5]}: score evidence-mode images")
    table = localization_table(maps, masks, image_ids=image_ids, signed=signed, labels=labels)
    table["mass_x_chance"] = table["mass"] / table["chance"]
    return table


def evidence_mass_by_stage(
    maps: np.ndarray,
    evidence_masks: np.ndarray,
    *,
    stage_names: Sequence[str],
    signed: bool = False,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Sanity meets truth: per stage of a randomization study, the maps' mass on the
    evidence in multiples of chance.

    A map that explains the trained model should put several times chance on the
    evidence (where the model uses it); once the model's layers are randomized, nothing
    is left to explain, and the mass should fall to chance (1x).

    Parameters
    ----------
    maps : numpy.ndarray
        (S, n, H, W): each stage's maps of the same n images (stage 0: the trained model).
    evidence_masks : numpy.ndarray
        ``bool`` (n, H, W) evidence masks of those images.
    stage_names : sequence of str
        S names, in order.
    signed : bool
        True for signed maps (SHAP): their positive part is scored.
    n_bootstrap, seed
        The bootstrap over images of the mean's 95% interval.

    Returns
    -------
    pandas.DataFrame
        One row per stage: ``stage``, ``stage_name``, ``n`` (images with a non-zero map),
        ``mass`` (mean share of mass on the evidence), ``chance`` (mean evidence share of
        the image), ``mass_x_chance`` (mean of the per-image ratio) with ``ci_low`` and
        ``ci_high``, and ``gaussian_x_chance``: what the centred Gaussian, a map that never
        looks at the image, gets on the same images (the evidence lies inside a lesion
        near the centre, so it is above 1x; the same on every row).
    """
    maps = np.asarray(maps)
    if maps.ndim != 4:
        raise ValueError(f"maps must be (stages, n, H, W), got shape {maps.shape}")
    if len(stage_names) != maps.shape[0]:
        raise ValueError(f"{len(stage_names)} stage names for {maps.shape[0]} stages")
    ids = [str(i) for i in range(maps.shape[1])]
    rows = []
    for k, (name, stage_maps) in enumerate(zip(stage_names, maps, strict=True)):
        table = evidence_table(stage_maps, evidence_masks, image_ids=ids, signed=signed)
        mean, low, high = bootstrap_ci(table["mass_x_chance"].to_numpy(),
                                       n_bootstrap=n_bootstrap, seed=seed)
        rows.append({"stage": k, "stage_name": str(name),
                     "n": int(table["mass"].notna().sum()), "mass": float(table["mass"].mean()),
                     "chance": float(table["chance"].mean()), "mass_x_chance": mean,
                     "ci_low": low, "ci_high": high,
                     "gaussian_x_chance": float((table["mass_gaussian"]
                                                 / table["chance"]).mean())})
    return pd.DataFrame(rows)
