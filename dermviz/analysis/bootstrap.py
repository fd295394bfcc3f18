"""Bootstrap confidence intervals of AUC, sensitivity and specificity on a hold-out.

Images are resampled with replacement *within each class*, so every resample keeps the
hold-out's numbers of melanomas and naevi (and an AUC); the interval is the percentile
interval of the resampled metrics. The point estimates are
:func:`dermviz.models.metrics.binary_metrics`'.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from dermviz.models.metrics import binary_metrics

__all__ = ["DEFAULT_LEVEL", "N_BOOTSTRAP", "metrics_with_ci"]

#: Resamples drawn for an interval.
N_BOOTSTRAP = 1000

#: The intervals' coverage.
DEFAULT_LEVEL = 0.95


def metrics_with_ci(y_true: np.ndarray, score: np.ndarray, *, threshold: float | None = None,
                    n_bootstrap: int = N_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                    seed: int = 0) -> dict[str, float | int | None]:
    """AUC (and, given a threshold, sensitivity and specificity) with bootstrap intervals.

    Parameters
    ----------
    y_true : ndarray, (n,)
        1 for melanoma, 0 for naevus.
    score : ndarray, (n,)
        Higher means more melanoma-like: any score without a threshold, a probability in
        [0, 1] with one.
    threshold : float, optional
        The operating threshold (``score >= threshold`` is called melanoma); without one,
        only the AUC is given.
    n_bootstrap : int, default 1000
        Resamples; 0 gives the point estimates with no interval.
    level : float, default 0.95
        The intervals' coverage, in (0, 1).
    seed : int, default 0

    Returns
    -------
    dict
        ``n``, ``n_melanoma``, ``n_naevus``; ``auc``, ``auc_low``, ``auc_high`` and, with a
        threshold, ``sensitivity``, ``specificity`` and their ``_low``/``_high``. A metric
        that a class's absence leaves undefined, and every interval with ``n_bootstrap=0``,
        is None.
    """
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"y_true and score must be 1-D of equal length: {y.shape}, {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 (naevus) and 1 (melanoma)")
    if not np.isfinite(s).all():
        raise ValueError("score must be finite")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) \
            or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y = y.astype(int)
    names = ["auc"] if threshold is None else ["auc", "sensitivity", "specificity"]
    if threshold is None:
        both = len(np.unique(y)) == 2
        point = {"auc": float(roc_auc_score(y, s)) if both else None}
    else:
        point = binary_metrics(y, s, threshold=float(threshold))
    out: dict[str, float | int | None] = {
        "n": int(len(y)), "n_melanoma": int(y.sum()), "n_naevus": int(len(y) - y.sum())}
    draws = _resampled(y, s, threshold, names, n_bootstrap, seed)
    for k, name in enumerate(names):
        out[name] = point[name]
        low = high = None
        column = draws[:, k][np.isfinite(draws[:, k])] if len(draws) else draws[:, k]
        if point[name] is not None and len(column):
            tail = 100 * (1 - level) / 2
            low, high = (float(v) for v in np.percentile(column, [tail, 100 - tail]))
        out[f"{name}_low"], out[f"{name}_high"] = low, high
    return out


def _resampled(y: np.ndarray, s: np.ndarray, threshold: float | None, names: list[str],
               n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, len(names)) metrics of class-stratified resamples (NaN: undefined).

    Vectorised: the AUC of each resample is the Mann-Whitney statistic from its ranks."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.full((n_bootstrap, len(names)), np.nan)
    if n_bootstrap == 0:
        return out
    sp = s[rng.choice(pos, (n_bootstrap, len(pos)))] if len(pos) else np.empty((n_bootstrap, 0))
    sn = s[rng.choice(neg, (n_bootstrap, len(neg)))] if len(neg) else np.empty((n_bootstrap, 0))
    if len(pos) and len(neg):
        ranks = rankdata(np.concatenate([sp, sn], axis=1), axis=1)
        n1, n0 = len(pos), len(neg)
        out[:, 0] = (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    if threshold is not None:
        if len(pos):
            out[:, 1] = (sp >= threshold).mean(axis=1)
        if len(neg):
            out[:, 2] = (sn < threshold).mean(axis=1)
    return out
