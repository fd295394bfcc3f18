"""ISIC 2019 training images as extra training data, with the paper's hold-out kept out.

ISIC 2019's training set (25,331 images) contains HAM10000 whole, under the same
``ISIC_xxxxxxx`` image ids and ``HAM_xxxxxxx`` lesion ids, besides BCN20000 and MSK images.
Adding it to a HAM10000 suite's training pool therefore risks putting the paper's hold-out
lesions back into training. :func:`load_isic2019` recognises them and drops them.

Layout understood (``root``):

- ``ISIC_2019_Training_GroundTruth.csv``: ``image`` and one-hot diagnosis columns
  (``MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK``, values 0.0/1.0);
- ``ISIC_2019_Training_Metadata.csv`` (optional): ``image``, ``lesion_id`` (may be empty),
  ``age_approx``, ``anatom_site_general``, ``sex``;
- images in ``ISIC_2019_Training_Input/`` (or ``root`` itself), ``<image>.jpg``; some ids
  carry a ``_downsampled`` suffix, which is part of the id.

Steps, in the ground-truth file's row order: keep ``MEL`` and ``NV`` rows (exactly one
diagnosis set); join the metadata; keep the first image per ``lesion_id`` where one exists
(an image without a lesion id stands for its own lesion); drop every row whose image id or
lesion id belongs to ``exclude`` (the HAM10000 hold-out); check the files exist.
:func:`add_training_data` then appends what is left to a HAM10000 data set's training pool,
skipping images and lesions that the pool already holds.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.data.dataset import LABELS, REQUIRED_COLUMNS, Dataset
from dermviz.data.images import read_mask, read_rgb

GROUND_TRUTH_FILE = "ISIC_2019_Training_GroundTruth.csv"
METADATA_FILE = "ISIC_2019_Training_Metadata.csv"
IMAGES_DIR = "ISIC_2019_Training_Input"
DIAGNOSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
_DX = {"MEL": "mel", "NV": "nv"}


@dataclass(frozen=True)
class FileSource:
    """Reads pixels from a row's ``path`` (and optional ``mask_path``) column."""

    kind: str
    roots: tuple[str, ...]

    def read_image(self, row: pd.Series) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3); ``OSError`` naming the file if it cannot be decoded."""
        return read_rgb(row["path"])

    def read_mask(self, row: pd.Series) -> np.ndarray | None:
        """Boolean lesion mask, or None when the row has none."""
        path = row.get("mask_path")
        if not isinstance(path, (str, os.PathLike)):
            return None
        return read_mask(path)

    def describe(self) -> dict[str, Any]:
        """``{"kind": ..., "roots": [...]}``."""
        return {"kind": self.kind, "roots": list(self.roots)}


def load_isic2019(
    root: str | Path,
    *,
    exclude: pd.DataFrame | None = None,
    skip_missing: bool = False,
) -> Dataset:
    """Load ISIC 2019's melanoma and naevus training images, one per lesion.

    Parameters
    ----------
    root : path-like
        Folder holding ``ISIC_2019_Training_GroundTruth.csv`` (layout in the module doc).
    exclude : DataFrame, optional
        Rows (``image_id`` and ``lesion_id`` columns) that must not appear, typically
        ``ham.holdout``: any ISIC 2019 image with one of those image ids *or lesion ids* is
        dropped, so no view of a held-out lesion enters training.
    skip_missing : bool, default False
        Drop rows whose image file is absent instead of raising ``FileNotFoundError``.

    Returns
    -------
    Dataset
        ``name="isic2019"``; every row ``split="train"``; extra columns ``path``,
        ``mask_path`` (always empty), ``in_ham10000`` (a ``HAM_`` lesion id), ``age``,
        ``sex``, ``localization``. ``info`` counts what each step dropped.

    Raises
    ------
    FileNotFoundError
        No ground-truth file, or image files missing (without ``skip_missing``).
    ValueError
        The ground truth lacks ``image``/``MEL``/``NV`` columns, or a row has no or several
        diagnoses.
    """
    root = Path(root).expanduser()
    gt_path = root / GROUND_TRUTH_FILE
    if not gt_path.is_file():
        raise FileNotFoundError(
            f"ISIC 2019 ground truth not found: {gt_path} (expected {GROUND_TRUTH_FILE}, "
            f"optionally {METADATA_FILE}, and images in {IMAGES_DIR}/)"
        )
    gt = pd.read_csv(gt_path)
    needed = ["image", "MEL", "NV"]
    absent = [c for c in needed if c not in gt.columns]
    if absent:
        raise ValueError(f"{gt_path} lacks column(s) {absent}; found {list(gt.columns)}")
    onehot = [c for c in DIAGNOSES if c in gt.columns]
    per_row = gt[onehot].fillna(0).to_numpy(dtype=float)
    bad = np.flatnonzero(per_row.sum(axis=1) != 1)
    if len(bad):
        lines = [int(k) + 2 for k in bad[:5]]
        raise ValueError(f"{gt_path}: {len(bad)} row(s) without exactly one diagnosis "
                         f"(file lines {lines})")
    dx = np.asarray(onehot)[per_row.argmax(axis=1)]
    table = pd.DataFrame({"image_id": gt["image"].astype(str).str.strip(), "DX": dx})
    table = table[table["DX"].isin(list(_DX))].copy()
    table["dx"] = table["DX"].map(_DX)
    counts: dict[str, int] = {"ground_truth_rows": int(len(gt)), "mel_nv": int(len(table))}

    meta = _read_metadata(root / METADATA_FILE)
    table = table.drop(columns="DX").merge(meta, on="image_id", how="left")
    has_lesion = table["lesion_id"].notna()
    table["lesion_id"] = table["lesion_id"].where(has_lesion, table["image_id"])
    table = table.drop_duplicates(subset="lesion_id", keep="first")
    counts["one_per_lesion"] = int(len(table))

    if exclude is not None:
        for col in ("image_id", "lesion_id"):
            if col not in exclude.columns:
                raise ValueError(f"exclude must have an {col!r} column")
        held = table["image_id"].isin(set(exclude["image_id"])) | table["lesion_id"].isin(
            set(exclude["lesion_id"])
        )
        table = table[~held]
        counts["excluded_holdout"] = int(held.sum())

    images_dir = root / IMAGES_DIR if (root / IMAGES_DIR).is_dir() else root
    table["path"] = [str(images_dir / f"{i}.jpg") for i in table["image_id"]]
    missing = ~table["path"].map(os.path.isfile)
    if missing.any():
        shown = ", ".join(table.loc[missing, "image_id"].head(5))
        message = (f"{int(missing.sum())} of {len(table)} ISIC 2019 images have no file "
                   f"<image>.jpg in {images_dir}: {shown}")
        if not skip_missing:
            raise FileNotFoundError(message + "; pass skip_missing=True to drop them")
        warnings.warn(message + " (skipped)", UserWarning, stacklevel=2)
        table = table[~missing]
    counts["skipped_missing"] = int(missing.sum())
    counts["used"] = int(len(table))

    table = table.reset_index(drop=True)
    table["y"] = table["dx"].map(LABELS).astype(np.int64)
    table["split"] = "train"
    table["test_index"] = np.int64(-1)
    table["has_mask"] = False
    table["mask_path"] = pd.Series([None] * len(table), dtype=object)
    table["in_ham10000"] = table["lesion_id"].str.startswith("HAM_")
    columns = [*REQUIRED_COLUMNS, "path", "mask_path", "in_ham10000", "age", "sex",
               "localization"]
    info = {"root": str(root), "skip_missing": bool(skip_missing), "counts": counts,
            "by_dx": {k: int(v) for k, v in table["dx"].value_counts(sort=False).items()}}
    return Dataset(name="isic2019", table=table[columns],
                   source=FileSource("isic2019", (str(root),)), info=info)


def add_training_data(base: Dataset, extra: Dataset) -> Dataset:
    """``base`` with ``extra``'s images appended to its training pool.

    ``base``'s hold-out and pool are kept as they are; an ``extra`` image whose image id or
    lesion id is already in ``base`` (any split) is skipped, so HAM10000 images inside ISIC
    2019 are neither duplicated nor, for the hold-out, leaked. Both data sets must read
    pixels from a ``path`` column (HAM10000 and ISIC 2019 do).
    """
    for ds in (base, extra):
        if "path" not in ds.table.columns:
            raise ValueError(f"data set {ds.name!r} has no 'path' column to read images from")
    dup = extra.table["image_id"].isin(set(base.table["image_id"])) | extra.table[
        "lesion_id"
    ].isin(set(base.table["lesion_id"]))
    added = extra.table[~dup].copy()
    added["split"] = "train"
    added["test_index"] = np.int64(-1)
    base_table = base.table.reset_index(drop=True).copy()
    base_table["origin"] = base.name
    added["origin"] = extra.name
    table = pd.concat([base_table, added.reset_index(drop=True)], ignore_index=True)
    table = table.drop(columns=[c for c in ("in_ham10000",) if c in table.columns])
    roots = tuple(dict.fromkeys([*_roots(base), *_roots(extra)]))
    info = {
        "combined": [base.name, extra.name],
        "parts": [base.describe(), extra.describe()],
        "extra_added": int(len(added)),
        "extra_skipped_already_in_base": int(dup.sum()),
    }
    return Dataset(name=f"{base.name}+{extra.name}", table=table,
                   source=FileSource(f"{base.name}+{extra.name}", roots), info=info)


def _roots(ds: Dataset) -> list[str]:
    described = ds.source.describe()
    if "roots" in described:
        return list(described["roots"])
    return [described["root"]] if "root" in described else []


def _read_metadata(path: Path) -> pd.DataFrame:
    """``image_id, lesion_id, age, sex, localization`` from the metadata file, if any."""
    columns = ["image_id", "lesion_id", "age", "sex", "localization"]
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    meta = pd.read_csv(path)
    if "image" not in meta.columns:
        raise ValueError(f"{path} lacks the 'image' column; found {list(meta.columns)}")
    out = pd.DataFrame({"image_id": meta["image"].astype(str).str.strip()})
    lesion = meta["lesion_id"] if "lesion_id" in meta.columns else pd.Series(dtype=object)
    out["lesion_id"] = lesion.where(lesion.notna(), None).astype(object)
    out["age"] = meta.get("age_approx")
    out["sex"] = meta.get("sex")
    out["localization"] = meta.get("anatom_site_general")
    return out
