"""ISIC 2019 loader on a small fixture in that layout, and its union with HAM10000."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dermviz.data.dataset import REQUIRED_COLUMNS, Dataset
from dermviz.data.isic2019 import (
    GROUND_TRUTH_FILE,
    IMAGES_DIR,
    METADATA_FILE,
    FileSource,
    add_training_data,
    load_isic2019,
)
from dermviz.data.registry import open_dataset

# image, diagnosis, lesion_id ('' = none). HAM_ ids stand for HAM10000 lesions inside ISIC 2019.
ROWS = [
    ("ISIC_0000000", "NV", ""),
    ("ISIC_0000001", "MEL", ""),
    ("ISIC_0000002_downsampled", "BCC", ""),
    ("ISIC_0024306", "NV", "HAM_0000118"),  # a HAM10000 hold-out image
    ("ISIC_0024307", "NV", "HAM_0000118"),  # another view of the same held-out lesion
    ("ISIC_0024310", "MEL", "HAM_0000200"),  # a HAM10000 pool image
    ("BCN_0000001", "MEL", "BCN_0000500"),
    ("BCN_0000002", "MEL", "BCN_0000500"),  # second image of one lesion: dropped
    ("BCN_0000003", "UNK", "BCN_0000600"),
    ("ISIC_0060000", "NV", "IL_0000001"),
]


def make_isic(root: Path, rows=ROWS, *, with_metadata: bool = True) -> Path:
    (root / IMAGES_DIR).mkdir(parents=True)
    cols = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    gt = pd.DataFrame([{"image": i, **{c: float(c == d) for c in cols}} for i, d, _ in rows])
    gt.to_csv(root / GROUND_TRUTH_FILE, index=False)
    if with_metadata:
        meta = pd.DataFrame({
            "image": [i for i, _, _ in rows],
            "age_approx": [40.0] * len(rows),
            "anatom_site_general": ["anterior torso"] * len(rows),
            "lesion_id": [lesion or None for _, _, lesion in rows],
            "sex": ["female"] * len(rows),
        })
        meta.to_csv(root / METADATA_FILE, index=False)
    rng = np.random.default_rng(0)
    for image_id, _, _ in rows:
        img = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        cv2.imwrite(str(root / IMAGES_DIR / f"{image_id}.jpg"), img)
    return root


def ham_like(root: Path) -> Dataset:
    """A stand-in for a loaded HAM10000 set: one hold-out image, one pool image."""
    table = pd.DataFrame({
        "image_id": ["ISIC_0024306", "ISIC_0024310"],
        "lesion_id": ["HAM_0000118", "HAM_0000200"],
        "dx": ["nv", "mel"], "y": [0, 1], "split": ["test", "train"], "test_index": [0, -1],
        "has_mask": [False, False],
        "path": [str(root / IMAGES_DIR / "ISIC_0024306.jpg"),
                 str(root / IMAGES_DIR / "ISIC_0024310.jpg")],
        "mask_path": [None, None],
    })
    return Dataset(name="ham10000", table=table, source=FileSource("ham10000", (str(root),)))


def test_keeps_mel_nv_one_image_per_lesion(tmp_path: Path) -> None:
    ds = load_isic2019(make_isic(tmp_path))
    ids = list(ds.table["image_id"])
    assert ids == ["ISIC_0000000", "ISIC_0000001", "ISIC_0024306", "ISIC_0024310",
                   "BCN_0000001", "ISIC_0060000"]
    assert set(REQUIRED_COLUMNS) <= set(ds.table.columns)
    assert (ds.table["split"] == "train").all()
    assert list(ds.table["y"]) == [0, 1, 0, 1, 1, 0]
    # images without a lesion id stand for their own lesion
    assert ds.table.loc["ISIC_0000000", "lesion_id"] == "ISIC_0000000"
    assert list(ds.table["in_ham10000"]) == [False, False, True, True, False, False]
    assert ds.info["counts"] == {"ground_truth_rows": 10, "mel_nv": 8, "one_per_lesion": 6,
                                 "skipped_missing": 0, "used": 6}
    img = ds.load_images(["BCN_0000001"], size=16)
    assert img.shape == (1, 16, 16, 3) and img.dtype == np.uint8


def test_holdout_lesions_never_leak(tmp_path: Path) -> None:
    root = make_isic(tmp_path)
    ham = ham_like(root)
    ds = load_isic2019(root, exclude=ham.holdout)
    # both views of the held-out lesion are gone, not just the held-out image
    assert not ds.table["lesion_id"].eq("HAM_0000118").any()
    assert ds.info["counts"]["excluded_holdout"] == 1  # one row left after one-per-lesion
    combined = add_training_data(ham, ds)
    assert list(combined.holdout["image_id"]) == ["ISIC_0024306"]
    pool_ids = list(combined.pool["image_id"])
    assert pool_ids.count("ISIC_0024310") == 1  # the HAM pool image is not added twice
    assert "ISIC_0024306" not in pool_ids and "ISIC_0024307" not in pool_ids
    assert combined.info["extra_added"] == 4
    assert combined.info["extra_skipped_already_in_base"] == 1
    assert combined.load_images(["BCN_0000001", "ISIC_0024306"], size=8).shape == (2, 8, 8, 3)


def test_rebuilt_from_description(tmp_path: Path) -> None:
    ds = load_isic2019(make_isic(tmp_path))
    again = open_dataset(ds.describe())
    assert list(again.table["image_id"]) == list(ds.table["image_id"])


def test_without_metadata_every_image_is_its_own_lesion(tmp_path: Path) -> None:
    ds = load_isic2019(make_isic(tmp_path, with_metadata=False))
    assert len(ds) == 8
    assert (ds.table["lesion_id"] == ds.table["image_id"]).all()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=GROUND_TRUTH_FILE):
        load_isic2019(tmp_path)
    root = make_isic(tmp_path / "a")
    (root / IMAGES_DIR / "BCN_0000001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="BCN_0000001"):
        load_isic2019(root)
    with pytest.warns(UserWarning, match="skipped"):
        ds = load_isic2019(root, skip_missing=True)
    assert "BCN_0000001" not in ds.table.index
    bad = make_isic(tmp_path / "b")
    gt = pd.read_csv(bad / GROUND_TRUTH_FILE)
    gt.loc[0, "MEL"] = 1.0  # two diagnoses on one row
    gt.to_csv(bad / GROUND_TRUTH_FILE, index=False)
    with pytest.raises(ValueError, match="exactly one diagnosis"):
        load_isic2019(bad)
    with pytest.raises(ValueError, match="lesion_id"):
        load_isic2019(make_isic(tmp_path / "c"), exclude=pd.DataFrame({"image_id": []}))
