"""Logistic regressions on colour statistics, fitted on the pool and scored on the hold-out.

A lesion-blind baseline is what a model that never looks at the lesion scores: if one
fitted on the skin outside the lesion comes close to the suite, the suite's hold-out AUC
does not show that the suite looks at the lesion. The *acquisition check* asks the same
features to predict how an image was acquired or confirmed (``dx_type`` on HAM10000, an
artefact flag on the synthetic set): a high AUC there names the shortcut.

Each model is a scikit-learn pipeline: median imputation (a region can be empty), feature
standardisation, then an L2-regularised logistic regression.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dermviz.analysis.blind.features import REGIONS
from dermviz.analysis.bootstrap import DEFAULT_LEVEL, N_BOOTSTRAP, metrics_with_ci

__all__ = ["BASELINE_COLUMNS", "acquisition_check", "blind_baselines", "fit_baseline"]

BASELINE_COLUMNS = ("region", "auc", "auc_low", "auc_high", "n_train", "n_test",
                    "n_features", "n_ellipse_test", "n_empty_test")


def _check_xy(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{name}: features must be (n, d) and labels (n,), got {x.shape} "
                         f"and {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name}: labels must be 0 or 1")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{name}: both classes must be present (got only {np.unique(y)})")
    return x, y.astype(int)


def fit_baseline(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                 test_y: np.ndarray, *, c: float = 1.0, n_bootstrap: int = N_BOOTSTRAP,
                 level: float = DEFAULT_LEVEL, seed: int = 0) -> dict:
    """Fit one standardised logistic regression on the training rows; score the test rows.

    Parameters
    ----------
    train_x, test_x : ndarray, (n, d)
        Features (NaN allowed: imputed with the training medians).
    train_y, test_y : ndarray of int, (n,)
        0 or 1; both classes in each.
    c : float, default 1.0
        Inverse regularisation strength.
    n_bootstrap, level, seed
        The AUC's bootstrap interval (:func:`dermviz.analysis.bootstrap.metrics_with_ci`).

    Returns
    -------
    dict
        ``auc``, ``auc_low``, ``auc_high``, ``n_train``, ``n_test``, ``n_features`` and
        ``score`` (float64 (n_test,), the test rows' predicted probabilities).
    """
    train_x, train_y = _check_xy(train_x, train_y, "training set")
    test_x, test_y = _check_xy(test_x, test_y, "test set")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"training and test features differ in width: {train_x.shape[1]} "
                         f"vs {test_x.shape[1]}")
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c}")
    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                          StandardScaler(),
                          LogisticRegression(C=c, max_iter=2000))
    model.fit(train_x, train_y)
    score = model.predict_proba(test_x)[:, 1]
    ci = metrics_with_ci(test_y, score, n_bootstrap=n_bootstrap, level=level, seed=seed)
    return {"auc": ci["auc"], "auc_low": ci["auc_low"], "auc_high": ci["auc_high"],
            "n_train": int(len(train_y)), "n_test": int(len(test_y)),
            "n_features": int(train_x.shape[1]), "score": score.astype(np.float64)}


def _check_features(features: Mapping, name: str) -> int:
    missing = [r for r in REGIONS if r not in features]
    if missing:
        raise ValueError(f"{name} lacks region(s) {missing}; expected the output of "
                         "region_features")
    return len(features["whole"])


def blind_baselines(train: Mapping, train_y: np.ndarray, test: Mapping, test_y: np.ndarray,
                    *, regions: tuple[str, ...] = REGIONS, c: float = 1.0,
                    n_bootstrap: int = N_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                    seed: int = 0) -> pd.DataFrame:
    """The lesion-blind baselines: one logistic regression per region.

    Parameters
    ----------
    train, test : mapping
        :func:`~dermviz.analysis.blind.features.region_features` of the training pool
        and of the hold-out.
    train_y, test_y : ndarray of int, (n,)
        1 for melanoma, 0 for naevus.
    regions : tuple of str, default all of :data:`~dermviz.analysis.blind.features.REGIONS`
    c, n_bootstrap, level, seed
        As for :func:`fit_baseline`.

    Returns
    -------
    pandas.DataFrame
        One row per region, columns :data:`BASELINE_COLUMNS`: the hold-out AUC and its
        interval, the counts, and how many hold-out images used the stand-in ellipse
        (``n_ellipse_test``) or had no skin outside the grown lesion (``n_empty_test``).
    """
    _check_features(train, "train")
    _check_features(test, "test")
    unknown = [r for r in regions if r not in REGIONS]
    if unknown or not regions:
        raise ValueError(f"regions must be a non-empty subset of {REGIONS}, got {regions}")
    rows = []
    for region in regions:
        fit = fit_baseline(train[region], train_y, test[region], test_y, c=c,
                           n_bootstrap=n_bootstrap, level=level, seed=seed)
        fit.pop("score")
        empty = int(np.sum(test.get("empty_outside", 0))) if region == "outside" else 0
        rows.append({"region": region, **fit,
                     "n_ellipse_test": int(np.sum(test.get("uses_ellipse", 0))),
                     "n_empty_test": empty})
    return pd.DataFrame(rows, columns=list(BASELINE_COLUMNS))


def acquisition_check(train: Mapping, train_target: np.ndarray, test: Mapping,
                      test_target: np.ndarray, *, region: str = "outside",
                      train_rows: np.ndarray | None = None, test_rows: np.ndarray | None = None,
                      c: float = 1.0, n_bootstrap: int = N_BOOTSTRAP,
                      level: float = DEFAULT_LEVEL, seed: int = 0) -> dict:
    """How well one region's colour statistics predict a binary acquisition target.

    E.g. ``dx_type == "follow_up"`` among HAM10000's naevi (``train_rows``/``test_rows``
    select the naevi, so the label cannot stand in for the target), or an artefact flag
    on the synthetic set.

    Parameters
    ----------
    train, test : mapping
        :func:`~dermviz.analysis.blind.features.region_features` outputs.
    train_target, test_target : ndarray of bool or int, (n,)
        The target for every row of ``train`` and ``test``.
    region : str, default "outside"
    train_rows, test_rows : ndarray of bool, (n,), optional
        The rows to use (default all).
    c, n_bootstrap, level, seed
        As for :func:`fit_baseline`.

    Returns
    -------
    dict
        ``region``, ``auc``, ``auc_low``, ``auc_high``, ``n_train``, ``n_test``,
        ``n_positive_test`` (plain values, cacheable).
    """
    n_train, n_test = _check_features(train, "train"), _check_features(test, "test")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    picks = []
    for name, rows, n in (("train_rows", train_rows, n_train), ("test_rows", test_rows, n_test)):
        rows = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        if rows.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {rows.shape}")
        picks.append(rows)
    train_t = np.asarray(train_target).astype(int)
    test_t = np.asarray(test_target).astype(int)
    if train_t.shape != (n_train,) or test_t.shape != (n_test,):
        raise ValueError(f"targets must have one value per row: {train_t.shape} vs ({n_train},),"
                         f" {test_t.shape} vs ({n_test},)")
    fit = fit_baseline(np.asarray(train[region])[picks[0]], train_t[picks[0]],
                       np.asarray(test[region])[picks[1]], test_t[picks[1]], c=c,
                       n_bootstrap=n_bootstrap, level=level, seed=seed)
    return {"region": region, "auc": fit["auc"], "auc_low": fit["auc_low"],
            "auc_high": fit["auc_high"], "n_train": fit["n_train"], "n_test": fit["n_test"],
            "n_positive_test": int(test_t[picks[1]].sum())}
