"""The suite as an ensemble: discrimination and calibration, beside its members.

The ensemble's probability for an image is the mean of the members'
``p_melanoma``. Calibration asks whether a predicted 30 % melanoma is melanoma
30 % of the time: the reliability curve (observed melanoma fraction against the
mean predicted probability, per bin), the Brier score (mean squared error of the
probability) and the expected calibration error (ECE: the bins' mean absolute
gap between observed fraction and predicted probability, weighted by bin size).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from dermviz.analysis.predictions import check_predictions, member_order

#: The row name of the ensemble (mean probability) in the tables below.
ENSEMBLE = "ensemble"
STRATEGIES = ("uniform", "quantile")


def ensemble_probabilities(table: pd.DataFrame) -> pd.DataFrame:
    """Per image: ``image_id, y_true, p_melanoma`` (the members' mean)."""
    checked = check_predictions(table)
    return checked.groupby(["image_id", "y_true"], sort=False, as_index=False).agg(
        p_melanoma=("p_melanoma", "mean"))


def _models(table: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, y_true, p)`` for each member, then the ensemble."""
    checked = check_predictions(table)
    if ENSEMBLE in set(checked["member"]):
        raise ValueError(f"a member may not be named {ENSEMBLE!r}: that name is the ensemble's")
    out = []
    for member in member_order(checked):
        part = checked[checked["member"] == member]
        out.append((member, part["y_true"].to_numpy(), part["p_melanoma"].to_numpy()))
    ens = ensemble_probabilities(checked)
    out.append((ENSEMBLE, ens["y_true"].to_numpy(), ens["p_melanoma"].to_numpy()))
    return out


def _bin_ids(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin index per probability, exactly as ``calibration_curve`` bins them."""
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p)


def _check_bins(n_bins: int, strategy: str) -> None:
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def expected_calibration_error(
    y_true: np.ndarray, p: np.ndarray, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """ECE: ``sum_b (n_b / n) * |fraction positive_b - mean p_b|`` over non-empty bins."""
    _check_bins(n_bins, strategy)
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or not len(y):
        raise ValueError(f"y_true and p must be 1-D, equal and non-empty: {y.shape}, {p.shape}")
    ids = _bin_ids(p, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins)
    gap = np.abs(np.bincount(ids, weights=y, minlength=n_bins)
                 - np.bincount(ids, weights=p, minlength=n_bins))
    return float(gap.sum() / total.sum())  # |sum y - sum p| per bin = n_b * |frac - mean p|


def reliability_curves(
    table: pd.DataFrame, *, n_bins: int = 10, strategy: str = "uniform"
) -> pd.DataFrame:
    """Reliability curves of each member and the ensemble, long format.

    Points come from :func:`sklearn.calibration.calibration_curve`; empty bins
    are left out, as it does. Columns: ``model, mean_predicted,
    fraction_melanoma, count`` (images in the bin).
    """
    _check_bins(n_bins, strategy)
    frames = []
    for name, y, p in _models(table):
        frac, mean_p = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
        counts = np.bincount(_bin_ids(p, n_bins, strategy), minlength=n_bins)
        frames.append(pd.DataFrame({"model": name, "mean_predicted": mean_p,
                                    "fraction_melanoma": frac, "count": counts[counts > 0]}))
    return pd.concat(frames, ignore_index=True)


def calibration_summary(
    table: pd.DataFrame, *, n_bins: int = 10, strategy: str = "uniform"
) -> pd.DataFrame:
    """AUC, Brier score and ECE of each member and the ensemble.

    Returns
    -------
    pandas.DataFrame
        One row per member (suite order), then :data:`ENSEMBLE`: ``model,
        is_ensemble, auc, brier, ece, n``. AUC is NaN when one class is absent.
    """
    _check_bins(n_bins, strategy)
    rows = []
    for name, y, p in _models(table):
        both = 0 < y.sum() < len(y)
        rows.append({
            "model": name, "is_ensemble": name == ENSEMBLE,
            "auc": float(roc_auc_score(y, p)) if both else math.nan,
            "brier": float(brier_score_loss(y, p, labels=[0, 1])),
            "ece": expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy),
            "n": len(y),
        })
    return pd.DataFrame(rows)
