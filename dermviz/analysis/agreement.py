"""Do members make the same mistakes? Member-by-member agreement of errors.

Both matrices compare the members' error indicators (wrong or not, at each
member's own threshold) over the same hold-out images. High agreement means the
suite's errors are systematic (hard images), low agreement that they are
idiosyncratic (the members' seeds and splits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dermviz.analysis.predictions import wrong_matrix


def error_kappa(table: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa between every two members' error indicators.

    ``(p_o - p_e) / (1 - p_e)`` with observed agreement ``p_o`` and chance
    agreement ``p_e = p_a p_b + (1 - p_a)(1 - p_b)`` (``p_a``: member a's error
    rate): :func:`sklearn.metrics.cohen_kappa_score` for two labels, computed
    for all pairs at once (30 members: 435 pairs).

    Returns
    -------
    pandas.DataFrame
        Members x members, symmetric. NaN where kappa is undefined: chance
        agreement 1, i.e. both members always wrong or both never wrong.
    """
    frame = wrong_matrix(table)
    wrong = frame.to_numpy().astype(np.float64)
    n = len(wrong)
    both = wrong.T @ wrong / n  # fraction of images both get wrong
    rate = wrong.mean(axis=0)
    agree = 1.0 - rate[:, None] - rate[None, :] + 2.0 * both  # both wrong or both right
    chance = rate[:, None] * rate[None, :] + (1 - rate[:, None]) * (1 - rate[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(np.isclose(chance, 1.0), np.nan, (agree - chance) / (1.0 - chance))
    out = pd.DataFrame(kappa, index=frame.columns, columns=frame.columns)
    out.index.name = out.columns.name = "member"
    return out


def error_jaccard(table: pd.DataFrame) -> pd.DataFrame:
    """Jaccard index of every two members' sets of wrongly called images.

    ``|E_a & E_b| / |E_a | E_b|``; NaN when both members are never wrong
    (the index of two empty sets is undefined).
    """
    frame = wrong_matrix(table)
    wrong = frame.to_numpy().astype(np.int64)
    inter = wrong.T @ wrong
    sizes = wrong.sum(axis=0)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    out = pd.DataFrame(jac, index=frame.columns, columns=frame.columns)
    out.index.name = out.columns.name = "member"
    return out
