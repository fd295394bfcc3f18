"""Tests for the HAM10000 loader: the paper's protocol on real data, layouts on fake data."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dermviz.data.dataset import REQUIRED_COLUMNS, Dataset
from dermviz.data.ham10000 import (
    ENV_VAR,
    MASKS_DIR,
    METADATA_FILE,
    HamSource,
    MissingImagesError,
    find_ham10000,
    load_ham10000,
)
from dermviz.data.registry import open_dataset

# ---------------------------------------------------------------------------------------------
# An independent re-derivation of the paper's test set, following docs/protocol.md §3 literally.


def paper_split(csv: Path, n: int = 200, seed: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """docs/protocol.md §3 step by step with plain pandas: (test, training pool)."""
    df = pd.read_csv(csv)
    df = df.drop_duplicates(subset="lesion_id")  # keep='first' (the default)
    df = df[(df["dx"] == "mel") | (df["dx"] == "nv")]
    df = df.reset_index(drop=True)
    mel = df[df["dx"] == "mel"].sample(n=n, random_state=seed)
    df = df.drop(mel.index)
    df = df.reset_index(drop=True)
    nv = df[df["dx"] == "nv"].sample(n=n, random_state=seed)
    df = df.drop(nv.index)
    test = pd.concat([mel, nv]).reset_index(drop=True)
    return test, df


# ---------------------------------------------------------------------------------------------
# Real data (the shared 200x150 copy).


@pytest.fixture(scope="module")
def ham_root() -> Path:
    root = find_ham10000()
    if root is None:
        pytest.skip(
            "HAM10000 not found: set DERMVIZ_HAM10000 or provide ../shared/data/ham10000-200x150"
        )
    return root


@pytest.fixture(scope="module")
def ham(ham_root: Path) -> Dataset:
    return load_ham10000(ham_root)


@pytest.mark.realdata
def test_real_counts(ham: Dataset) -> None:
    t = ham.table
    assert len(t) == 6017
    assert t["dx"].value_counts().to_dict() == {"nv": 5403, "mel": 614}
    assert t["lesion_id"].is_unique and t["image_id"].is_unique
    assert set(REQUIRED_COLUMNS) <= set(t.columns)
    assert {"path", "mask_path", "dx_type", "age", "sex", "localization"} <= set(t.columns)
    assert (t["y"] == (t["dx"] == "mel").astype(int)).all()
    info = ham.info
    assert info["layout"] == "kaggle"
    assert info["skipped_missing"] == 0 and info["holdout_is_paper_exact"]
    assert info["protocol_counts"]["unique_lesions"] == 7470
    assert ham.describe()["counts"] == {
        "test/mel": 200, "test/nv": 200, "train/mel": 414, "train/nv": 5203,
    }  # fmt: skip


@pytest.mark.realdata
def test_real_holdout_layout(ham: Dataset) -> None:
    h = ham.holdout
    assert len(h) == 400
    assert h["test_index"].tolist() == list(range(400))
    assert (h["dx"].iloc[:200] == "mel").all() and (h["dx"].iloc[200:] == "nv").all()
    pool = ham.pool
    assert len(pool) == 5617
    assert pool["dx"].value_counts().to_dict() == {"nv": 5203, "mel": 414}
    assert (pool["test_index"] == -1).all()
    assert not set(pool["lesion_id"]) & set(h["lesion_id"])


@pytest.mark.realdata
def test_real_holdout_matches_paper_derivation(ham: Dataset, ham_root: Path) -> None:
    test, pool = paper_split(ham_root / METADATA_FILE)
    assert ham.holdout["image_id"].tolist() == test["image_id"].tolist()
    assert ham.pool["image_id"].tolist() == pool["image_id"].tolist()  # same order too

    # And with numpy alone: DataFrame.sample(n, random_state=s) is
    # RandomState(s).choice(len, n, replace=False) over the class-filtered rows.
    meta = pd.read_csv(ham_root / METADATA_FILE)
    uniq = meta.drop_duplicates(subset="lesion_id")
    mel_ids = uniq.loc[uniq["dx"] == "mel", "image_id"].to_numpy()
    nv_ids = uniq.loc[uniq["dx"] == "nv", "image_id"].to_numpy()
    pick_mel = np.random.RandomState(200).choice(len(mel_ids), 200, replace=False)
    pick_nv = np.random.RandomState(200).choice(len(nv_ids), 200, replace=False)
    expected = [*mel_ids[pick_mel], *nv_ids[pick_nv]]
    assert ham.holdout["image_id"].tolist() == expected
    # Pinned regression values (test ids 0, 57, 200, 399) against silent RNG/order changes.
    assert ham.holdout["image_id"].iloc[[0, 57, 200, 399]].tolist() == [
        "ISIC_0024806", "ISIC_0033387", "ISIC_0028672", "ISIC_0029112",
    ]  # fmt: skip


@pytest.mark.realdata
def test_real_first_row_per_lesion_kept(ham: Dataset, ham_root: Path) -> None:
    meta = pd.read_csv(ham_root / METADATA_FILE)
    first = meta.groupby("lesion_id", sort=False)["image_id"].first()
    t = ham.table
    assert (first.loc[t["lesion_id"]].to_numpy() == t["image_id"].to_numpy()).all()
    # Dedupe-then-filter equals filter-then-dedupe here: no lesion spans two diagnoses.
    assert (meta.groupby("lesion_id")["dx"].nunique() == 1).all()


@pytest.mark.realdata
def test_real_images_and_masks(ham: Dataset) -> None:
    ids = [*ham.holdout.index[[0, 399]], *ham.pool.index[:2]]
    native = ham.source.read_image(ham.table.loc[ids[0]])
    assert native.dtype == np.uint8 and native.ndim == 3 and native.shape[2] == 3
    imgs = ham.load_images(ids, size=64)
    assert imgs.dtype == np.uint8 and imgs.shape == (4, 64, 64, 3)
    assert imgs.std() > 5
    assert ham.table["has_mask"].all()
    masks = ham.load_masks(ids, size=64)
    assert masks.dtype == bool and masks.shape == (4, 64, 64)
    frac = masks.mean(axis=(1, 2))
    assert ((frac > 0.01) & (frac < 0.99)).all(), frac
    assert ham.source.describe() == {"kind": "ham10000", "root": str(ham.info["root"])}


# ---------------------------------------------------------------------------------------------
# Fake data in tmp_path.

# (lesion_id, image_id, dx, has_file) in CSV order. Duplicated lesions keep their *first* row,
# which is deliberately not the smallest image id. HAM_X01's first row is bkl, so deduplicating
# first (the paper's order) drops the lesion although its second image is an nv with a file.
_ROWS: list[tuple[str, str, str, bool]] = [
    ("HAM_B00", "ISIC_0000900", "bkl", False),
    ("HAM_B00", "ISIC_0000901", "bkl", False),
    ("HAM_X01", "ISIC_0000950", "bkl", False),
    ("HAM_M01", "ISIC_0000105", "mel", True),
    ("HAM_N01", "ISIC_0000201", "nv", True),
    ("HAM_M01", "ISIC_0000101", "mel", True),
    ("HAM_N02", "ISIC_0000206", "nv", True),
    ("HAM_X01", "ISIC_0000951", "nv", True),
    ("HAM_M02", "ISIC_0000102", "mel", True),
    ("HAM_N02", "ISIC_0000202", "nv", True),
    ("HAM_M03", "ISIC_0000103", "mel", True),
    ("HAM_D01", "ISIC_0000960", "df", False),
    ("HAM_N03", "ISIC_0000203", "nv", True),
    ("HAM_N04", "ISIC_0000204", "nv", True),
    ("HAM_M04", "ISIC_0000104", "mel", True),
    ("HAM_N05", "ISIC_0000205", "nv", True),
    ("HAM_M05", "ISIC_0000106", "mel", True),
    ("HAM_N06", "ISIC_0000207", "nv", True),
    ("HAM_M06", "ISIC_0000107", "mel", True),
    ("HAM_N07", "ISIC_0000208", "nv", True),
    ("HAM_M07", "ISIC_0000108", "mel", True),
    ("HAM_N08", "ISIC_0000209", "nv", True),
    ("HAM_A01", "ISIC_0000970", "akiec", False),
    ("HAM_N09", "ISIC_0000210", "nv", True),
    ("HAM_M08", "ISIC_0000109", "mel", True),
    ("HAM_N10", "ISIC_0000211", "nv", True),
    ("HAM_N11", "ISIC_0000212", "nv", True),
    ("HAM_N12", "ISIC_0000213", "nv", True),
    ("HAM_N12", "ISIC_0000214", "nv", True),
]
_MISSING_ROWS = [
    ("HAM_M09", "ISIC_0000110", "mel", False),
    ("HAM_N13", "ISIC_0000215", "nv", False),
]
_FIRST_IMAGE: dict[str, str] = {}
for _lesion, _image, _dx, _ in _ROWS:
    _FIRST_IMAGE.setdefault(_lesion, _image)
_KEPT = [
    image
    for lesion, image in _FIRST_IMAGE.items()
    if lesion not in ("HAM_B00", "HAM_X01", "HAM_D01", "HAM_A01")
]


def make_fake(
    root: Path, *, layout: str = "kaggle", missing: bool = False, masks: bool = True
) -> Path:
    """Write a tiny HAM10000 copy: metadata CSV, images (jpg and png), some masks."""
    root.mkdir(parents=True, exist_ok=True)
    rows = _ROWS + (_MISSING_ROWS if missing else [])
    # Put the missing rows mid-file so they would shift the draw if not handled.
    if missing:
        rows = _ROWS[:10] + _MISSING_ROWS + _ROWS[10:]
    meta = pd.DataFrame(
        [
            {
                "lesion_id": lesion, "image_id": image, "dx": dx, "dx_type": "histo",
                "age": 40.0 + k, "sex": "female" if k % 2 else "male", "localization": "back",
            }
            for k, (lesion, image, dx, _) in enumerate(rows)
        ]
    )  # fmt: skip
    meta.to_csv(root / METADATA_FILE, index=False)
    rng = np.random.default_rng(0)
    for k, (_, image, _, has_file) in enumerate(rows):
        if not has_file:
            continue
        num = int(image.split("_")[1])
        if layout == "kaggle":
            folder = root / ("HAM10000_images_part_1" if num < 200 else "HAM10000_images_part_2")
        elif layout == "flat-images":
            folder = root / "images"
        else:
            folder = root
        folder.mkdir(exist_ok=True)
        ext = ".png" if k % 3 == 0 else ".jpg"
        pixels = rng.integers(0, 256, size=(15, 20, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"{image}{ext}"), pixels)
        if masks and k % 2 == 0:
            mdir = root / MASKS_DIR
            mdir.mkdir(exist_ok=True)
            m = np.zeros((45, 60), np.uint8)
            m[10:30, 15:45] = 255
            assert cv2.imwrite(str(mdir / f"{image}_segmentation.png"), m)
    return root


@pytest.mark.parametrize("layout", ["kaggle", "flat", "flat-images"])
def test_fake_layouts_load(tmp_path: Path, layout: str) -> None:
    root = make_fake(tmp_path / "ham", layout=layout)
    ds = load_ham10000(root, n_test_per_class=3)
    assert ds.name == "ham10000"
    assert ds.info["layout"] == ("kaggle" if layout == "kaggle" else "flat")
    t = ds.table
    # Other classes ignored; HAM_X01 dropped (its first row is bkl); one image per lesion.
    assert sorted(t["image_id"]) == sorted(_KEPT)
    assert t["dx"].value_counts().to_dict() == {"nv": 12, "mel": 8}
    assert t["lesion_id"].is_unique
    assert all(
        _FIRST_IMAGE[les] == img for les, img in zip(t["lesion_id"], t["image_id"], strict=True)
    )
    assert "ISIC_0000101" not in t.index and "ISIC_0000105" in t.index  # first row, not min id
    imgs = ds.load_images(t.index[:5], size=16)
    assert imgs.shape == (5, 16, 16, 3) and imgs.dtype == np.uint8
    assert t["path"].map(lambda p: Path(p).is_file()).all()


def test_fake_holdout_follows_protocol(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham")
    ds = load_ham10000(root, n_test_per_class=3, test_random_state=7)
    test, pool = paper_split(root / METADATA_FILE, n=3, seed=7)
    h = ds.holdout
    assert h["image_id"].tolist() == test["image_id"].tolist()
    assert h["test_index"].tolist() == list(range(6))
    assert h["dx"].tolist() == ["mel"] * 3 + ["nv"] * 3
    assert ds.pool["image_id"].tolist() == pool["image_id"].tolist()
    assert (ds.pool["test_index"] == -1).all() and (ds.pool["split"] == "train").all()
    assert ds.info["protocol_counts"]["pool_by_dx"] == {"nv": 9, "mel": 5}
    assert not ds.info["holdout_is_paper_exact"]  # non-default parameters

    nv_first = load_ham10000(root, n_test_per_class=2, classes=("nv", "mel"))
    assert nv_first.holdout["dx"].tolist() == ["nv", "nv", "mel", "mel"]
    only_mel = load_ham10000(root, n_test_per_class=0, classes=("mel",))
    assert len(only_mel.holdout) == 0 and set(only_mel.table["dx"]) == {"mel"}
    with pytest.raises(ValueError, match="only 8 available"):
        load_ham10000(root, n_test_per_class=9)
    with pytest.raises(ValueError, match="unsupported classes"):
        load_ham10000(root, classes=("mel", "bkl"))


def test_fake_missing_images_error(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham", missing=True)
    with pytest.raises(MissingImagesError) as exc:
        load_ham10000(root, n_test_per_class=3)
    assert isinstance(exc.value, ValueError)
    assert exc.value.missing == ["ISIC_0000110", "ISIC_0000215"]
    msg = str(exc.value)
    assert "2 of 22" in msg and "ISIC_0000110" in msg and "ISIC_0000215" in msg
    assert "skip_missing=True" in msg and "--skip-missing" in msg


def test_fake_skip_missing(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham", missing=True)
    with pytest.warns(UserWarning, match="skipped 2 HAM10000 image"):
        ds = load_ham10000(root, n_test_per_class=3, skip_missing=True)
    assert ds.info["skipped_missing"] == 2
    assert ds.info["skipped_missing_ids"] == ["ISIC_0000110", "ISIC_0000215"]
    assert not ds.info["holdout_is_paper_exact"]
    assert sorted(ds.table["image_id"]) == sorted(_KEPT)
    assert len(ds.holdout) == 6 and len(ds.pool) == 14


def test_fake_missing_metadata_and_columns(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="HAM10000_metadata.csv.*HAM10000_images_part_1"):
        load_ham10000(tmp_path)
    pd.DataFrame({"lesion_id": ["HAM_1"], "image": ["ISIC_1"], "dx": ["nv"]}).to_csv(
        tmp_path / METADATA_FILE, index=False
    )
    with pytest.raises(ValueError, match="lacks required column.*image_id"):
        load_ham10000(tmp_path)
    pd.DataFrame(
        {"lesion_id": ["HAM_1", None], "image_id": ["ISIC_1", "ISIC_2"], "dx": "nv"}
    ).to_csv(tmp_path / METADATA_FILE, index=False)
    with pytest.raises(ValueError, match=r"1 row\(s\) with an empty.*\[3\]"):
        load_ham10000(tmp_path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "the file is empty"),
        (b"lesion_id,image_id,dx\n", "header but no rows"),
        (bytes(range(256)) * 40, "not a readable HAM10000 metadata CSV"),
        (b'lesion_id,image_id,dx\nHAM_1,"ISIC_1,nv\n', "not a readable HAM10000 metadata CSV"),
        (b"\x00\x01\x02,\x03\n\x04,\x05\n", "lacks required column"),
    ],
    ids=["empty", "header-only", "binary", "unclosed-quote", "no-columns"],
)
def test_fake_empty_or_malformed_metadata_is_named(
    tmp_path: Path, content: bytes, words: str
) -> None:
    root = make_fake(tmp_path / "ham")
    (root / METADATA_FILE).write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        load_ham10000(root, n_test_per_class=1)
    assert str(root / METADATA_FILE) in str(info.value)
    assert "No columns to parse" not in str(info.value)


def test_a_moved_folder_names_the_old_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_fake(tmp_path / "ham")
    ds = load_ham10000(root, n_test_per_class=1)
    description = ds.describe()
    moved = root.rename(tmp_path / "moved")
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        open_dataset(description)
    assert str(root) in str(info.value) and ENV_VAR in str(info.value)
    again = open_dataset(description, ham10000_root=moved)
    assert again.holdout["image_id"].tolist() == ds.holdout["image_id"].tolist()
    monkeypatch.setenv(ENV_VAR, str(moved))
    again = open_dataset(description)
    assert again.holdout["image_id"].tolist() == ds.holdout["image_id"].tolist()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere has no"):
        open_dataset(description)


def test_fake_no_images_at_all(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham")
    for p in root.rglob("ISIC_*"):
        p.unlink()
    with pytest.raises(MissingImagesError, match="No image files were found at all"):
        load_ham10000(root, n_test_per_class=1)


def test_fake_masks(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham")
    ds = load_ham10000(root, n_test_per_class=2)
    t = ds.table
    with_mask = t.index[t["has_mask"]]
    without = t.index[~t["has_mask"]]
    assert len(with_mask) > 0 and len(without) > 0
    assert t.loc[without, "mask_path"].map(lambda p: p is None).all()
    masks = ds.load_masks(with_mask[:3], size=16)
    assert masks.dtype == bool and 0.1 < masks.mean() < 0.6
    assert ds.source.read_mask(t.loc[without[0]]) is None
    with pytest.raises(ValueError, match="no lesion mask"):
        ds.load_masks([without[0]], size=16)

    # Masks elsewhere, named plainly, via masks_dir; no masks folder -> none.
    flat = make_fake(tmp_path / "flat", layout="flat", masks=False)
    assert not load_ham10000(flat, n_test_per_class=1).table["has_mask"].any()
    other = tmp_path / "masks"
    other.mkdir()
    first = t.index[0]
    cv2.imwrite(str(other / f"{first}.png"), np.full((8, 8), 255, np.uint8))
    ds2 = load_ham10000(flat, n_test_per_class=1, masks_dir=other)
    assert ds2.table["has_mask"].sum() == 1 and ds2.table.loc[first, "has_mask"]
    with pytest.raises(FileNotFoundError, match="masks_dir"):
        load_ham10000(flat, n_test_per_class=1, masks_dir=tmp_path / "nope")


def test_fake_corrupt_image_fails_at_read_time(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham", layout="flat")
    ds = load_ham10000(root, n_test_per_class=1)
    row = ds.table.iloc[0]
    Path(row["path"]).write_bytes(b"not an image")
    with pytest.raises(OSError, match=Path(row["path"]).name):
        ds.load_images([row["image_id"]], size=16)


def test_fake_unreadable_image_is_named_at_load(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham", layout="flat")
    victim = load_ham10000(root, n_test_per_class=1).table.iloc[0]
    Path(victim["path"]).write_bytes(b"not an image")
    with pytest.raises(MissingImagesError, match="cannot be read") as info:
        load_ham10000(root, n_test_per_class=1)
    assert info.value.missing == [victim["image_id"]]
    with pytest.warns(UserWarning, match="1 unreadable"):
        ds = load_ham10000(root, n_test_per_class=1, skip_missing=True)
    assert victim["image_id"] not in ds.table.index
    assert ds.info["skipped_missing"] == 1


def test_source_describe_and_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_fake(tmp_path / "ham")
    ds = load_ham10000(root, n_test_per_class=1)
    assert isinstance(ds.source, HamSource)
    assert ds.source.describe() == {"kind": "ham10000", "root": str(root)}
    assert ds.describe()["source"]["kind"] == "ham10000"

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_ham10000([tmp_path / "empty"]) is None
    assert find_ham10000([tmp_path / "empty", root]) == root
    monkeypatch.setenv(ENV_VAR, str(root))
    assert find_ham10000([tmp_path / "empty"]) == root


# ---------------------------------------------------------------------------------------------
# The histo-confirmed hold-out (docs/confounders.md).


def test_fake_histo_holdout_draws_only_histo_rows(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham")
    meta = pd.read_csv(root / METADATA_FILE)
    # Every other naevus becomes a follow-up image, as most of HAM10000's are.
    nv_rows = np.flatnonzero(meta["dx"] == "nv")
    meta.loc[nv_rows[::2], "dx_type"] = "follow_up"
    meta.to_csv(root / METADATA_FILE, index=False)

    paper = load_ham10000(root, n_test_per_class=3, test_random_state=7)
    histo = load_ham10000(root, n_test_per_class=3, test_random_state=7, holdout="histo")
    h = histo.holdout
    assert (h["dx_type"] == "histo").all()
    assert h["dx"].tolist() == ["mel"] * 3 + ["nv"] * 3
    assert len(histo.table) == len(paper.table)  # same images, another split
    assert not set(h["lesion_id"]) & set(histo.pool["lesion_id"])
    assert (histo.pool["dx_type"] == "follow_up").any()  # the rest stays in the pool
    # The paper's recipe is the default and records itself as such.
    assert paper.info["holdout"] == "paper" and "dx_type" not in paper.info["protocol"]
    assert paper.source.describe() == {"kind": "ham10000", "root": str(root)}
    assert histo.info["holdout"] == "histo" and "dx_type == 'histo'" in histo.info["protocol"]
    assert histo.source.describe()["holdout"] == "histo"
    assert not histo.info["holdout_is_paper_exact"]
    # A suite's saved description rebuilds the same hold-out.
    rebuilt = open_dataset(histo.describe())
    assert rebuilt.holdout["image_id"].tolist() == h["image_id"].tolist()
    assert open_dataset(paper.describe()).holdout["image_id"].tolist() == (
        paper.holdout["image_id"].tolist())
    n_histo_nv = int(((meta["dx"] == "nv") & (meta["dx_type"] == "histo")).sum())
    with pytest.raises(ValueError, match="with dx_type 'histo': only"):
        load_ham10000(root, n_test_per_class=n_histo_nv + 1, holdout="histo")
    with pytest.raises(ValueError, match="holdout must be one of"):
        load_ham10000(root, holdout="consensus")


def test_fake_histo_holdout_needs_dx_type(tmp_path: Path) -> None:
    root = make_fake(tmp_path / "ham")
    meta = pd.read_csv(root / METADATA_FILE).drop(columns="dx_type")
    meta.to_csv(root / METADATA_FILE, index=False)
    assert len(load_ham10000(root, n_test_per_class=3).holdout) == 6
    with pytest.raises(ValueError, match="no dx_type column"):
        load_ham10000(root, n_test_per_class=3, holdout="histo")


@pytest.mark.realdata
def test_real_histo_holdout_counts(ham_root: Path) -> None:
    histo = load_ham10000(ham_root, holdout="histo")
    h = histo.holdout
    assert len(h) == 400 and (h["dx_type"] == "histo").all()
    assert h["dx"].value_counts().to_dict() == {"mel": 200, "nv": 200}
    assert len(histo.table) == 6017 and len(histo.pool) == 5617
    assert histo.pool["dx"].value_counts().to_dict() == {"nv": 5203, "mel": 414}
    # Of the pool's histo naevi, the 200 drawn leave 1,167 (1,367 histo naevus lesions).
    pool = histo.pool
    assert int(((pool["dx"] == "nv") & (pool["dx_type"] == "histo")).sum()) == 1167
