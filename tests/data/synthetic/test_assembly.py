"""The synthetic data set (dermviz.data.synthetic.assembly): table, splits, labels, flags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dermviz.data.dataset import REQUIRED_COLUMNS, Dataset
from dermviz.data.synthetic import (
    ARTEFACT_NAMES,
    ArtefactSpec,
    SyntheticConfig,
    SyntheticSource,
    make_synthetic,
    render_lesion,
)

SMALL = {"n_train": 24, "n_test": 8}


# --------------------------------------------------------------------------- determinism


def test_same_config_gives_identical_table_and_pixels() -> None:
    a = make_synthetic(SyntheticConfig(**SMALL, seed=3))
    b = make_synthetic(**SMALL, seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    ids = list(a.table.index[::5])
    np.testing.assert_array_equal(a.load_images(ids, size=64), b.load_images(ids, size=64))
    row = a.table.iloc[0]
    np.testing.assert_array_equal(a.source.read_image(row), b.source.read_image(row))
    np.testing.assert_array_equal(a.source.read_mask(row), b.source.read_mask(row))


def test_different_seed_gives_different_pixels() -> None:
    a = make_synthetic(**SMALL, seed=0)
    b = make_synthetic(**SMALL, seed=1)
    assert not np.array_equal(a.table["seed"].to_numpy(), b.table["seed"].to_numpy())
    ids = list(a.table.index[:4])
    assert not np.array_equal(a.load_images(ids, size=32), b.load_images(ids, size=32))
    img0, _ = render_lesion(seed=0, label="nv", difficulty=0.5)
    img1, _ = render_lesion(seed=1, label="nv", difficulty=0.5)
    assert not np.array_equal(img0, img1)


def test_holdout_does_not_depend_on_pool_size() -> None:
    a = make_synthetic(n_train=10, n_test=6, seed=5)
    b = make_synthetic(n_train=40, n_test=6, mel_fraction=0.2, seed=5)
    pd.testing.assert_frame_equal(a.holdout, b.holdout)


# --------------------------------------------------------------------------- table contract


def test_table_satisfies_dataset_contract() -> None:
    ds = make_synthetic(n_train=30, n_test=10, mel_fraction=0.3, seed=2)
    assert isinstance(ds, Dataset)
    assert ds.name == "synthetic"
    t = ds.table
    assert all(c in t.columns for c in REQUIRED_COLUMNS)
    assert {"seed", "difficulty", "atypia", *ARTEFACT_NAMES} <= set(t.columns)
    assert len(ds) == 40
    assert t["image_id"].is_unique and t["lesion_id"].is_unique
    assert list(t["image_id"][:3]) == ["syn_000000", "syn_000001", "syn_000002"]
    assert list(t["lesion_id"][:2]) == ["synles_000000", "synles_000001"]
    assert t["image_id"].str.fullmatch(r"syn_\d{6}").all()
    assert t["has_mask"].all()
    assert set(t["dx"]) == {"mel", "nv"}
    assert ((t["dx"] == "mel") == (t["y"] == 1)).all()
    assert t["seed"].between(0, 2**53).all()
    for name in ARTEFACT_NAMES:
        assert t[name].dtype == bool

    counts = t.groupby(["split", "dx"]).size().to_dict()
    assert counts == {
        ("test", "mel"): 5,
        ("test", "nv"): 5,
        ("train", "mel"): 9,
        ("train", "nv"): 21,
    }

    hold = ds.holdout
    assert list(hold["test_index"]) == list(range(10))
    assert list(hold["dx"]) == ["mel"] * 5 + ["nv"] * 5
    assert (ds.pool["test_index"] == -1).all()
    # The hold-out ids are syn_<test_index>.
    assert list(hold["image_id"]) == [f"syn_{i:06d}" for i in range(10)]


def test_describe_is_json_and_rebuilds_config() -> None:
    config = SyntheticConfig(
        **SMALL,
        difficulty=0.25,
        native_size=(96, 72),
        artefacts_train={"ink": ArtefactSpec(p_mel=0.8, p_nv=0.1)},
        artefacts_test={"ruler": (0.5, 0.5)},
    )
    ds = make_synthetic(config)
    described = json.loads(json.dumps(ds.describe()))
    assert described["name"] == "synthetic"
    assert SyntheticConfig.from_dict(described["source"]["config"]) == config
    assert isinstance(ds.source, SyntheticSource)


def test_empty_pool_and_holdout() -> None:
    ds = make_synthetic(n_train=0, n_test=0)
    assert len(ds) == 0
    assert all(c in ds.table.columns for c in REQUIRED_COLUMNS)


def test_difficulty_mixes_the_classes() -> None:
    ds = make_synthetic(n_train=400, n_test=0, difficulty=1.0)
    by_class = ds.table.groupby("dx")["atypia"].mean()
    assert abs(by_class["mel"] - by_class["nv"]) < 0.1
    ds = make_synthetic(n_train=400, n_test=0, difficulty=0.5)
    t = ds.table
    accuracy = ((t["atypia"] > 0.45) == (t["y"] == 1)).mean()
    assert 0.8 < accuracy < 0.95


def test_load_images_and_masks() -> None:
    ds = make_synthetic(**SMALL)
    ids = list(ds.table.index[:5])
    images = ds.load_images(ids, size=64)
    assert images.dtype == np.uint8 and images.shape == (5, 64, 64, 3)
    masks = ds.load_masks(ids, size=64)
    assert masks.dtype == bool and masks.shape == (5, 64, 64)
    assert masks.any(axis=(1, 2)).all()
    batches = list(ds.iter_batches(ids, size=32, batch_size=2))
    assert [len(b[0]) for b in batches] == [2, 2, 1]


# --------------------------------------------------------------------------- artefacts


def test_artefact_rates_follow_split_specs() -> None:
    ds = make_synthetic(
        n_train=60,
        n_test=40,
        artefacts_train={"ink": ArtefactSpec(p_mel=1.0, p_nv=0.0)},
        artefacts_test={"ink": ArtefactSpec(p_mel=0.0, p_nv=1.0), "ruler": (1.0, 1.0)},
    )
    pool, hold = ds.pool, ds.holdout
    assert pool.loc[pool["dx"] == "mel", "ink"].all()
    assert not pool.loc[pool["dx"] == "nv", "ink"].any()
    assert not pool["ruler"].any()
    assert not hold.loc[hold["dx"] == "mel", "ink"].any()
    assert hold.loc[hold["dx"] == "nv", "ink"].all()
    assert hold["ruler"].all()
    counts = ds.describe()["artefact_counts"]
    assert counts["train/mel/ink"] == 30 and counts["test/nv/ink"] == 20


def test_shared_artefact_spec_and_intermediate_rate() -> None:
    ds = make_synthetic(
        n_train=400,
        n_test=0,
        artefacts={"ruler": ArtefactSpec(p_mel=0.5, p_nv=0.1)},
        artefacts_train={"ink": (0.2, 0.2)},
    )
    rates = ds.table.groupby("dx")["ruler"].mean()
    assert 0.38 < rates["mel"] < 0.62
    assert rates["nv"] < 0.2
    assert 0.12 < ds.table["ink"].mean() < 0.28


def test_no_artefacts_by_default() -> None:
    ds = make_synthetic(**SMALL)
    assert not ds.table[list(ARTEFACT_NAMES)].any().any()


def test_source_reads_flags_from_row() -> None:
    ds = make_synthetic(n_train=4, n_test=0, artefacts={"ink": (1.0, 1.0)})
    row = ds.table.iloc[0]
    marked = ds.source.read_image(row)
    plain = ds.source.read_image(_unflag(row))
    assert not np.array_equal(marked, plain)
    np.testing.assert_array_equal(ds.source.read_mask(row), ds.source.read_mask(_unflag(row)))


def _unflag(row: pd.Series) -> pd.Series:
    out = row.copy()
    for name in ARTEFACT_NAMES:
        out[name] = False
    return out


def test_image_and_mask_of_a_row_render_once() -> None:
    from dermviz.data.synthetic import renderer

    ds = make_synthetic(n_train=2, n_test=0, seed=11)
    row = ds.table.iloc[1]
    renderer.render_cached.cache_clear()
    image = ds.source.read_image(row)
    mask = ds.source.read_mask(row)
    info = renderer.render_cached.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    image[:] = 0  # callers get copies, the cache is not corrupted
    assert ds.source.read_image(row).any()
    assert mask.shape == image.shape[:2]
