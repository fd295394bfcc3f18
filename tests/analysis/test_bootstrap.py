"""Tests for the bootstrap intervals of AUC, sensitivity and specificity."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dermviz.analysis.bootstrap import metrics_with_ci
from dermviz.models.metrics import binary_metrics


def _data(n: int = 200, shift: float = 0.3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)
    return y, np.clip(rng.random(2 * n) * 0.7 + shift * y, 0, 1)


def test_point_estimates_are_the_metrics_and_inside_their_intervals() -> None:
    y, p = _data()
    out = metrics_with_ci(y, p, threshold=0.6, n_bootstrap=500)
    ref = binary_metrics(y, p, threshold=0.6)
    for name in ("auc", "sensitivity", "specificity"):
        assert out[name] == pytest.approx(ref[name])
        assert out[f"{name}_low"] < out[name] < out[f"{name}_high"]
    assert (out["n"], out["n_melanoma"], out["n_naevus"]) == (400, 200, 200)
    assert metrics_with_ci(y, p, threshold=0.6, n_bootstrap=500) == out  # seeded


def test_the_bootstrap_auc_is_the_rank_auc() -> None:
    # With one resample equal to the data, the vectorised AUC must equal sklearn's (ties too).
    y, p = _data(n=30)
    p = np.round(p, 1)
    out = metrics_with_ci(y, p, n_bootstrap=2000, level=0.5)
    assert out["auc"] == pytest.approx(roc_auc_score(y, p))
    assert abs((out["auc_low"] + out["auc_high"]) / 2 - out["auc"]) < 0.03
    assert "sensitivity" not in out


def test_interval_width_shrinks_with_n_and_undefined_cases() -> None:
    small = metrics_with_ci(*_data(n=25), n_bootstrap=400)
    large = metrics_with_ci(*_data(n=400), n_bootstrap=400)
    assert (small["auc_high"] - small["auc_low"]) > 2 * (large["auc_high"] - large["auc_low"])
    one_class = metrics_with_ci(np.ones(5, int), np.linspace(0, 1, 5), threshold=0.5)
    assert one_class["auc"] is None and one_class["auc_low"] is None
    assert one_class["sensitivity"] == pytest.approx(0.6) and one_class["specificity"] is None
    none = metrics_with_ci(*_data(n=10), n_bootstrap=0)
    assert none["auc"] is not None and none["auc_low"] is None


def test_input_checks() -> None:
    y, p = _data(n=5)
    with pytest.raises(ValueError, match="equal length"):
        metrics_with_ci(y, p[:-1])
    with pytest.raises(ValueError, match="only 0"):
        metrics_with_ci(y + 1, p)
    with pytest.raises(ValueError, match="finite"):
        metrics_with_ci(y, np.where(y, np.nan, 0.1))
    with pytest.raises(ValueError, match="n_bootstrap"):
        metrics_with_ci(y, p, n_bootstrap=-1)
    with pytest.raises(ValueError, match="level"):
        metrics_with_ci(y, p, level=1.0)
