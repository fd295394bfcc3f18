"""Binary metrics with melanoma as the positive class, and the operating threshold.

Used by training (threshold choice, member records) and read by the analysis layer."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve


def binary_metrics(y_true: np.ndarray, p_melanoma: np.ndarray, *, threshold: float) -> dict:
    """AUC, accuracy, sensitivity, specificity, confusion counts and Brier score.

    ``y_true`` is 1 for melanoma; a case is called melanoma when
    ``p_melanoma >= threshold``. AUC is None when only one class is present.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_melanoma, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y_true and p_melanoma must be 1-D of equal length: {y.shape}, {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 (naevus) and 1 (melanoma)")
    pred = (p >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "accuracy": (tp + tn) / len(y) if len(y) else None,
        "sensitivity": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
        "tp": tp, "tn": tn, "fp": fp, "fn": fn,
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "threshold": float(threshold),
        "n": int(len(y)),
    }


def choose_threshold(y_true: np.ndarray, p_melanoma: np.ndarray) -> float:
    """Operating threshold maximising Youden's J (sensitivity + specificity - 1).

    Chosen on validation data: with balanced class weights 0.5 is the wrong
    threshold (docs/stack.md §6). Falls back to 0.5 when the data hold
    a single class.
    """
    y = np.asarray(y_true).astype(int)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, np.asarray(p_melanoma, dtype=float))
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thresholds[best], 0.0, 1.0))
