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
