"""The lesion-blind baselines of a :class:`~dermviz.data.Dataset`: pool against hold-out.

:func:`dataset_blind_features` reads the images (batch by batch, at the size the suite
uses) and returns plain arrays to cache; :func:`dataset_blind_report` turns them into the
baseline and acquisition tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.blind.baselines import acquisition_check, blind_baselines
from dermviz.analysis.blind.features import region_features
from dermviz.analysis.bootstrap import N_BOOTSTRAP
from dermviz.data.colour_constancy import shades_of_gray
from dermviz.data.dataset import Dataset
from dermviz.data.regions import DEFAULT_ELLIPSE_FRACTION, DEFAULT_MARGIN_FRACTION
from dermviz.data.synthetic import ARTEFACT_NAMES

__all__ = ["HISTO", "dataset_blind_features", "dataset_blind_report", "default_acquisition"]

#: ``dx_type`` of a histopathology-confirmed lesion (HAM10000).
HISTO = "histo"


def dataset_blind_features(dataset: Dataset, ids: Sequence[str], *, size: int,
                           batch_size: int = 64,
                           margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                           ellipse_fraction: float = DEFAULT_ELLIPSE_FRACTION,
                           colour_constancy: bool = False) -> dict:
    """Region colour statistics of ``ids`` (see
    :func:`~dermviz.analysis.blind.features.region_features`), read at ``size`` pixels.

    Images without a mask (``has_mask`` False) use the centred ellipse. With
    ``colour_constancy`` each image is first corrected by Shades of Gray
    (:func:`dermviz.data.colour_constancy.shades_of_gray`). Returns the same plain-array
    dict plus ``"image_id"`` (list of str).
    """
    ids = [str(i) for i in ids]
    if not ids:
        raise ValueError("ids is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parts = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        rows = dataset.rows(chunk)
        has_mask = rows["has_mask"].to_numpy(dtype=bool)
        masks = dataset.load_masks(chunk, size=size, missing="ones") if has_mask.any() else None
        images = dataset.load_images(chunk, size=size)
        if colour_constancy:
            images = shades_of_gray(images)
        parts.append(region_features(images, masks,
                                     has_mask=has_mask, margin_fraction=margin_fraction,
                                     ellipse_fraction=ellipse_fraction))
    out = dict(parts[0])
    for key in ("whole", "outside", "lesion", "uses_ellipse", "empty_outside"):
        out[key] = np.concatenate([p[key] for p in parts])
    out["image_id"] = ids
    return out


def default_acquisition(table: pd.DataFrame) -> dict[str, tuple[Any, str | None]]:
    """The acquisition targets a table supports: ``{column: (positive value, dx or None)}``.

    ``dx_type`` (HAM10000): ``"follow_up"`` among the naevi (every melanoma is
    histo-confirmed, so across classes the target would be the label); the synthetic
    artefact flags: True, across both classes.
    """
    out: dict[str, tuple[Any, str | None]] = {}
    if "dx_type" in table.columns:
        out["dx_type"] = ("follow_up", "nv")
    for name in ARTEFACT_NAMES:
        if name in table.columns:
            out[name] = (True, None)
    return out


def dataset_blind_report(dataset: Dataset, *, size: int = 128, max_train: int | None = None,
                         features: Mapping | None = None,
                         acquisition: Mapping[str, tuple[Any, str | None]] | None = None,
                         n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                         margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                         ellipse_fraction: float = DEFAULT_ELLIPSE_FRACTION,
                         colour_constancy: bool = False) -> dict:
    """Lesion-blind baselines and acquisition checks, pool against hold-out.

    Parameters
    ----------
    dataset : Dataset
        With a training pool and a hold-out.
    size : int, default 128
        The image size the features are read at (the suite's, ideally).
    max_train : int, optional
        Fit on a class-stratified random subset of the pool of at most this many images
        (for speed); default the whole pool.
    features : mapping, optional
        ``{"train": ..., "test": ...}`` from an earlier call (``report["features"]``), to
        skip reading the images; they must cover the same rows.
    acquisition : mapping, optional
        ``{column: (positive value, dx or None)}``: targets for the acquisition check,
        restricted to one diagnosis when ``dx`` is given. Default
        :func:`default_acquisition`. Targets without both values among the chosen rows
        of the pool and the hold-out are skipped, with a note.
    n_bootstrap, seed
        The intervals (:func:`dermviz.analysis.bootstrap.metrics_with_ci`) and the
        subset draw.
    margin_fraction, ellipse_fraction
        As for :func:`~dermviz.analysis.blind.features.region_features`.
    colour_constancy : bool, default False
        Correct every image by Shades of Gray before reading its features.

    Returns
    -------
    dict
        ``baselines`` (DataFrame, one row per region), ``baselines_histo`` (the same on the
        histo-confirmed hold-out images, or None without ``dx_type`` or enough of them),
        ``acquisition`` (DataFrame, one row per target and region ``"outside"``),
        ``notes`` (list of str), ``features`` (plain arrays, to cache and pass back),
        ``size``.
    """
    pool, holdout = dataset.pool, dataset.holdout
    if pool.empty or holdout.empty:
        raise ValueError(f"dataset {dataset.name!r} needs a training pool and a hold-out")
    pool = _subset(pool, max_train, seed)
    if features is None:
        options = {"size": size, "margin_fraction": margin_fraction,
                   "ellipse_fraction": ellipse_fraction, "colour_constancy": colour_constancy}
        features = {"train": dataset_blind_features(dataset, pool.index, **options),
                    "test": dataset_blind_features(dataset, holdout.index, **options)}
    for part, rows in (("train", pool), ("test", holdout)):
        if list(features[part]["image_id"]) != [str(i) for i in rows.index]:
            raise ValueError(f"features[{part!r}] does not cover the same images as this "
                             "dataset and max_train/seed")
    train, test = features["train"], features["test"]
    train_y, test_y = pool["y"].to_numpy(int), holdout["y"].to_numpy(int)
    options = {"n_bootstrap": n_bootstrap, "seed": seed}
    notes = []
    if np.any(test["uses_ellipse"]):
        notes.append(f"{int(np.sum(test['uses_ellipse']))} of {len(holdout)} hold-out images "
                     "have no lesion mask: a centred ellipse stood in for the lesion")
    baselines = blind_baselines(train, train_y, test, test_y, **options)
    histo = None
    if "dx_type" in holdout.columns:
        keep = (holdout["dx_type"] == HISTO).to_numpy()
        if len(np.unique(test_y[keep])) == 2:
            histo = blind_baselines(train, train_y, _rows(test, keep), test_y[keep], **options)
        else:
            notes.append("too few histo-confirmed hold-out images of both classes for the "
                         "histo-only baselines")
    acquisition = dict(default_acquisition(pool) if acquisition is None else acquisition)
    checks = []
    for column, (positive, dx) in acquisition.items():
        if column not in pool.columns:
            raise ValueError(f"acquisition column {column!r} is not in the dataset's table")
        tr = (pool["dx"] == dx).to_numpy() if dx else np.ones(len(pool), bool)
        te = (holdout["dx"] == dx).to_numpy() if dx else np.ones(len(holdout), bool)
        tr_t, te_t = (pool[column] == positive).to_numpy(), (holdout[column] == positive).to_numpy()
        if len(np.unique(tr_t[tr])) < 2 or len(np.unique(te_t[te])) < 2:
            notes.append(f"acquisition check {column} == {positive!r} skipped: the pool or the "
                         "hold-out lacks one of its values")
            continue
        check = acquisition_check(train, tr_t, test, te_t, train_rows=tr, test_rows=te,
                                  **options)
        checks.append({"target": f"{column} == {positive}", "within": dx or "all", **check})
    acq = pd.DataFrame(checks, columns=["target", "within", "region", "auc", "auc_low",
                                        "auc_high", "n_train", "n_test", "n_positive_test"])
    return {"baselines": baselines, "baselines_histo": histo, "acquisition": acq,
            "notes": notes, "features": features, "size": int(size)}


def _subset(pool: pd.DataFrame, max_train: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_train`` pool rows, each class sampled in proportion, in table order."""
    if max_train is None or len(pool) <= max_train:
        return pool
    if max_train < 2:
        raise ValueError(f"max_train must be >= 2, got {max_train}")
    rng = np.random.default_rng(seed)
    keep = []
    for _, part in pool.groupby("y"):
        n = max(1, round(max_train * len(part) / len(pool)))
        keep.extend(rng.choice(part.index.to_numpy(), size=min(n, len(part)), replace=False))
    return pool[pool.index.isin(keep)]


def _rows(features: Mapping, keep: np.ndarray) -> dict:
    """The per-image entries of a features dict restricted to ``keep``."""
    out = dict(features)
    for key in ("whole", "outside", "lesion", "uses_ellipse", "empty_outside"):
        out[key] = np.asarray(features[key])[keep]
    out["image_id"] = [i for i, k in zip(features["image_id"], keep, strict=True) if k]
    return out
