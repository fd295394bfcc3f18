from __future__ import annotations

import numpy as np
import pytest

from dermviz.models.metrics import binary_metrics, choose_threshold


def test_metrics_melanoma_positive():
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1])
    m = binary_metrics(y, p, threshold=0.5)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 2, 1)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(8 / 9)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # AUC with the classes swapped is 1 - AUC: the trap of docs/protocol.md §14.9.
    assert binary_metrics(1 - y, p, threshold=0.5)["auc"] == pytest.approx(1 / 9)


def test_threshold_maximises_youden():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.9])
    t = choose_threshold(y, p)
    assert 0.3 < t <= 0.35
    m = binary_metrics(y, p, threshold=t)
    assert m["accuracy"] == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 2]), np.array([0.1, 0.2]), threshold=0.5)
    assert binary_metrics(np.array([1, 1]), np.array([0.1, 0.9]), threshold=0.5)["auc"] is None
    assert choose_threshold(np.array([1, 1]), np.array([0.2, 0.3])) == 0.5
