"""Do members make the same mistakes? Member-by-member agreement of errors.

Both matrices compare the members' error indicators (wrong or not, at each
member's own threshold) over the same hold-out images. High agreement means the
suite's errors are systematic (hard images), low agreement that they are
idiosyncratic (the members' seeds and splits).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from dermviz.analysis.predictions import wrong_matrix


def error_kappa(table: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa between every two members' error indicators.

    Returns
    -------
    pandas.DataFrame
        Members x members, symmetric. Kappa is NaN where it is undefined: both
        members' indicators constant (e.g. neither ever wrong), as chance
        agreement is then 1.
    """
    wrong = wrong_matrix(table)
    members = list(wrong.columns)
    out = pd.DataFrame(np.nan, index=members, columns=members)
    values = wrong.to_numpy()
    for i in range(len(members)):
        for j in range(i, len(members)):
            x, y = values[:, i], values[:, j]
            if len(np.unique(np.concatenate([x, y]))) < 2:
                kappa = math.nan  # a single label overall: kappa is 0/0
            else:
                kappa = float(cohen_kappa_score(x, y, labels=[False, True]))
            out.iloc[i, j] = out.iloc[j, i] = kappa
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
