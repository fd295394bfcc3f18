"""Every table of the Statistics page for one suite, from its stored predictions.

One call, so the page (and a notebook) get the same tables; each is a DataFrame that
exports as CSV. Nothing here loads a model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dermviz.analysis.agreement import error_jaccard, error_kappa
from dermviz.analysis.calibration import calibration_summary, reliability_curves
from dermviz.analysis.errors import (
    error_count_summary,
    image_summary,
    member_summary,
    members_wrong_distribution,
)
from dermviz.analysis.predictions import predictions_table


def suite_statistics(suite: Any, *, n_bins: int = 10) -> dict[str, pd.DataFrame]:
    """The suite's error, agreement and calibration tables.

    Returns
    -------
    dict of str to DataFrame
        ``members`` (confusion counts, AUC, rates per member), ``images`` (per image,
        worst first), ``counts`` (images wrong in exactly k members), ``error_summary``
        (mean and sd over members of each kind of error), ``kappa`` and ``jaccard``
        (members x members agreement of error sets), ``calibration`` (AUC, Brier, ECE per
        member and for the ensemble) and ``reliability`` (the curves, long format).
    """
    table = predictions_table(suite)
    if table.empty:
        raise ValueError(f"suite {getattr(suite, 'name', suite)!r} has no trained member with "
                         "stored hold-out predictions yet")
    return {
        "members": member_summary(table),
        "images": image_summary(table),
        "counts": members_wrong_distribution(table),
        "error_summary": error_count_summary(table),
        "kappa": error_kappa(table),
        "jaccard": error_jaccard(table),
        "calibration": calibration_summary(table, n_bins=n_bins),
        "reliability": reliability_curves(table, n_bins=n_bins),
    }
