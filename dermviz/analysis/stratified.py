"""Hold-out metrics broken down by a metadata column, each cell with its interval and n.

An AUC over the whole hold-out can hide that a model only separates the images that were
acquired differently: on HAM10000 every melanoma is histo-confirmed while most naevi are
``follow_up`` images (docs/confounders.md). :func:`stratified_metrics` gives AUC,
sensitivity and specificity per value of ``dx_type``, ``localization``, ``sex``, age bins
or the synthetic set's artefact flags, per member and for the ensemble, and the
histo-confirmed-only view is one argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dermviz.analysis.bootstrap import DEFAULT_LEVEL, N_BOOTSTRAP, metrics_with_ci
from dermviz.analysis.calibration import ENSEMBLE, ensemble_probabilities
from dermviz.analysis.predictions import check_predictions, member_order

__all__ = ["AGE_BINS", "HISTO", "MISSING", "STRATIFIED_COLUMNS", "histo_confirmed",
           "stratified_metrics", "strata"]

#: Default age bins (years; left-closed): under 30, 30-44, 45-59, 60-74, 75 and over.
AGE_BINS = (0.0, 30.0, 45.0, 60.0, 75.0, np.inf)

#: The stratum of images whose value is missing, so the strata always add up.
MISSING = "missing"

#: ``dx_type`` of a histopathology-confirmed lesion.
HISTO = "histo"

STRATIFIED_COLUMNS = (
    "model", "column", "stratum", "n", "n_melanoma", "n_naevus",
    "auc", "auc_low", "auc_high", "sensitivity", "sensitivity_low", "sensitivity_high",
    "specificity", "specificity_low", "specificity_high",
)


def strata(values: pd.Series, *, bins: Sequence[float] | None = None) -> pd.Series:
    """The stratum label of each value: the value itself as a string, its bin
    (``"30-44"``, ``"75+"``) when ``bins`` are given, and :data:`MISSING` for NaN/None."""
    if bins is None:
        out = values.astype(object).map(lambda v: MISSING if pd.isna(v) else str(v))
        return out.astype(str)
    edges = [float(b) for b in bins]
    if len(edges) < 2 or any(b >= a for a, b in zip(edges[1:], edges[:-1], strict=True)):
        raise ValueError(f"bins must be at least two increasing edges, got {list(bins)}")
    numbers = pd.to_numeric(values, errors="coerce")
    labels = [_bin_label(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    cut = pd.cut(numbers, edges, right=False, labels=labels)
    return cut.astype(object).where(cut.notna(), MISSING).astype(str)


def _bin_label(lo: float, hi: float) -> str:
    if np.isinf(hi):
        return f"{lo:g}+"
    return f"{lo:g}-{hi - 1:g}" if float(lo).is_integer() and float(hi).is_integer() \
        else f"[{lo:g}, {hi:g})"


def histo_confirmed(metadata: pd.DataFrame) -> pd.Series:
    """Per image, whether its diagnosis was confirmed by histopathology (``dx_type``)."""
    if "dx_type" not in metadata.columns:
        raise ValueError("the metadata has no dx_type column, so histo-confirmed images "
                         "cannot be told apart (HAM10000 has one; the synthetic set does not)")
    return metadata["dx_type"].astype(str).str.strip() == HISTO


def stratified_metrics(predictions: pd.DataFrame, metadata: pd.DataFrame, *, by: str,
                       bins: Sequence[float] | None = None, histo_only: bool = False,
                       ensemble: bool = True, n_bootstrap: int = N_BOOTSTRAP,
                       level: float = DEFAULT_LEVEL, seed: int = 0) -> pd.DataFrame:
    """AUC, sensitivity and specificity per stratum of a metadata column.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Tidy hold-out predictions (:func:`dermviz.analysis.predictions.predictions_table`).
    metadata : pandas.DataFrame
        One row per image, with ``image_id`` as a column or the index (a dataset's
        ``table``); every predicted image must be in it.
    by : str
        The column to stratify by (``"dx_type"``, ``"localization"``, ``"sex"``, ``"age"``,
        an artefact flag).
    bins : sequence of float, optional
        Edges for a numeric column; ``by="age"`` defaults to :data:`AGE_BINS`.
    histo_only : bool, default False
        Keep only the histo-confirmed images (:func:`histo_confirmed`).
    ensemble : bool, default True
        Add the ensemble (the members' mean probability, at the mean of their thresholds).
    n_bootstrap, level, seed
        The intervals (:func:`dermviz.analysis.bootstrap.metrics_with_ci`).

    Returns
    -------
    pandas.DataFrame
        :data:`STRATIFIED_COLUMNS`; one row per (model, stratum), members in suite order
        then the ensemble, strata sorted. Per model the strata's ``n`` add up to the
        images kept. A metric that a stratum's single class leaves undefined is None.
    """
    checked = check_predictions(predictions)
    if not isinstance(metadata, pd.DataFrame):
        raise TypeError(f"metadata must be a pandas DataFrame, got {type(metadata).__name__}")
    meta = metadata.set_index("image_id", drop=False) if "image_id" in metadata.columns \
        else metadata
    if by not in meta.columns:
        raise ValueError(f"metadata has no column {by!r}; columns: {list(meta.columns)}")
    images = checked["image_id"].drop_duplicates()
    absent = images[~images.isin(meta.index.astype(str))]
    if len(absent):
        raise ValueError(f"{len(absent)} predicted image(s) are not in the metadata: "
                         f"{list(absent[:5])}")
    meta = meta.set_axis(meta.index.astype(str))
    if bins is None and by == "age":
        bins = AGE_BINS
    label = strata(meta[by], bins=bins)
    if histo_only:
        keep = set(meta.index[histo_confirmed(meta).to_numpy()])
        checked = checked[checked["image_id"].isin(keep)]
        if checked.empty:
            raise ValueError("no predicted image is histo-confirmed")
    rows = []
    for model, part in _models(checked, ensemble=ensemble):
        cells = label.loc[part["image_id"]].to_numpy()
        for stratum in sorted(set(cells)):
            here = cells == stratum
            cell = metrics_with_ci(part["y_true"].to_numpy()[here],
                                   part["p_melanoma"].to_numpy()[here],
                                   threshold=float(part["threshold"].iloc[0]),
                                   n_bootstrap=n_bootstrap, level=level, seed=seed)
            rows.append({"model": model, "column": by, "stratum": stratum, **cell})
    return pd.DataFrame(rows, columns=list(STRATIFIED_COLUMNS))


def _models(checked: pd.DataFrame, *, ensemble: bool) -> list[tuple[str, pd.DataFrame]]:
    """``(name, rows)`` per member, then the ensemble (mean p at the mean threshold)."""
    out = [(m, checked[checked["member"] == m]) for m in member_order(checked)]
    if ensemble:
        if ENSEMBLE in dict(out):
            raise ValueError(f"a member may not be named {ENSEMBLE!r}: that name is the "
                             "ensemble's")
        mean = ensemble_probabilities(checked)
        mean["threshold"] = float(checked.groupby("member")["threshold"].first().mean())
        out.append((ENSEMBLE, mean))
    return out
